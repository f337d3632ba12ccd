// Package report builds biopipe's run report, laid out as a paper (Title, Abstract,
// Introduction, Data, Methods, Results, Discussion, Reproducibility), and renders it as
// Markdown and as one self-contained HTML file (figures embedded as data: URIs, inline CSS,
// no external references). Build gathers the content from a run's artifacts; Regenerate
// rebuilds the report of a finished run folder.
package report

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html"
	"strings"
)

// Doc is a report: a title and sections of blocks.
type Doc struct {
	Title    string
	Subtitle string
	Sections []*Section
}

// Section is a titled list of blocks.
type Section struct {
	ID     string // anchor
	Title  string
	Blocks []Block
}

// Add appends blocks to the section.
func (s *Section) Add(b ...Block) { s.Blocks = append(s.Blocks, b...) }

// Block is a piece of a section: *Para, *Table, *Figure, *Code, *Note, *List, *Heading.
type Block interface{ block() }

// Span is a run of text in a paragraph. Flag marks a number the grounding check could not
// match to the run's results; Note explains it.
type Span struct {
	Text string
	Flag bool
	Note string
}

// Para is a paragraph of spans.
type Para struct{ Spans []Span }

// Text returns a paragraph of plain text.
func Text(format string, a ...any) *Para {
	return &Para{Spans: []Span{{Text: fmt.Sprintf(format, a...)}}}
}

// Heading is a sub-heading inside a section.
type Heading struct{ Text string }

// Table is a table with a caption.
type Table struct {
	Caption string
	Header  []string
	Rows    [][]string
}

// Figure is an embedded PNG.
type Figure struct {
	File    string // file name beside report.md
	Title   string
	Caption string
	PNG     []byte
}

// Code is preformatted text.
type Code struct {
	Lang string
	Text string
}

// Note is a visible call-out (warnings such as an LLM failure).
type Note struct{ Text string }

// List is a bulleted list.
type List struct{ Items []string }

// Details is a collapsible block (HTML) / a plain sub-section (Markdown).
type Details struct {
	Summary string
	Blocks  []Block
}

func (*Para) block()    {}
func (*Heading) block() {}
func (*Table) block()   {}
func (*Figure) block()  {}
func (*Code) block()    {}
func (*Note) block()    {}
func (*List) block()    {}
func (*Details) block() {}

// Figures returns every figure of the document in order.
func (d *Doc) Figures() []*Figure {
	var out []*Figure
	var walk func([]Block)
	walk = func(bs []Block) {
		for _, b := range bs {
			switch v := b.(type) {
			case *Figure:
				out = append(out, v)
			case *Details:
				walk(v.Blocks)
			}
		}
	}
	for _, s := range d.Sections {
		walk(s.Blocks)
	}
	return out
}

// Markdown renders the document; figures are referenced by file name.
func (d *Doc) Markdown() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s\n\n", d.Title)
	if d.Subtitle != "" {
		fmt.Fprintf(&b, "_%s_\n\n", d.Subtitle)
	}
	for _, s := range d.Sections {
		fmt.Fprintf(&b, "## %s\n\n", s.Title)
		mdBlocks(&b, s.Blocks)
	}
	return b.Bytes()
}

func mdBlocks(b *bytes.Buffer, blocks []Block) {
	for _, blk := range blocks {
		switch v := blk.(type) {
		case *Para:
			for _, sp := range v.Spans {
				if sp.Flag {
					fmt.Fprintf(b, "<mark title=%q>%s</mark> _(unverified: %s)_", sp.Note, sp.Text, sp.Note)
				} else {
					b.WriteString(sp.Text)
				}
			}
			b.WriteString("\n\n")
		case *Heading:
			fmt.Fprintf(b, "### %s\n\n", v.Text)
		case *Table:
			if v.Caption != "" {
				fmt.Fprintf(b, "**%s**\n\n", v.Caption)
			}
			fmt.Fprintf(b, "| %s |\n|", strings.Join(mdCells(v.Header), " | "))
			for range v.Header {
				b.WriteString(" --- |")
			}
			b.WriteString("\n")
			for _, r := range v.Rows {
				fmt.Fprintf(b, "| %s |\n", strings.Join(mdCells(r), " | "))
			}
			b.WriteString("\n")
		case *Figure:
			fmt.Fprintf(b, "![%s](%s)\n\n", v.Title, v.File)
			if v.Caption != "" {
				fmt.Fprintf(b, "_%s_\n\n", v.Caption)
			}
		case *Code:
			fmt.Fprintf(b, "```%s\n%s\n```\n\n", v.Lang, strings.TrimRight(v.Text, "\n"))
		case *Note:
			fmt.Fprintf(b, "> **Note:** %s\n\n", v.Text)
		case *List:
			for _, it := range v.Items {
				fmt.Fprintf(b, "- %s\n", it)
			}
			b.WriteString("\n")
		case *Details:
			fmt.Fprintf(b, "#### %s\n\n", v.Summary)
			mdBlocks(b, v.Blocks)
		}
	}
}

func mdCells(cells []string) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = strings.ReplaceAll(strings.ReplaceAll(c, "|", `\|`), "\n", " ")
	}
	return out
}

// css keeps the page readable and within the window width: figures scale down, wide
// tables and code scroll inside their own box.
const css = `
*{box-sizing:border-box}
body{font-family:Georgia,'Times New Roman',serif;line-height:1.55;color:#1b1b1b;background:#fff;margin:0;padding:0 1rem}
main{max-width:52rem;margin:2rem auto 4rem auto}
h1{font-size:1.9rem;line-height:1.25;margin-bottom:.2rem}
h2{font-size:1.35rem;border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2.2rem}
h3{font-size:1.1rem;margin-top:1.6rem}
.subtitle{color:#555;font-style:italic;margin-top:0}
nav{font-family:system-ui,sans-serif;font-size:.9rem;color:#555;display:flex;flex-wrap:wrap;gap:.2rem .8rem}
nav a{color:#0b5394;text-decoration:none}
p{overflow-wrap:anywhere}
figure{margin:1.5rem 0;text-align:center}
figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9rem;color:#444;margin-top:.3rem;text-align:left}
.table-wrap{overflow-x:auto;max-width:100%;margin:0 0 1rem 0}
table{border-collapse:collapse;font-family:system-ui,sans-serif;font-size:.88rem}
.caption{font-family:system-ui,sans-serif;font-size:.88rem;font-weight:600;margin:1.2rem 0 .3rem 0}
th,td{border-bottom:1px solid #e3e3e3;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f6f6f6}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
pre{background:#f7f7f7;border:1px solid #e5e5e5;padding:.7rem;overflow-x:auto;white-space:pre-wrap;overflow-wrap:anywhere;font-size:.8rem}
.note{border-left:4px solid #e69f00;background:#fff8e6;padding:.5rem .8rem;margin:1rem 0;font-family:system-ui,sans-serif;font-size:.92rem}
mark.ungrounded{background:#ffd7d7;border-bottom:2px dotted #c00;padding:0 .1rem}
.flagnote{font-size:.75rem;color:#a00;font-family:system-ui,sans-serif;vertical-align:super}
details{margin:1rem 0}
summary{cursor:pointer;font-family:system-ui,sans-serif}
ul{padding-left:1.4rem}
li{overflow-wrap:anywhere}
`

// HTML renders the document as one self-contained page.
func (d *Doc) HTML() []byte {
	var b bytes.Buffer
	e := html.EscapeString
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
	b.WriteString("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
	fmt.Fprintf(&b, "<title>%s</title>\n<style>%s</style>\n</head>\n<body>\n<main>\n", e(d.Title), css)
	fmt.Fprintf(&b, "<h1>%s</h1>\n", e(d.Title))
	if d.Subtitle != "" {
		fmt.Fprintf(&b, "<p class=\"subtitle\">%s</p>\n", e(d.Subtitle))
	}
	b.WriteString("<nav>")
	for _, s := range d.Sections {
		fmt.Fprintf(&b, "<a href=\"#%s\">%s</a>", e(s.ID), e(s.Title))
	}
	b.WriteString("</nav>\n")
	for _, s := range d.Sections {
		fmt.Fprintf(&b, "<section id=\"%s\">\n<h2>%s</h2>\n", e(s.ID), e(s.Title))
		htmlBlocks(&b, s.Blocks)
		b.WriteString("</section>\n")
	}
	b.WriteString("</main>\n</body>\n</html>\n")
	return b.Bytes()
}

func htmlBlocks(b *bytes.Buffer, blocks []Block) {
	e := html.EscapeString
	for _, blk := range blocks {
		switch v := blk.(type) {
		case *Para:
			b.WriteString("<p>")
			for _, sp := range v.Spans {
				if sp.Flag {
					fmt.Fprintf(b, "<mark class=\"ungrounded\" title=\"unverified: %s\">%s</mark><span class=\"flagnote\">unverified</span>", e(sp.Note), e(sp.Text))
				} else {
					b.WriteString(e(sp.Text))
				}
			}
			b.WriteString("</p>\n")
		case *Heading:
			fmt.Fprintf(b, "<h3>%s</h3>\n", e(v.Text))
		case *Table:
			if v.Caption != "" {
				fmt.Fprintf(b, "<p class=\"caption\">%s</p>\n", e(v.Caption))
			}
			b.WriteString("<div class=\"table-wrap\"><table>\n")
			b.WriteString("<thead><tr>")
			for _, h := range v.Header {
				fmt.Fprintf(b, "<th>%s</th>", e(h))
			}
			b.WriteString("</tr></thead>\n<tbody>\n")
			for _, r := range v.Rows {
				b.WriteString("<tr>")
				for i, c := range r {
					cls := ""
					if i > 0 && numeric(c) {
						cls = " class=\"num\""
					}
					fmt.Fprintf(b, "<td%s>%s</td>", cls, e(c))
				}
				b.WriteString("</tr>\n")
			}
			b.WriteString("</tbody></table></div>\n")
		case *Figure:
			fmt.Fprintf(b, "<figure><img alt=\"%s\" src=\"data:image/png;base64,%s\">", e(v.Title), base64.StdEncoding.EncodeToString(v.PNG))
			if v.Caption != "" {
				fmt.Fprintf(b, "<figcaption><b>%s.</b> %s</figcaption>", e(v.Title), e(v.Caption))
			}
			b.WriteString("</figure>\n")
		case *Code:
			fmt.Fprintf(b, "<pre><code>%s</code></pre>\n", e(strings.TrimRight(v.Text, "\n")))
		case *Note:
			fmt.Fprintf(b, "<div class=\"note\"><b>Note:</b> %s</div>\n", e(v.Text))
		case *List:
			b.WriteString("<ul>\n")
			for _, it := range v.Items {
				fmt.Fprintf(b, "<li>%s</li>\n", e(it))
			}
			b.WriteString("</ul>\n")
		case *Details:
			fmt.Fprintf(b, "<details><summary>%s</summary>\n", e(v.Summary))
			htmlBlocks(b, v.Blocks)
			b.WriteString("</details>\n")
		}
	}
}

// numeric reports whether a table cell starts like a number (for right alignment).
func numeric(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" {
		return false
	}
	c := s[0]
	return (c >= '0' && c <= '9') || c == '-' || c == '.'
}
