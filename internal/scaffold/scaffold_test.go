package scaffold

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/pipelines"
	_ "github.com/biopipe/biopipe/stages/all"
	"github.com/biopipe/biopipe/workflows"
)

// The templates the course issue asks for.
var wantTemplates = []string{"dicom-cnn", "eeg-lstm", "expression-vae", "gan", "paper-sweep", "tabular-ehr"}

func TestTemplatesListed(t *testing.T) {
	for _, w := range wantTemplates {
		assert.Contains(t, Names(), w)
	}
	for _, tm := range Templates() {
		assert.NotEmpty(t, tm.Summary, tm.Name)
		assert.NotContains(t, tm.Summary, "\n", "one line each in biopipe init --list")
		assert.NotEmpty(t, tm.Data, "%s: bundled sample data, so the project runs at once", tm.Name)
	}
	_, err := Get("tabular")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `did you mean "tabular-ehr"?`)
}

// TestReadmes: every README gives the two commands, what to change first, a row per stage and
// the figures to look at.
func TestReadmes(t *testing.T) {
	for _, tm := range Templates() {
		t.Run(tm.Name, func(t *testing.T) {
			readme, err := tm.File("README.md")
			require.NoError(t, err)
			pipe, err := tm.File("pipeline.yaml")
			require.NoError(t, err)
			s := string(readme)
			for _, want := range []string{"## Run it\n\n```sh\n", "biopipe run pipeline.yaml",
				"## What to change first", "## What each stage does", "## Which figure to look at"} {
				assert.Contains(t, s, want)
			}
			var spec struct {
				Stages []struct{ ID, Kind string }
			}
			require.NoError(t, yaml.Unmarshal(pipe, &spec))
			for _, st := range spec.Stages {
				assert.Contains(t, s, "| `"+st.ID+"` | `"+st.Kind+"` |", "README table row for stage %s", st.ID)
			}
		})
	}
}

// TestEveryFieldCommented: every key of every template's YAML files (pipeline.yaml, a workflow)
// carries a comment, on its line or above it.
func TestEveryFieldCommented(t *testing.T) {
	for _, tm := range Templates() {
		for _, file := range append([]string{"pipeline.yaml"}, tm.Files...) {
			if strings.HasSuffix(file, ".yaml") {
				t.Run(tm.Name+"/"+file, func(t *testing.T) { checkCommented(t, tm, file) })
			}
		}
	}
}

func checkCommented(t *testing.T, tm Template, file string) {
	data, err := tm.File(file)
	require.NoError(t, err)
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal(data, &doc))
	lines := strings.Split(string(data), "\n")
	var walk func(n *yaml.Node)
	keys := 0
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode && n.Style&yaml.FlowStyle == 0 {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				keys++
				commented := k.HeadComment != "" || k.LineComment != "" || v.LineComment != "" ||
					strings.Contains(lines[k.Line-1], " #")
				assert.True(t, commented, "%s:%d: %q has no comment", file, k.Line, k.Value)
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	assert.Greater(t, keys, 5)
}

// TestSampleDataMatchesTestdata: the embedded sample data are copies of the repository's
// testdata (the copies make `biopipe init` work from an installed binary).
func TestSampleDataMatchesTestdata(t *testing.T) {
	testdata := map[string]string{ // embedded data/ prefix -> repository path
		"ehr":    "../../testdata/ehr",
		"dicom":  "../../testdata/dicom",
		"eeg":    "../../testdata/eeg",
		"expr":   "../../testdata/expr",
		"digits": "../../testdata/digits",
	}
	n := 0
	require.NoError(t, fs.WalkDir(files, "data", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := strings.TrimPrefix(p, "data/")
		top, rest, _ := strings.Cut(rel, "/")
		repo, ok := testdata[top]
		require.True(t, ok, "%s: no testdata counterpart", p)
		want, err := os.ReadFile(filepath.Join(repo, filepath.FromSlash(rest)))
		require.NoError(t, err, "%s: embedded copy of a file testdata no longer has", p)
		got, _ := files.ReadFile(p)
		require.True(t, bytes.Equal(want, got), "internal/scaffold/%s differs from testdata/%s/%s: copy it again", p, top, rest)
		n++
		return nil
	}))
	assert.Greater(t, n, 290)
}

func TestWriteRefusesAProject(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pipeline.yaml"), []byte("mine"), 0o644))
	_, err := Write("tabular-ehr", dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not empty")
	got, _ := os.ReadFile(filepath.Join(dir, "pipeline.yaml"))
	assert.Equal(t, "mine", string(got))
}

// TestTemplatesRunEndToEnd scaffolds every template into a temp dir and runs it there, from
// that dir as a student would, with fewer epochs and bootstrap resamples to keep CI short.
func TestTemplatesRunEndToEnd(t *testing.T) {
	for _, tm := range Templates() {
		t.Run(tm.Name, func(t *testing.T) {
			if testing.Short() && tm.Name != "tabular-ehr" {
				t.Skip("-short scaffolds and runs tabular-ehr only")
			}
			dir := filepath.Join(t.TempDir(), "project")
			written, err := Write(tm.Name, dir)
			require.NoError(t, err)
			for _, f := range []string{"pipeline.yaml", "README.md", ".gitignore", "data/README.md"} {
				assert.Contains(t, written, f)
			}
			gi, err := os.ReadFile(filepath.Join(dir, ".gitignore"))
			require.NoError(t, err)
			assert.Contains(t, string(gi), ".biopipe/")
			for _, d := range tm.Data {
				_, err := os.Stat(filepath.Join(dir, "data", path.Base(d)))
				require.NoError(t, err, "sample data copied in")
			}
			t.Chdir(dir)
			shrink(t, "pipeline.yaml")
			src, err := pipelines.Load("pipeline.yaml", nil)
			require.NoError(t, err)
			plan, err := pipelines.Validate(src, contract.Default)
			require.NoError(t, err)
			m, err := pipelines.Run(context.Background(), plan, pipelines.Options{Jobs: 2})
			require.NoError(t, err)
			assert.Equal(t, m.StageCount, len(plan.Order))
			_, err = os.Stat(filepath.Join(dir, ".biopipe", "runs", "latest", "report.html"))
			require.NoError(t, err, "the README sends the student to .biopipe/runs/latest/report.html")
			for _, f := range tm.Files {
				if !workflows.IsWorkflow(f) {
					continue
				}
				w, err := workflows.Load(f, contract.Default)
				require.NoError(t, err)
				_, err = workflows.Run(context.Background(), w, workflows.Options{WorkDir: ".biopipe", Jobs: 2})
				require.NoError(t, err)
				for _, out := range []string{workflows.TableMD, workflows.TableTeX, workflows.TableCSV} {
					_, err := os.Stat(filepath.Join(workflows.Dir(".biopipe", w.Name), out))
					assert.NoError(t, err, "%s: the README points at the results table", f)
				}
			}
		})
	}
}

// shrink rewrites a scaffolded pipeline file for a short CI run: 2 epochs for every train stage
// and 20 bootstrap resamples for every evaluate stage (the configs tests check the figures).
func shrink(t *testing.T, file string) {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal(data, &doc))
	set := func(stage *yaml.Node, key, value string) {
		var with *yaml.Node
		for i := 0; i+1 < len(stage.Content); i += 2 {
			if stage.Content[i].Value == "with" {
				with = stage.Content[i+1]
			}
		}
		if with == nil {
			with = &yaml.Node{Kind: yaml.MappingNode}
			stage.Content = append(stage.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "with"}, with)
		}
		for i := 0; i+1 < len(with.Content); i += 2 {
			if with.Content[i].Value == key {
				with.Content[i+1].Value = value
				return
			}
		}
		with.Content = append(with.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, &yaml.Node{Kind: yaml.ScalarNode, Value: value})
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "stages" {
			continue
		}
		for _, st := range root.Content[i+1].Content {
			for j := 0; j+1 < len(st.Content); j += 2 {
				if st.Content[j].Value != "kind" {
					continue
				}
				switch st.Content[j+1].Value {
				case "train":
					set(st, "epochs", "2")
				case "evaluate":
					set(st, "bootstrap", "20")
				}
			}
		}
	}
	out, err := yaml.Marshal(&doc)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(file, out, 0o644))
}
