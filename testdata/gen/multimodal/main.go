// Command multimodal writes the synthetic imaging + clinical set of configs/multimodal.yaml:
// one CT series per patient (the io/dicom/dicomgen study generator: a dense lung nodule,
// round or elongated) and a per-patient clinical table, with an outcome that depends on
// both: positive when w s + z + 0.35 e > 0, where s is +1 for an elongated nodule and -1 for a
// round one (seen only in the images), w the image weight (0.8), z the standardised biomarker (seen only in the
// table) and e standard normal noise. Neither source alone predicts the outcome well; both
// together do. Age and sex are in the table without any signal.
//
//	go run ./testdata/gen/multimodal -out testdata/multimodal -patients 160 -slices 2 -size 32
package main

import (
	"encoding/csv"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"github.com/biopipe/biopipe/io/dicom/dicomgen"
)

func main() {
	out := flag.String("out", "testdata/multimodal", "output folder (scans/ and clinical.csv are written in it)")
	patients := flag.Int("patients", 160, "number of patients")
	slices := flag.Int("slices", 2, "slices per patient (one series)")
	size := flag.Int("size", 32, "rows and columns of each slice")
	seed := flag.Uint64("seed", 1, "random seed")
	noise := flag.Float64("noise", 0.35, "sd of the noise e in the outcome")
	weight := flag.Float64("image-weight", 0.8, "weight w of the nodule shape in the outcome")
	flag.Parse()
	if err := write(*out, *patients, *slices, *size, *seed, *noise, *weight); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func write(dir string, patients, slices, size int, seed uint64, noise, weight float64) error {
	rng := rand.New(rand.NewPCG(seed, 0x6d6d))
	type patient struct {
		class       string
		z, age, sex float64
		positive    bool
	}
	ps := make([]patient, patients)
	classes := make([]string, patients)
	for i := range ps {
		p := &ps[i]
		s := -1.0
		p.class = dicomgen.Round
		if rng.IntN(2) == 1 {
			s, p.class = 1, dicomgen.Elongated
		}
		p.z = rng.NormFloat64()
		p.age = 62 + 10*rng.NormFloat64()
		p.sex = float64(rng.IntN(2))
		p.positive = weight*s+p.z+noise*rng.NormFloat64() > 0
		classes[i] = p.class
	}
	set, err := dicomgen.WriteStudySet(filepath.Join(dir, "scans"), dicomgen.StudyOptions{
		Patients: patients, SeriesPerPatient: 1, Slices: slices, Size: size, Seed: seed,
		ByPatient: true, PatientClass: classes,
	})
	if err != nil {
		return err
	}
	// labels.csv of the study set names the nodule class: the image signal itself, which
	// the pipeline must not see. Remove it; the outcome is in the clinical table only.
	if err := os.Remove(filepath.Join(dir, "scans", "labels.csv")); err != nil {
		return err
	}
	// The patient IDs the generator wrote, in patient order (files come patient by patient).
	var ids []string
	for _, f := range set.Files {
		if len(ids) == 0 || ids[len(ids)-1] != f.PatientID {
			ids = append(ids, f.PatientID)
		}
	}
	if len(ids) != patients {
		return fmt.Errorf("multimodal: %d patient IDs in the study set for %d patients", len(ids), patients)
	}
	f, err := os.Create(filepath.Join(dir, "clinical.csv"))
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"patient_id", "age", "sex", "biomarker", "outcome"})
	for i, p := range ps {
		outcome := "negative"
		if p.positive {
			outcome = "positive"
		}
		// The biomarker in clinical units: mean 5.0, sd 1.5.
		_ = w.Write([]string{ids[i], strconv.FormatFloat(p.age, 'f', 0, 64), strconv.FormatFloat(p.sex, 'f', 0, 64),
			strconv.FormatFloat(5+1.5*p.z, 'f', 2, 64), outcome})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
