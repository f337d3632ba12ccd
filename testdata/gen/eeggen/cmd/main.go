// Command eeggen writes the synthetic EEG data set of package eeggen.
//
//	go run ./testdata/gen/eeggen/cmd -out testdata/eeg
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/biopipe/biopipe/testdata/gen/eeggen"
)

func main() {
	out := flag.String("out", "testdata/eeg", "output folder")
	o := eeggen.Default()
	flag.IntVar(&o.Subjects, "subjects", o.Subjects, "number of subjects")
	flag.IntVar(&o.Events, "events", o.Events, "events per subject")
	flag.Uint64Var(&o.Seed, "seed", o.Seed, "random seed")
	flag.Parse()
	if err := eeggen.Generate(*out, o); err != nil {
		fmt.Fprintln(os.Stderr, "eeggen:", err)
		os.Exit(1)
	}
}
