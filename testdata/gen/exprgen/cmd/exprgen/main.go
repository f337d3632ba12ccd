// Command exprgen writes the simulated single-cell dataset of package exprgen: a 10x
// folder and an annotation CSV.
//
//	go run ./testdata/gen/exprgen/cmd/exprgen -out testdata/expr/sim10x -annotation testdata/expr/sim10x-cells.csv
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/biopipe/biopipe/testdata/gen/exprgen"
)

func main() {
	p := exprgen.Default()
	out := flag.String("out", "sim10x", "output 10x folder")
	ann := flag.String("annotation", "sim10x-cells.csv", "output annotation CSV")
	flag.IntVar(&p.Cells, "cells", p.Cells, "cells")
	flag.IntVar(&p.Genes, "genes", p.Genes, "genes")
	flag.IntVar(&p.MarkersPerType, "markers", p.MarkersPerType, "marker genes per cell type")
	flag.Uint64Var(&p.Seed, "seed", p.Seed, "random seed")
	flag.Parse()
	d, err := exprgen.Generate(p)
	if err == nil {
		err = d.Write(*out, *ann)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "exprgen:", err)
		os.Exit(1)
	}
	st := d.Matrix.Summary(3)
	fmt.Printf("%s: %d cells x %d genes, %.1f%% zeros, median library size %.0f; annotation %s\n",
		*out, st.Samples, st.Genes, 100*st.ZeroFraction, st.SampleSums.Median, *ann)
}
