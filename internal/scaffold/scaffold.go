// Package scaffold writes a new biopipe project from a template (`biopipe init --template NAME
// DIR`): a pipeline.yaml with a comment on every field, a README with the two commands to run
// it and what to change first (the template's getting-started tutorial, also published under
// docs/tutorials/), a data/ folder with a note on where data goes and the bundled sample data
// copied in so the project runs at once, and a .gitignore for the work dir.
//
// Templates and sample data are embedded in the binary (go:embed), so `biopipe init` works from
// an installed binary without the repository. The sample data are byte-for-byte copies of files
// under the repository's testdata/ (a test keeps them equal).
package scaffold

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/biopipe/biopipe/contract"
)

//go:embed templates data
var files embed.FS

// Template is a project template.
type Template struct {
	Name    string
	Summary string // one line, for `biopipe init --list`
	// Data lists the embedded sample data (files or folders under data/ in this package)
	// copied into the project's data/ folder, each to the base name of its path.
	Data []string
	// DataNote says what the bundled sample data is and where it comes from (data/README.md).
	DataNote string
	// Files are the template's own files under templates/<Name>/, copied to the project root.
	// Every template has pipeline.yaml and README.md.
	Files []string
}

// Templates returns every template, in name order.
func Templates() []Template {
	out := slices.Clone(templates)
	slices.SortFunc(out, func(a, b Template) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Names returns the template names, sorted.
func Names() []string {
	var out []string
	for _, t := range Templates() {
		out = append(out, t.Name)
	}
	return out
}

// Get returns the named template; a miss lists the valid names.
func Get(name string) (Template, error) {
	for _, t := range templates {
		if t.Name == name {
			return t, nil
		}
	}
	return Template{}, fmt.Errorf("unknown template %q%s (templates: %s)", name, contract.DidYouMean(name, Names()), strings.Join(Names(), ", "))
}

// File returns one of the template's own files (pipeline.yaml, README.md, ...).
func (t Template) File(name string) ([]byte, error) {
	return files.ReadFile(path.Join("templates", t.Name, name))
}

// GitIgnore is the project's .gitignore: the work dir holds artifacts and secrets, never commit it.
const GitIgnore = `# biopipe's work dir: the artifact store, run manifests and reports, and the pseudonym salt
# (secrets/). Runs are reproducible from pipeline.yaml and data/; never commit this folder.
.biopipe/
`

// dataReadme is data/README.md: where data goes, then what the bundled sample is.
func (t Template) dataReadme() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# data/\n\nPut your data here and point `vars:` in `../pipeline.yaml` at it (paths in the pipeline are\n")
	fmt.Fprintf(&b, "relative to the pipeline file). A different folder works too: `biopipe run pipeline.yaml --set vars.data=/path/to/data`\n")
	fmt.Fprintf(&b, "or `BIOPIPE_VAR_DATA=/path/to/data biopipe run pipeline.yaml`.\n\n")
	fmt.Fprintf(&b, "Patient data stays local: biopipe never uploads it, de-identifies DICOM and EDF subjects at\n")
	fmt.Fprintf(&b, "ingest, and the project's .gitignore keeps the work dir out of git. If this folder will hold\n")
	fmt.Fprintf(&b, "identifiable data, add `data/` to .gitignore as well.\n\n")
	fmt.Fprintf(&b, "## The bundled sample\n\n%s\n", strings.TrimSpace(t.DataNote))
	return b.String()
}

// Write scaffolds the template into dir, which must not exist or be empty (an existing project is
// never overwritten). It returns the files written, relative to dir, in the order written. On
// an error, what it wrote is removed again.
func Write(name, dir string) (written []string, err error) {
	t, err := Get(name)
	if err != nil {
		return nil, err
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("%s: folder exists and is not empty; choose a new folder", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	defer func() {
		if err != nil {
			for _, rel := range written {
				_ = os.Remove(filepath.Join(dir, filepath.FromSlash(rel)))
			}
			written = nil
		}
	}()
	put := func(rel string, data []byte) error {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
		written = append(written, rel)
		return nil
	}
	for _, f := range append([]string{"pipeline.yaml", "README.md"}, t.Files...) {
		data, err := t.File(f)
		if err != nil {
			return written, fmt.Errorf("template %s: %w", t.Name, err)
		}
		if err := put(f, data); err != nil {
			return written, err
		}
	}
	if err := put(".gitignore", []byte(GitIgnore)); err != nil {
		return written, err
	}
	if err := put("data/README.md", []byte(t.dataReadme())); err != nil {
		return written, err
	}
	for _, src := range t.Data {
		root := path.Join("data", src)
		err := fs.WalkDir(files, root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := files.ReadFile(p)
			if err != nil {
				return err
			}
			rel := path.Join("data", path.Base(src), strings.TrimPrefix(strings.TrimPrefix(p, root), "/"))
			return put(rel, data)
		})
		if err != nil {
			return written, fmt.Errorf("template %s: sample data %s: %w", t.Name, src, err)
		}
	}
	return written, nil
}
