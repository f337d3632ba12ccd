package docgen

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/internal/scaffold"
	"github.com/biopipe/biopipe/models"
	_ "github.com/biopipe/biopipe/stages/all"
)

const docsDir = "../../docs"

// TestDocsCurrent fails when docs/ differs from what the stage, model and template declarations
// generate: after adding or changing a stage kind, field, model family or template, run
// `make docs` and commit docs/.
func TestDocsCurrent(t *testing.T) {
	pages, err := Generate(contract.Default)
	require.NoError(t, err)
	stale, err := Stale(docsDir, pages)
	require.NoError(t, err)
	if len(stale) > 0 {
		t.Fatalf("docs/ is stale: run `make docs` (go run ./cmd/biopipe docs --out docs) and commit docs/.\n"+
			"The generated pages come from the declarations of stage kinds (contract.Kind), model families\n"+
			"(models.Family) and templates (internal/scaffold); never edit them by hand. Stale:\n  %s",
			strings.Join(stale, "\n  "))
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	a, err := Generate(contract.Default)
	require.NoError(t, err)
	b, err := Generate(contract.Default)
	require.NoError(t, err)
	require.Equal(t, len(a), len(b))
	for k := range a {
		assert.True(t, bytes.Equal(a[k], b[k]), k)
	}
}

func TestEveryKindFamilyAndTemplateHasAPage(t *testing.T) {
	pages, err := Generate(contract.Default)
	require.NoError(t, err)
	index := string(pages[Index])
	contract.Default.Walk(func(k *contract.Kind) {
		p := "stages/" + k.Name + ".md"
		require.Contains(t, pages, p)
		assert.Contains(t, index, "("+p+")")
		// every field, nested ones as dotted paths, is documented on the page
		var walk func(prefix string, fs []contract.Field)
		walk = func(prefix string, fs []contract.Field) {
			for _, f := range fs {
				assert.Contains(t, string(pages[p]), "| `"+prefix+f.Name+"` |", "%s: field %s", k.Name, prefix+f.Name)
				walk(prefix+f.Name+".", f.Fields)
			}
		}
		if k.Name != "train" {
			walk("", k.Fields)
		}
	})
	for _, f := range models.Families() {
		p := "models/" + f.Name + ".md"
		require.Contains(t, pages, p)
		assert.Contains(t, index, "("+p+")")
		for _, param := range f.Params {
			assert.Contains(t, string(pages[p]), "| `"+param.Name+"` |")
		}
		assert.Contains(t, string(pages["stages/train.md"]), "(../models/"+f.Name+".md)")
	}
	for _, tm := range scaffold.Templates() {
		p := "tutorials/" + tm.Name + ".md"
		require.Contains(t, pages, p)
		assert.Contains(t, string(pages[p]), "biopipe init --template "+tm.Name)
		assert.Contains(t, string(pages[p]), "## Which figure to look at")
	}
	for _, h := range HandWritten {
		_, err := os.Stat(filepath.Join(docsDir, h.File))
		assert.NoError(t, err, "hand-written page linked from the index")
	}
}

// TestLinksResolve: every relative link of every docs page points at a file.
func TestLinksResolve(t *testing.T) {
	link := regexp.MustCompile(`\]\(([^)#:]+\.md)(#[^)]*)?\)`)
	require.NoError(t, filepath.Walk(docsDir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(p, ".md") {
			return err
		}
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		for _, m := range link.FindAllStringSubmatch(string(data), -1) {
			_, err := os.Stat(filepath.Join(filepath.Dir(p), m[1]))
			assert.NoError(t, err, "%s links to %s", p, m[1])
		}
		return nil
	}))
}

// TestGlossaryFieldsExist: every `kind.with.field[: value]` the glossary names is a declared
// field (and value), so the hand-written glossary cannot drift from the code.
func TestGlossaryFieldsExist(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(docsDir, "glossary.md"))
	require.NoError(t, err)
	ref := regexp.MustCompile("`([a-z_.]+)\\.with\\.([a-z_.0-9]+)(?:: ([a-z_:0-9]+))?`")
	n := 0
	for _, m := range ref.FindAllStringSubmatch(string(data), -1) {
		n++
		k, err := contract.Default.Get(m[1])
		if !assert.NoError(t, err, m[0]) {
			continue
		}
		fields := k.Fields
		var f *contract.Field
		for _, seg := range strings.Split(m[2], ".") {
			i := slices.IndexFunc(fields, func(f contract.Field) bool { return f.Name == seg })
			if !assert.GreaterOrEqual(t, i, 0, "%s: no field %q in %s", m[0], seg, k.Name) {
				f = nil
				break
			}
			f = &fields[i]
			fields = f.Fields
		}
		if f != nil && m[3] != "" && len(f.Enum) > 0 {
			assert.Contains(t, f.Enum, m[3], m[0])
		}
	}
	assert.Greater(t, n, 50, "glossary field references")
}

func TestStaleFindsChangedMissingAndExtraPages(t *testing.T) {
	pages, err := Generate(contract.Default)
	require.NoError(t, err)
	dir := t.TempDir()
	_, err = Write(dir, pages)
	require.NoError(t, err)
	stale, err := Stale(dir, pages)
	require.NoError(t, err)
	require.Empty(t, stale)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "stages", "train.md"), []byte("edited by hand"), 0o644))
	require.NoError(t, os.Remove(filepath.Join(dir, "models", "mlp.md")))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stages", "gone.kind.md"), []byte("x"), 0o644))
	stale, err = Stale(dir, pages)
	require.NoError(t, err)
	assert.Equal(t, []string{
		"models/mlp.md: missing",
		"stages/train.md: differs from the code's declarations",
		"stages/gone.kind.md: no longer generated (its kind, family or template is gone)",
	}, stale)

	changed, err := Write(dir, pages)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"models/mlp.md", "stages/train.md", "stages/gone.kind.md"}, changed)
	stale, err = Stale(dir, pages)
	require.NoError(t, err)
	assert.Empty(t, stale)
}
