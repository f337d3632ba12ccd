// Package inspect is the registry behind `biopipe inspect FILE`: each format package
// registers an Inspector that recognises its files and summarises one.
package inspect

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Inspector summarises one kind of data file.
type Inspector struct {
	Name string // format name, e.g. "dicom"
	// Match reports whether this inspector handles the path (by extension or magic bytes).
	Match func(path string, head []byte) bool
	// Inspect returns a JSON-marshalable summary of the file.
	Inspect func(ctx context.Context, path string) (any, error)
	// Text writes a human-readable summary; nil prints indented JSON.
	Text func(w io.Writer, summary any) error
}

var (
	mu         sync.RWMutex
	inspectors []*Inspector
)

// Register adds an inspector; later registrations are tried after earlier ones.
func Register(i *Inspector) {
	mu.Lock()
	defer mu.Unlock()
	inspectors = append(inspectors, i)
}

// Find returns the inspector for path, reading its first bytes for magic numbers.
func Find(path string) (*Inspector, error) {
	head := make([]byte, 512)
	if st, err := os.Stat(path); err != nil {
		return nil, err
	} else if !st.IsDir() {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		n, _ := io.ReadFull(f, head)
		head = head[:n]
		f.Close()
	} else {
		head = nil
	}
	mu.RLock()
	defer mu.RUnlock()
	for _, i := range inspectors {
		if i.Match(path, head) {
			return i, nil
		}
	}
	var names []string
	for _, i := range inspectors {
		names = append(names, i.Name)
	}
	return nil, fmt.Errorf("%s: unrecognised file type (known formats: %s)", path, strings.Join(names, ", "))
}

// Ext reports whether path ends with one of the extensions (case-insensitive, ".gz" aware).
func Ext(path string, exts ...string) bool {
	p := strings.ToLower(filepath.Base(path))
	for _, e := range exts {
		if strings.HasSuffix(p, strings.ToLower(e)) {
			return true
		}
	}
	return false
}

// WriteJSON writes v as indented JSON.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Named returns the inspector registered under name (for `biopipe inspect --as NAME`).
func Named(name string) (*Inspector, error) {
	mu.RLock()
	defer mu.RUnlock()
	var names []string
	for _, i := range inspectors {
		if i.Name == name {
			return i, nil
		}
		names = append(names, i.Name)
	}
	return nil, fmt.Errorf("no inspector %q (known: %s)", name, strings.Join(names, ", "))
}
