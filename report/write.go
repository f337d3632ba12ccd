package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/llm"
)

// NarrativeFile records the LLM draft (text, model, attempts; never the key or the prompt)
// so that Regenerate can rebuild the report without calling the LLM again.
const NarrativeFile = "narrative.json"

// Write stores report.md, report.html, the figures and narrative.json in dir.
func Write(dir string, b *Built) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	files := map[string][]byte{
		contract.ReportMD:   b.Doc.Markdown(),
		contract.ReportHTML: b.Doc.HTML(),
	}
	for _, f := range b.Doc.Figures() {
		files[f.File] = f.PNG
	}
	if b.Draft != nil {
		j, err := json.MarshalIndent(b.Draft, "", "  ")
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		files[NarrativeFile] = append(j, '\n')
	}
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := dataset.AtomicWrite(path, func(w *os.File) error { _, err := w.Write(data); return err }); err != nil {
			return fmt.Errorf("report: writing %s: %w", path, err)
		}
	}
	return nil
}

// ReadDraft reads narrative.json from a report folder (nil, nil when there is none).
func ReadDraft(dir string) (*llm.Draft, error) {
	b, err := os.ReadFile(filepath.Join(dir, NarrativeFile))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	d := &llm.Draft{}
	if err := json.Unmarshal(b, d); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, NarrativeFile), err)
	}
	return d, nil
}
