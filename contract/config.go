package contract

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// FieldType is the type of a config field.
type FieldType string

// Field types.
const (
	String   FieldType = "string"
	Int      FieldType = "int"
	Float    FieldType = "float"
	Bool     FieldType = "bool"
	Path     FieldType = "path" // a file or folder; resolved to an absolute path and its content hashed into the cache key
	Strings  FieldType = "[]string"
	Ints     FieldType = "[]int"
	Floats   FieldType = "[]float"
	Paths    FieldType = "[]path"
	Object   FieldType = "object" // a nested block with its own Fields
	Map      FieldType = "map"    // free-form mapping (string keys, scalar values)
	AnyValue FieldType = "any"
)

// Field declares one config field of a stage kind (or of a nested block). The same
// declaration validates the YAML, fills defaults and prints `biopipe stages KIND`.
type Field struct {
	Name     string
	Type     FieldType
	Doc      string
	Default  any      // filled when the field is absent (nil = no default)
	Required bool     // the field must be given
	Enum     []string // allowed values for String / Strings fields
	Min, Max *float64 // bounds for numbers (and for every element of number lists)
	Fields   []Field  // for Object: the nested fields
	Example  string   // a YAML snippet shown in the docs
	Advanced bool     // hidden from the short docs
	// NoKey marks a field that cannot change the artifact (how often to checkpoint, say):
	// the executor leaves it out of the stage's cache key.
	NoKey bool
}

// Bound returns a pointer to v, for Field.Min and Field.Max.
func Bound(v float64) *float64 { return &v }

// Config is a validated, default-filled stage config. Values are normalised: int, float64,
// bool, string, []int, []float64, []string, Config (nested objects), map[string]any.
type Config map[string]any

// String returns a string field ("" when absent).
func (c Config) String(name string) string { s, _ := c[name].(string); return s }

// Int returns an int field (0 when absent).
func (c Config) Int(name string) int {
	switch v := c[name].(type) {
	case int:
		return v
	case float64:
		return int(v)
	}
	return 0
}

// Float returns a float field (0 when absent).
func (c Config) Float(name string) float64 {
	switch v := c[name].(type) {
	case int:
		return float64(v)
	case float64:
		return v
	}
	return 0
}

// Bool returns a bool field.
func (c Config) Bool(name string) bool { b, _ := c[name].(bool); return b }

// Has reports whether the field is set (given or defaulted).
func (c Config) Has(name string) bool { _, ok := c[name]; return ok && c[name] != nil }

// Strings returns a string-list field.
func (c Config) Strings(name string) []string { s, _ := c[name].([]string); return s }

// Ints returns an int-list field.
func (c Config) Ints(name string) []int { s, _ := c[name].([]int); return s }

// Floats returns a float-list field.
func (c Config) Floats(name string) []float64 { s, _ := c[name].([]float64); return s }

// Object returns a nested block (an empty Config when absent).
func (c Config) Object(name string) Config {
	if o, ok := c[name].(Config); ok {
		return o
	}
	return Config{}
}

// MapOf returns a free-form map field.
func (c Config) MapOf(name string) map[string]any { m, _ := c[name].(map[string]any); return m }

// Issue is one problem found while checking a config: the dotted path of the field
// (relative to the stage's `with:` block) and the message.
type Issue struct {
	Path []string // e.g. ["optimizer", "learning_rate"]; empty for the block itself
	Msg  string
}

func (i Issue) Error() string {
	if len(i.Path) == 0 {
		return i.Msg
	}
	return fmt.Sprintf("field %q: %s", strings.Join(i.Path, "."), i.Msg)
}

// Check validates raw (decoded YAML) against fields, fills defaults and normalises values.
// It returns every issue found, not only the first.
func Check(fields []Field, raw map[string]any) (Config, []Issue) {
	return check(fields, raw, nil)
}

func check(fields []Field, raw map[string]any, path []string) (Config, []Issue) {
	out := Config{}
	var issues []Issue
	known := map[string]*Field{}
	names := make([]string, 0, len(fields))
	for i := range fields {
		known[fields[i].Name] = &fields[i]
		names = append(names, fields[i].Name)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f, ok := known[k]
		p := append(slices.Clone(path), k)
		if !ok {
			msg := "unknown field"
			if s := Suggest(k, names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			} else {
				msg += fmt.Sprintf(" (valid fields: %s)", strings.Join(names, ", "))
			}
			issues = append(issues, Issue{Path: p, Msg: msg})
			continue
		}
		v, iss := coerce(f, raw[k], p)
		issues = append(issues, iss...)
		if len(iss) == 0 {
			out[k] = v
		}
	}
	for i := range fields {
		f := &fields[i]
		if _, ok := raw[f.Name]; ok {
			continue
		}
		if f.Required {
			issues = append(issues, Issue{Path: append(slices.Clone(path), f.Name), Msg: "missing required field"})
			continue
		}
		if f.Type == Object {
			sub, iss := check(f.Fields, map[string]any{}, append(slices.Clone(path), f.Name))
			issues = append(issues, iss...)
			if f.Default == nil {
				out[f.Name] = sub
			}
			if f.Default != nil {
				if m, ok := f.Default.(map[string]any); ok {
					sub, _ = check(f.Fields, m, nil)
					out[f.Name] = sub
				}
			}
			continue
		}
		if f.Default != nil {
			v, _ := coerce(f, f.Default, nil)
			out[f.Name] = v
		}
	}
	return out, issues
}

func coerce(f *Field, v any, path []string) (any, []Issue) {
	bad := func(format string, a ...any) (any, []Issue) {
		return nil, []Issue{{Path: path, Msg: fmt.Sprintf(format, a...)}}
	}
	switch f.Type {
	case String, Path:
		s, ok := scalarString(v)
		if !ok {
			return bad("want a %s, got %s", f.Type, describe(v))
		}
		if len(f.Enum) > 0 && !slices.Contains(f.Enum, s) {
			return bad("%q is not one of %s%s", s, strings.Join(f.Enum, ", "), DidYouMean(s, f.Enum))
		}
		return s, nil
	case Int:
		n, ok := toFloat(v)
		if !ok || n != math.Trunc(n) {
			return bad("want an integer, got %s", describe(v))
		}
		if iss := bounds(f, n, path); iss != nil {
			return nil, iss
		}
		return int(n), nil
	case Float:
		n, ok := toFloat(v)
		if !ok {
			return bad("want a number, got %s", describe(v))
		}
		if iss := bounds(f, n, path); iss != nil {
			return nil, iss
		}
		return n, nil
	case Bool:
		b, ok := v.(bool)
		if !ok {
			if s, isStr := v.(string); isStr {
				if pb, err := strconv.ParseBool(s); err == nil {
					return pb, nil
				}
			}
			return bad("want true or false, got %s", describe(v))
		}
		return b, nil
	case Strings, Paths:
		list, ok := asList(v)
		if !ok {
			return bad("want a list of strings, got %s", describe(v))
		}
		out := make([]string, 0, len(list))
		for i, e := range list {
			s, ok := scalarString(e)
			if !ok {
				return bad("element %d: want a string, got %s", i, describe(e))
			}
			if len(f.Enum) > 0 && !slices.Contains(f.Enum, s) {
				return bad("element %d: %q is not one of %s%s", i, s, strings.Join(f.Enum, ", "), DidYouMean(s, f.Enum))
			}
			out = append(out, s)
		}
		return out, nil
	case Ints, Floats:
		list, ok := asList(v)
		if !ok {
			return bad("want a list of numbers, got %s", describe(v))
		}
		var ints []int
		var floats []float64
		for i, e := range list {
			n, ok := toFloat(e)
			if !ok || (f.Type == Ints && n != math.Trunc(n)) {
				return bad("element %d: want a%s, got %s", i, map[bool]string{true: "n integer", false: " number"}[f.Type == Ints], describe(e))
			}
			if iss := bounds(f, n, append(slices.Clone(path), strconv.Itoa(i))); iss != nil {
				return nil, iss
			}
			ints = append(ints, int(n))
			floats = append(floats, n)
		}
		if f.Type == Ints {
			if ints == nil {
				ints = []int{}
			}
			return ints, nil
		}
		if floats == nil {
			floats = []float64{}
		}
		return floats, nil
	case Object:
		m, ok := asMap(v)
		if !ok {
			return bad("want a mapping, got %s", describe(v))
		}
		return check(f.Fields, m, path)
	case Map:
		m, ok := asMap(v)
		if !ok {
			return bad("want a mapping, got %s", describe(v))
		}
		return m, nil
	}
	return v, nil
}

func bounds(f *Field, n float64, path []string) []Issue {
	if f.Min != nil && n < *f.Min {
		return []Issue{{Path: path, Msg: fmt.Sprintf("%v is below the minimum %v", n, *f.Min)}}
	}
	if f.Max != nil && n > *f.Max {
		return []Issue{{Path: path, Msg: fmt.Sprintf("%v is above the maximum %v", n, *f.Max)}}
	}
	return nil
}

// DidYouMean returns ` (did you mean "x"?)` when one of valid is a likely typo of s (see
// Suggest), else "": the tail every "unknown name" error uses.
func DidYouMean(s string, valid []string) string {
	if m := Suggest(s, valid); m != "" {
		return fmt.Sprintf(" (did you mean %q?)", m)
	}
	return ""
}

func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case int, int64, float64, bool:
		return fmt.Sprint(x), true
	}
	return "", false
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	}
	return 0, false
}

func asList(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out, true
	case []int:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out, true
	case []float64:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out, true
	case string, int, float64:
		return []any{x}, true // a scalar where a list is expected means a one-element list
	}
	return nil, false
}

func asMap(v any) (map[string]any, bool) {
	switch x := v.(type) {
	case map[string]any:
		return x, true
	case Config:
		return x, true
	case map[any]any:
		out := map[string]any{}
		for k, e := range x {
			out[fmt.Sprint(k)] = e
		}
		return out, true
	case nil:
		return map[string]any{}, true
	}
	return nil, false
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "nothing"
	case string:
		return fmt.Sprintf("the string %q", x)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	case bool:
		return fmt.Sprintf("the boolean %v", x)
	}
	return fmt.Sprintf("%v", v)
}

// Suggest returns the candidate closest to s by edit distance when it is close enough
// to be a likely typo, else "".
func Suggest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		d := levenshtein(strings.ToLower(s), strings.ToLower(c))
		if d < bestD {
			best, bestD = c, d
		}
	}
	limit := 2
	if len(s) > 8 {
		limit = 3
	}
	if bestD <= limit || (best != "" && (strings.HasPrefix(best, s) || strings.HasPrefix(s, best)) && len(s) >= 3) {
		return best
	}
	return ""
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
