package pipelines

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/biopipe/biopipe/contract"
)

// Source is a loaded pipeline file: the YAML node tree (which keeps line numbers) after
// overrides and interpolation, and the same tree as plain Go values.
type Source struct {
	File  string
	Root  *yaml.Node
	Value map[string]any
	pos   map[string]Pos // "stages.2.with.epochs" -> value position; "#key:" prefix for key position
	errs  SpecErrors     // problems found while converting the node tree
	nodes int            // nodes converted, aliases expanded (bounded by maxNodes)
}

// maxNodes bounds the size of a pipeline file after YAML aliases are expanded, so an
// alias bomb is an error rather than an out-of-memory crash.
const maxNodes = 200000

// maxDepth bounds the nesting of a pipeline file (and of YAML aliases, which may refer to
// themselves).
const maxDepth = 64

// Override is one `--set path=value` (or BIOPIPE_ environment) override. Path segments are
// separated by dots; the segment after "stages" is a stage id.
type Override struct {
	Path   string
	Value  string // parsed as YAML (so 5 is an int, [1,2] a list)
	Origin string // e.g. `--set stages.train.with.epochs=5`
}

// ParseOverride parses "path=value".
func ParseOverride(s, origin string) (Override, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return Override{}, fmt.Errorf("%s: want PATH=VALUE, e.g. stages.train.with.epochs=5", origin)
	}
	return Override{Path: strings.TrimSpace(k), Value: v, Origin: origin}, nil
}

// EnvOverrides turns BIOPIPE_SET (a ';'-separated list of PATH=VALUE) and variables of the form
// BIOPIPE_VAR_<NAME>=value (a pipeline var) into overrides.
func EnvOverrides(environ []string) ([]Override, error) {
	var out []Override
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case k == "BIOPIPE_SET":
			for _, part := range strings.Split(v, ";") {
				if strings.TrimSpace(part) == "" {
					continue
				}
				o, err := ParseOverride(part, "BIOPIPE_SET")
				if err != nil {
					return nil, err
				}
				out = append(out, o)
			}
		case strings.HasPrefix(k, "BIOPIPE_VAR_"):
			name := strings.ToLower(strings.TrimPrefix(k, "BIOPIPE_VAR_"))
			out = append(out, Override{Path: "vars." + name, Value: v, Origin: "$" + k})
		}
	}
	return out, nil
}

// Load reads a pipeline file, applies overrides (in order), interpolates ${var} and
// ${env:NAME}, and returns the source with positions.
func Load(file string, overrides []Override) (*Source, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return Parse(file, data, overrides)
}

// Parse is Load on bytes already read.
func Parse(file string, data []byte, overrides []Override) (*Source, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, SpecErrors{{Pos: Pos{File: file, Line: 1, Col: 1}, Msg: "empty file: a pipeline file is a mapping with name, seed, stages, ..."}}
		}
		return nil, SpecErrors{{Pos: yamlErrPos(file, err), Msg: cleanYAMLErr(err)}}
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, SpecErrors{{Pos: Pos{File: file, Line: 1, Col: 1}, Msg: "a pipeline file is a mapping with name, seed, stages, ..."}}
	}
	root := doc.Content[0]
	var errs SpecErrors
	for _, o := range overrides {
		if err := applyOverride(root, o); err != nil {
			errs = append(errs, &SpecError{Pos: Pos{Origin: o.Origin}, Msg: err.Error()})
		}
	}
	src := &Source{File: file, Root: root, pos: map[string]Pos{}}
	vars := map[string]*yaml.Node{}
	if v := mapGet(root, "vars"); v != nil && v.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(v.Content); i += 2 {
			vars[v.Content[i].Value] = v.Content[i+1]
		}
	}
	errs = append(errs, interpolate(file, root, vars, 0)...)
	val := src.toValue(root, "", 0)
	errs = append(errs, src.errs...)
	m, _ := val.(map[string]any)
	src.Value = m
	return src, errs.orNil()
}

var yamlLineRx = regexp.MustCompile(`line (\d+)`)

func yamlErrPos(file string, err error) Pos {
	if m := yamlLineRx.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return Pos{File: file, Line: n, Col: 1}
	}
	return Pos{File: file}
}

func cleanYAMLErr(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	s = yamlLineRx.ReplaceAllString(s, "")
	return "YAML syntax: " + strings.TrimLeft(s, ": ")
}

func mapGet(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func applyOverride(root *yaml.Node, o Override) error {
	segs := strings.Split(o.Path, ".")
	var val yaml.Node
	if err := yaml.Unmarshal([]byte(o.Value), &val); err != nil || len(val.Content) == 0 {
		val = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!str", Value: o.Value}}}
	}
	newNode := val.Content[0]
	markOrigin(newNode, o.Origin)
	cur := root
	for i := 0; i < len(segs); i++ {
		seg := segs[i]
		last := i == len(segs)-1
		if cur.Kind == yaml.SequenceNode {
			// A stage list is addressed by stage id.
			var found *yaml.Node
			for _, item := range cur.Content {
				if id := mapGet(item, "id"); id != nil && id.Value == seg {
					found = item
				}
			}
			if found == nil {
				if n, err := strconv.Atoi(seg); err == nil && n >= 0 && n < len(cur.Content) {
					found = cur.Content[n]
				}
			}
			if found == nil {
				var ids []string
				for _, item := range cur.Content {
					if id := mapGet(item, "id"); id != nil {
						ids = append(ids, id.Value)
					}
				}
				return fmt.Errorf("no stage %q (stages: %s)", seg, strings.Join(ids, ", "))
			}
			if last {
				*found = *newNode
				return nil
			}
			cur = found
			continue
		}
		if cur.Kind != yaml.MappingNode {
			return fmt.Errorf("%q is not a mapping", strings.Join(segs[:i], "."))
		}
		next := mapGet(cur, seg)
		if last {
			if next != nil {
				*next = *newNode
			} else {
				key := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: seg}
				markOrigin(key, o.Origin)
				cur.Content = append(cur.Content, key, newNode)
			}
			return nil
		}
		if next == nil {
			key := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: seg}
			next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			markOrigin(key, o.Origin)
			markOrigin(next, o.Origin)
			cur.Content = append(cur.Content, key, next)
		}
		cur = next
	}
	return nil
}

// Nodes from overrides carry their origin in LineComment with line 0.
func markOrigin(n *yaml.Node, origin string) {
	n.Line, n.Column = 0, 0
	n.LineComment = "origin:" + origin
	for _, c := range n.Content {
		markOrigin(c, origin)
	}
}

var varRx = regexp.MustCompile(`\$\{([^}]*)\}`)

func interpolate(file string, n *yaml.Node, vars map[string]*yaml.Node, depth int) SpecErrors {
	var errs SpecErrors
	switch n.Kind {
	case yaml.MappingNode, yaml.SequenceNode, yaml.DocumentNode:
		for i, c := range n.Content {
			if n.Kind == yaml.MappingNode && i%2 == 0 {
				continue // keys are not interpolated
			}
			errs = append(errs, interpolate(file, c, vars, depth)...)
		}
		return errs
	case yaml.ScalarNode:
	default:
		return nil
	}
	if !strings.Contains(n.Value, "${") || depth > 8 {
		return nil
	}
	pos := nodePos(file, n)
	// A scalar that is exactly ${var} takes the variable's node (keeps lists and numbers).
	if m := varRx.FindStringSubmatch(n.Value); m != nil && m[0] == n.Value && !strings.HasPrefix(m[1], "env:") {
		v, ok := vars[m[1]]
		if !ok {
			return SpecErrors{{Pos: pos, Msg: fmt.Sprintf("undefined variable %q%s", m[1], contract.DidYouMean(m[1], slices.Sorted(maps.Keys(vars))))}}
		}
		line, col, comment := n.Line, n.Column, n.LineComment
		*n = *cloneNode(v)
		n.Line, n.Column, n.LineComment = line, col, comment
		return interpolate(file, n, vars, depth+1)
	}
	out := varRx.ReplaceAllStringFunc(n.Value, func(s string) string {
		name := s[2 : len(s)-1]
		if env, ok := strings.CutPrefix(name, "env:"); ok {
			v, set := os.LookupEnv(env)
			if !set {
				errs = append(errs, &SpecError{Pos: pos, Msg: fmt.Sprintf("environment variable %s is not set", env)})
			}
			return v
		}
		v, ok := vars[name]
		if !ok {
			errs = append(errs, &SpecError{Pos: pos, Msg: fmt.Sprintf("undefined variable %q%s", name, contract.DidYouMean(name, slices.Sorted(maps.Keys(vars))))})
			return s
		}
		if v.Kind != yaml.ScalarNode {
			errs = append(errs, &SpecError{Pos: pos, Msg: fmt.Sprintf("variable %q is not a scalar and cannot be spliced into a string", name)})
			return s
		}
		return v.Value
	})
	n.Value = out
	n.Tag = "!!str"
	return errs
}

func cloneNode(n *yaml.Node) *yaml.Node {
	c := *n
	c.Content = nil
	for _, x := range n.Content {
		c.Content = append(c.Content, cloneNode(x))
	}
	return &c
}

func nodePos(file string, n *yaml.Node) Pos {
	if o, ok := strings.CutPrefix(n.LineComment, "origin:"); ok {
		return Pos{File: file, Origin: o}
	}
	return Pos{File: file, Line: n.Line, Col: n.Column}
}

// toValue converts a node to plain Go values and records positions by dotted path.
func (s *Source) toValue(n *yaml.Node, path string, depth int) any {
	if depth > maxDepth {
		s.errs = append(s.errs, &SpecError{Pos: nodePos(s.File, n), Msg: fmt.Sprintf("nested more than %d levels deep (a YAML alias that refers to itself?)", maxDepth)})
		return nil
	}
	if s.nodes++; s.nodes > maxNodes {
		if s.nodes == maxNodes+1 {
			s.errs = append(s.errs, &SpecError{Pos: nodePos(s.File, n), Msg: fmt.Sprintf("more than %d values once YAML aliases are expanded", maxNodes)})
		}
		return nil
	}
	s.pos[path] = nodePos(s.File, n)
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			p := join(path, k)
			s.pos["#key:"+p] = nodePos(s.File, n.Content[i])
			m[k] = s.toValue(n.Content[i+1], p, depth+1)
		}
		return m
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			out = append(out, s.toValue(c, join(path, strconv.Itoa(i)), depth+1))
		}
		return out
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil
		}
		return s.toValue(n.Alias, path, depth+1)
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return n.Value
		}
		return v
	}
	return nil
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// KeyPos returns the position of the key at path (falling back to the value, then the parents).
func (s *Source) KeyPos(path string) Pos {
	if p, ok := s.pos["#key:"+path]; ok {
		return p
	}
	return s.ValuePos(path)
}

// ValuePos returns the position of the value at path, or of its nearest recorded parent.
func (s *Source) ValuePos(path string) Pos {
	for {
		if p, ok := s.pos[path]; ok {
			return p
		}
		if path == "" {
			return Pos{File: s.File, Line: 1, Col: 1}
		}
		i := strings.LastIndex(path, ".")
		if i < 0 {
			path = ""
		} else {
			path = path[:i]
		}
	}
}
