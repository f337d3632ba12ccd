//go:build ignore

// gen writes xor.csv: the XOR problem for configs/xor.yaml. Train and val rows are the four
// corners of the unit square with Gaussian jitter (sd 0.15); the test rows are the four
// corners themselves, XOR's truth table, on which no line (no perceptron) can get more
// than three right.
//
//	go run testdata/xor/gen.go > testdata/xor/xor.csv
package main

import (
	"fmt"
	"math/rand/v2"
)

func main() {
	r := rand.New(rand.NewPCG(1969, 1958)) // Minsky & Papert; Rosenblatt
	corners := [][3]int{{0, 0, 0}, {0, 1, 1}, {1, 0, 1}, {1, 1, 0}}
	fmt.Println("x1,x2,xor,split")
	for _, split := range []struct {
		name string
		per  int
	}{{"train", 30}, {"val", 8}} {
		for i := range split.per * 4 {
			c := corners[i%4]
			fmt.Printf("%.4f,%.4f,%d,%s\n", float64(c[0])+0.15*r.NormFloat64(), float64(c[1])+0.15*r.NormFloat64(), c[2], split.name)
		}
	}
	for _, c := range corners {
		fmt.Printf("%d,%d,%d,test\n", c[0], c[1], c[2])
	}
}
