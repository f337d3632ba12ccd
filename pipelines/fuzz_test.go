package pipelines

import (
	"testing"
)

// FuzzParseValidate: any bytes as a pipeline file, with any override, give a plan or
// positioned errors — never a panic.
func FuzzParseValidate(f *testing.F) {
	f.Add([]byte(basePipeline), "stages.b.with.amount=3")
	f.Add([]byte("name: x\nstages:\n  - id: a\n    kind: test.add\n    inputs: [a]\n"), "seed=1")
	f.Add([]byte("name: [\n"), "vars.x=${y}")
	f.Add([]byte("a: &x {b: *x}\n"), "")
	f.Add([]byte("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"), "")
	f.Add([]byte("name: x\nvars: {v: ${v}}\nstages: [{id: a, kind: test.source, with: {value: ${v}}}]\n"), "stages.0=1")
	reg := testRegistry()
	f.Fuzz(func(t *testing.T, data []byte, set string) {
		var ovs []Override
		if set != "" {
			if o, err := ParseOverride(set, "--set"); err == nil {
				ovs = append(ovs, o)
			}
		}
		src, err := Parse("f.yaml", data, ovs)
		if err != nil {
			if _, ok := err.(SpecErrors); !ok {
				t.Fatalf("Parse returned %T, want SpecErrors: %v", err, err)
			}
			return
		}
		plan, err := Validate(src, reg)
		if err == nil && plan == nil {
			t.Fatal("no plan and no error")
		}
	})
}
