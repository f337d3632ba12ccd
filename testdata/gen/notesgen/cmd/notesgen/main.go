// Command notesgen writes the synthetic clinical notes of package notesgen as CSV.
//
//	go run ./testdata/gen/notesgen/cmd/notesgen -out testdata/notes/notes.csv
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/biopipe/biopipe/testdata/gen/notesgen"
)

func main() {
	out := flag.String("out", "notes.csv", "output CSV")
	n := flag.Int("n", notesgen.DefaultN, "notes (two per patient)")
	seed := flag.Uint64("seed", notesgen.DefaultSeed, "random seed")
	flag.Parse()
	f, err := os.Create(*out)
	if err == nil {
		err = notesgen.WriteCSV(f, notesgen.Generate(*n, *seed))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "notesgen:", err)
		os.Exit(1)
	}
	fmt.Printf("%s: %d notes\n", *out, *n)
}
