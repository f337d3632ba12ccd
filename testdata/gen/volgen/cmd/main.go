// Command volgen writes the synthetic NIfTI set of package volgen.
//
//	go run ./testdata/gen/volgen/cmd -out testdata/volumes
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/biopipe/biopipe/testdata/gen/volgen"
)

func main() {
	out := flag.String("out", "testdata/volumes", "output folder")
	o := volgen.Default()
	flag.IntVar(&o.Cases, "cases", o.Cases, "cases per class")
	flag.IntVar(&o.Grid, "grid", o.Grid, "voxels per axis")
	flag.Uint64Var(&o.Seed, "seed", o.Seed, "random seed")
	flag.Parse()
	if err := volgen.Generate(*out, o); err != nil {
		fmt.Fprintln(os.Stderr, "volgen:", err)
		os.Exit(1)
	}
}
