package llm

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/biopipe/biopipe/contract"
)

// Output field types.
const (
	TypeEnum   = "enum"
	TypeFloat  = "float"
	TypeInt    = "int"
	TypeBool   = "bool"
	TypeString = "string"
)

// Types lists the output field types.
var Types = []string{TypeEnum, TypeFloat, TypeInt, TypeBool, TypeString}

// Keys of one output field declaration.
const (
	keyType      = "type"
	keyValues    = "values"
	keyMin       = "min"
	keyMax       = "max"
	keyDoc       = "doc"
	keyLabel     = "label"
	keyTolerance = "tolerance"
)

var fieldKeys = []string{keyType, keyValues, keyMin, keyMax, keyDoc, keyLabel, keyTolerance}

// OutField is one declared output field: a column the model fills for every row.
type OutField struct {
	Name      string   `json:"name"`
	Type      string   `json:"type"`
	Values    []string `json:"values,omitempty"` // enum values
	Min       *float64 `json:"min,omitempty"`
	Max       *float64 `json:"max,omitempty"`
	Doc       string   `json:"doc,omitempty"`
	Label     string   `json:"label,omitempty"`     // labelled (true) column for evaluate
	Tolerance float64  `json:"tolerance,omitempty"` // numeric fields: |answer - label| counted as correct
}

var nameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ParseFields reads the fields: mapping (name -> {type, values, min, max, doc, label,
// tolerance}) in name order; every problem is an Issue under fields.<name>.<key>.
func ParseFields(raw map[string]any) ([]OutField, []contract.Issue) {
	var out []OutField
	var issues []contract.Issue
	bad := func(path []string, format string, a ...any) {
		issues = append(issues, contract.Issue{Path: append([]string{FieldFields}, path...), Msg: fmt.Sprintf(format, a...)})
	}
	if len(raw) == 0 {
		bad(nil, "declare at least one output field, e.g. {smoker: {type: enum, values: [never, former, current]}}")
	}
	names := make([]string, 0, len(raw))
	for n := range raw {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		if !nameRE.MatchString(name) {
			bad([]string{name}, "field names are letters, digits and _ (they become JSON keys and column names)")
			continue
		}
		spec, ok := asMap(raw[name])
		if !ok {
			bad([]string{name}, "want a mapping such as {type: float, min: 0}")
			continue
		}
		f := OutField{Name: name}
		for k := range spec {
			if !slices.Contains(fieldKeys, k) {
				bad([]string{name, k}, "unknown key%s (keys: %s)", contract.DidYouMean(k, fieldKeys), strings.Join(fieldKeys, ", "))
			}
		}
		f.Type, _ = spec[keyType].(string)
		if !slices.Contains(Types, f.Type) {
			bad([]string{name, keyType}, "%v is not one of %s%s", spec[keyType], strings.Join(Types, ", "), contract.DidYouMean(f.Type, Types))
			continue
		}
		if v, ok := spec[keyValues]; ok {
			list, ok := v.([]any)
			if !ok || f.Type != TypeEnum {
				bad([]string{name, keyValues}, "values is a list, for enum fields only")
			}
			for _, e := range list {
				s := fmt.Sprint(e)
				if slices.Contains(f.Values, s) {
					bad([]string{name, keyValues}, "value %q twice", s)
				}
				f.Values = append(f.Values, s)
			}
		}
		if f.Type == TypeEnum && len(f.Values) < 2 {
			bad([]string{name, keyValues}, "an enum field needs at least two values")
		}
		for _, k := range []string{keyMin, keyMax, keyTolerance} {
			v, ok := spec[k]
			if !ok {
				continue
			}
			n, isNum := number(v)
			if !isNum || (f.Type != TypeFloat && f.Type != TypeInt) {
				bad([]string{name, k}, "%s is a number, for float and int fields only", k)
				continue
			}
			switch k {
			case keyMin:
				f.Min = &n
			case keyMax:
				f.Max = &n
			case keyTolerance:
				if n < 0 {
					bad([]string{name, k}, "tolerance must be >= 0")
				}
				f.Tolerance = n
			}
		}
		if f.Min != nil && f.Max != nil && *f.Min > *f.Max {
			bad([]string{name, keyMin}, "min %g is above max %g", *f.Min, *f.Max)
		}
		f.Doc, _ = spec[keyDoc].(string)
		f.Label, _ = spec[keyLabel].(string)
		out = append(out, f)
	}
	return out, issues
}

func asMap(v any) (map[string]any, bool) {
	switch x := v.(type) {
	case map[string]any:
		return x, true
	case contract.Config:
		return x, true
	case map[any]any:
		out := map[string]any{}
		for k, e := range x {
			out[fmt.Sprint(k)] = e
		}
		return out, true
	}
	return nil, false
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// Schema returns the JSON schema of an answer: an object with every field, each of its type
// or null (the note does not say), and nothing else.
func Schema(fields []OutField) json.RawMessage {
	props := map[string]any{}
	required := []string{}
	for _, f := range fields {
		p := map[string]any{}
		switch f.Type {
		case TypeEnum:
			p["type"] = []string{"string", "null"}
			vals := make([]any, 0, len(f.Values)+1)
			for _, v := range f.Values {
				vals = append(vals, v)
			}
			p["enum"] = append(vals, nil)
		case TypeFloat:
			p["type"] = []string{"number", "null"}
		case TypeInt:
			p["type"] = []string{"integer", "null"}
		case TypeBool:
			p["type"] = []string{"boolean", "null"}
		case TypeString:
			p["type"] = []string{"string", "null"}
		}
		if f.Min != nil {
			p["minimum"] = *f.Min
		}
		if f.Max != nil {
			p["maximum"] = *f.Max
		}
		if f.Doc != "" {
			p["description"] = f.Doc
		}
		props[f.Name] = p
		required = append(required, f.Name)
	}
	b, _ := json.Marshal(map[string]any{"type": "object", "properties": props, "required": required, "additionalProperties": false})
	return b
}

// Null reasons of a value.
const (
	ReasonMissing   = "missing"   // the answer has no such key
	ReasonInvalid   = "invalid"   // wrong type, not an allowed value, out of range
	ReasonMalformed = "malformed" // the answer is not a JSON object
	ReasonFailed    = "failed"    // no answer (the request failed after its retries)
	ReasonRefused   = "refused"   // the text still held an identifier after scrubbing; nothing was sent
)

// Value is one validated value: nil when null (not stated, or Reason says why not).
type Value struct {
	V      any // float64, int64, bool or string
	Reason string
}

// Validate checks an answer against the declared fields. A non-object answer makes every
// value null with ReasonMalformed; a JSON null is a valid "not stated".
func Validate(fields []OutField, answer string) []Value {
	out := make([]Value, len(fields))
	obj := map[string]any{}
	dec := json.NewDecoder(strings.NewReader(stripFence(answer)))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil || obj == nil {
		for i := range out {
			out[i].Reason = ReasonMalformed
		}
		return out
	}
	for i, f := range fields {
		raw, ok := obj[f.Name]
		switch {
		case !ok:
			out[i].Reason = ReasonMissing
		case raw == nil:
		default:
			v, good := check(f, raw)
			if good {
				out[i].V = v
			} else {
				out[i].Reason = ReasonInvalid
			}
		}
	}
	return out
}

func check(f OutField, raw any) (any, bool) {
	inRange := func(n float64) bool {
		return !math.IsNaN(n) && !math.IsInf(n, 0) && (f.Min == nil || n >= *f.Min) && (f.Max == nil || n <= *f.Max)
	}
	switch f.Type {
	case TypeEnum:
		s, ok := raw.(string)
		if !ok {
			return nil, false
		}
		for _, v := range f.Values {
			if strings.EqualFold(strings.TrimSpace(s), v) {
				return v, true
			}
		}
		return nil, false
	case TypeString:
		s, ok := raw.(string)
		return s, ok
	case TypeBool:
		b, ok := raw.(bool)
		return b, ok
	case TypeFloat:
		n, ok := raw.(json.Number)
		if !ok {
			return nil, false
		}
		x, err := n.Float64()
		return x, err == nil && inRange(x)
	case TypeInt:
		n, ok := raw.(json.Number)
		if !ok {
			return nil, false
		}
		x, err := n.Float64()
		if err != nil || x != math.Trunc(x) || !inRange(x) || math.Abs(x) > 1<<53 {
			return nil, false
		}
		return int64(x), true
	}
	return nil, false
}

// stripFence removes a Markdown code fence around an answer (```json ... ```), which some
// local servers add even in JSON mode.
func stripFence(s string) string {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "```") {
		return s
	}
	s = strings.TrimPrefix(s, "```")
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "```"))
}
