// Command dicom writes a synthetic CT study set (see package io/dicom/dicomgen):
//
//	go run ./testdata/gen/dicom -out /tmp/studies -patients 8 -series 4 -slices 6 -size 64
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/biopipe/biopipe/io/dicom/dicomgen"
)

func main() {
	var o dicomgen.StudyOptions
	out := flag.String("out", "dicom-studies", "output folder")
	flag.IntVar(&o.Patients, "patients", 8, "number of patients")
	flag.IntVar(&o.SeriesPerPatient, "series", 4, "series per patient (lesion classes alternate)")
	flag.IntVar(&o.Slices, "slices", 6, "slices per series")
	flag.IntVar(&o.Size, "size", 64, "rows and columns")
	flag.Uint64Var(&o.Seed, "seed", 1, "random seed")
	flag.StringVar(&o.TransferSyntaxUID, "syntax", "", "transfer syntax UID (default Explicit VR Little Endian; 1.2.840.10008.1.2.5 = RLE)")
	flag.BoolVar(&o.ByPatient, "by-patient", false, "lay out files by patient (case<NN>/series<k>) instead of by class")
	flag.Parse()
	set, err := dicomgen.WriteStudySet(*out, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("wrote %d files and %s/labels.csv\n", len(set.Files), *out)
}
