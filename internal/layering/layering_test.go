// Package layering holds the test that keeps biopipe's imports running downward:
//
//	cmd, configs, bench -> pipelines, workflows -> stages/<kind> -> models, report, evaluation,
//	io, metrics, plots, llm -> contract, manifest, dataset
//
// A package may import packages of its own layer or below, never one above it.
package layering

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/biopipe/biopipe"

// layers lists package path prefixes (relative to the module) from the bottom up.
var layers = [][]string{
	{"contract", "manifest", "dataset", "crashpoint"},
	{"io", "metrics", "plots", "llm", "models", "report", "evaluation"},
	{"stages"},
	{"pipelines", "workflows"},
	{"cmd", "configs", "bench", "internal"},
}

// layerOf returns the layer of a biopipe package, or -1 when no prefix matches.
func layerOf(pkg string) int {
	rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	for i, l := range layers {
		for _, p := range l {
			if rel == p || strings.HasPrefix(rel, p+"/") {
				return i
			}
		}
	}
	return -1
}

func TestImportsRunDownward(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	n := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		n++
		from := layerOf(p.ImportPath)
		if from < 0 {
			t.Errorf("%s: no layer; add its folder to layers in this test", p.ImportPath)
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			if to := layerOf(imp); to > from {
				t.Errorf("%s (layer %d) imports %s (layer %d): imports must run downward", p.ImportPath, from, imp, to)
			}
		}
	}
	if n < 20 {
		t.Fatalf("go list returned only %d packages", n)
	}
}
