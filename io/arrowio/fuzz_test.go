package arrowio

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/biopipe/biopipe/dataset"
)

// fuzzFrame is a small frame with the column kinds a table artifact holds.
func fuzzFrame(f *testing.F) *dataset.Frame {
	fr, _, err := DecodeCSV(bytes.NewReader([]byte("id,age,sex,label\np1,42,F,yes\np2,,M,no\np3,61.5,F,yes\n")), "seed.csv", CSVOptions{})
	if err != nil {
		f.Fatal(err)
	}
	return fr
}

// fuzzFile writes data to a file named name in a fresh folder and returns its path.
func fuzzFile(t *testing.T, name string, data []byte) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// slow fails an input that takes longer than a few seconds (a loop sized by a header field).
func slow(t *testing.T) func() {
	st := time.Now()
	return func() {
		if d := time.Since(st); d > 10*time.Second { // generous: CI machines are small and shared
			t.Fatalf("slow input: %v", d)
		}
	}
}

// FuzzReadParquet checks that a corrupt Parquet file is an error naming the file, never a
// panic (arrow-go's reader panics on some; ReadParquet recovers at our boundary).
func FuzzReadParquet(f *testing.F) {
	fr := fuzzFrame(f)
	dir := f.TempDir()
	p := filepath.Join(dir, "seed.parquet")
	if err := WriteParquet(fr, p); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(append([]byte("PAR1"), b[4:]...))
	f.Add([]byte("PAR1\x00\x00\x00\x00PAR1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		defer slow(t)()
		path := fuzzFile(t, "in.parquet", data)
		out, err := ReadParquet(context.Background(), path)
		if err != nil {
			if !bytes.Contains([]byte(err.Error()), []byte(path)) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if err := out.Validate(); err != nil {
			t.Fatalf("read a frame that does not validate: %v", err)
		}
	})
}

// FuzzReadIPC checks that a corrupt Arrow IPC file or stream is an error, never a panic.
func FuzzReadIPC(f *testing.F) {
	fr := fuzzFrame(f)
	p := filepath.Join(f.TempDir(), "seed.arrow")
	if err := WriteIPC(fr, p); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add([]byte("ARROW1\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		defer slow(t)()
		path := fuzzFile(t, "in.arrow", data)
		out, err := ReadIPC(path)
		if err != nil {
			if !bytes.Contains([]byte(err.Error()), []byte(path)) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if err := out.Validate(); err != nil {
			t.Fatalf("read a frame that does not validate: %v", err)
		}
	})
}
