// Command digitspng renders scikit-learn's digits as a class-per-folder PNG tree.
//
//	go run ./testdata/gen/digitspng/cmd -out testdata/digits/png
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/biopipe/biopipe/testdata/gen/digitspng"
)

func main() {
	in := flag.String("in", "testdata/digits/digits.csv.gz", "the digits CSV")
	out := flag.String("out", "testdata/digits/png", "output folder")
	flag.Parse()
	n, err := digitspng.Render(*in, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "digitspng:", err)
		os.Exit(1)
	}
	fmt.Printf("%d images under %s\n", n, *out)
}
