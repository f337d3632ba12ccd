package dicomgen

import (
	"encoding/csv"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
)

// Lesion classes of a generated study set.
const (
	Round     = "round"
	Elongated = "elongated"
)

// StudyOptions configures WriteStudySet. Zero values take the defaults in brackets.
type StudyOptions struct {
	Patients          int    // patients [8]
	SeriesPerPatient  int    // CT series per patient, classes alternating [4]
	Slices            int    // slices per series [6]
	Size              int    // rows = columns [64]
	Seed              uint64 // random seed [1]
	TransferSyntaxUID string // "" = Explicit VR Little Endian; RLE Lossless also works
	// ByPatient lays files out as case<NN>/series<k>/ instead of <class>/case<NN>_s<k>/.
	ByPatient bool
	// PatientClass, when set (one entry per patient, Round or Elongated), gives every series
	// of patient p a lesion of class PatientClass[p] instead of alternating classes.
	PatientClass []string
}

// StudyFile is one written file.
type StudyFile struct {
	Path              string // relative to the set's folder, slash-separated
	Label             string
	PatientID         string
	SOPInstanceUID    string
	SeriesInstanceUID string
	StudyInstanceUID  string
	InstanceNumber    int
}

// StudySet describes a written study set.
type StudySet struct {
	Dir   string
	Files []StudyFile
	// PHI lists every identifying string written into the files (names, IDs, birth dates,
	// accession numbers, study dates, institution, physician), for de-identification tests.
	PHI []string
}

var (
	givenNames  = []string{"Jane", "John", "Maria", "Ahmed", "Yuki", "Olga", "Pedro", "Amara", "Liam", "Sofia", "Chen", "Noor"}
	familyNames = []string{"Doe", "Smith", "Garcia", "Okafor", "Tanaka", "Ivanova", "Silva", "Haddad", "Murphy", "Rossi", "Wang", "Khan"}
)

// WriteStudySet writes a synthetic CT study set into dir: several patients, each with
// series of axial slices (CT-like Hounsfield units stored as unsigned 12-bit values with
// Rescale Intercept -1024) showing a body outline, two lungs and one dense lesion (150-250 HU) whose shape is
// the class: round or elongated. It also writes dir/labels.csv (path, sop_instance_uid,
// series_instance_uid, patient_id, label).
func WriteStudySet(dir string, o StudyOptions) (*StudySet, error) {
	if o.Patients == 0 {
		o.Patients = 8
	}
	if o.SeriesPerPatient == 0 {
		o.SeriesPerPatient = 4
	}
	if o.Slices == 0 {
		o.Slices = 6
	}
	if o.Size == 0 {
		o.Size = 64
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.PatientClass != nil && len(o.PatientClass) != o.Patients {
		return nil, fmt.Errorf("dicomgen: %d patient classes for %d patients", len(o.PatientClass), o.Patients)
	}
	for _, c := range o.PatientClass {
		if c != Round && c != Elongated {
			return nil, fmt.Errorf("dicomgen: patient class %q: want %q or %q", c, Round, Elongated)
		}
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	set := &StudySet{Dir: dir}
	phi := map[string]bool{}
	root := fmt.Sprintf("2.25.%d", 100000+rng.IntN(900000))
	for p := 0; p < o.Patients; p++ {
		name := fmt.Sprintf("%s^%s", familyNames[rng.IntN(len(familyNames))], givenNames[rng.IntN(len(givenNames))])
		pid := fmt.Sprintf("MRN%07d", rng.IntN(10000000))
		birth := fmt.Sprintf("19%02d%02d%02d", 30+rng.IntN(70), 1+rng.IntN(12), 1+rng.IntN(28))
		studyUID := fmt.Sprintf("%s.%d.1", root, p+1)
		accession := fmt.Sprintf("ACC%06d", rng.IntN(1000000))
		studyDate := fmt.Sprintf("20%02d%02d%02d", 10+rng.IntN(15), 1+rng.IntN(12), 1+rng.IntN(28))
		institution := "St. Example General Hospital"
		physician := fmt.Sprintf("%s^%s^^Dr.", familyNames[rng.IntN(len(familyNames))], givenNames[rng.IntN(len(givenNames))])
		for _, s := range []string{name, pid, birth, accession, studyDate, institution, physician} {
			phi[s] = true
		}
		for s := 0; s < o.SeriesPerPatient; s++ {
			class := Round
			if (s+p)%2 == 1 {
				class = Elongated
			}
			if o.PatientClass != nil {
				class = o.PatientClass[p]
			}
			seriesUID := fmt.Sprintf("%s.%d.%d", root, p+1, s+2)
			les := newLesion(rng, class, o.Size)
			z0 := -100 + 10*rng.Float64()
			for k := 0; k < o.Slices; k++ {
				in := &Instance{
					PatientName: name, PatientID: pid, PatientBirthDate: birth,
					StudyInstanceUID: studyUID, SeriesInstanceUID: seriesUID,
					SOPInstanceUID: fmt.Sprintf("%s.%d", seriesUID, k+1),
					StudyDate:      studyDate, AccessionNumber: accession,
					InstitutionName: institution, ReferringPhysician: physician,
					Modality: "CT", InstanceNumber: k + 1,
					ImagePositionPatient:    []float64{-22.4, -22.4, z0 + 2.5*float64(k)},
					ImageOrientationPatient: []float64{1, 0, 0, 0, 1, 0},
					PixelSpacing:            []float64{0.7, 0.7}, SliceThickness: 2.5,
					Rows: o.Size, Columns: o.Size, BitsAllocated: 16, BitsStored: 12,
					RescaleSlope: 1, RescaleIntercept: -1024, WindowCenter: -600, WindowWidth: 1500,
					TransferSyntaxUID: o.TransferSyntaxUID,
				}
				// slices through the lesion: its cross-section shrinks away from the middle slice
				t := (float64(k) - float64(o.Slices-1)/2) / float64(o.Slices)
				in.Values = renderSlice(rng, o.Size, les, 1-0.6*t*t)
				var rel string
				if o.ByPatient {
					rel = fmt.Sprintf("case%02d/series%d/IM%04d.dcm", p+1, s+1, k+1)
				} else {
					rel = fmt.Sprintf("%s/case%02d_s%d/IM%04d.dcm", class, p+1, s+1, k+1)
				}
				if err := in.WriteFile(filepath.Join(dir, filepath.FromSlash(rel))); err != nil {
					return nil, err
				}
				set.Files = append(set.Files, StudyFile{Path: rel, Label: class, PatientID: pid,
					SOPInstanceUID: in.SOPInstanceUID, SeriesInstanceUID: seriesUID, StudyInstanceUID: studyUID, InstanceNumber: k + 1})
			}
		}
	}
	for s := range phi {
		set.PHI = append(set.PHI, s)
	}
	sort.Strings(set.PHI)
	return set, set.writeLabels(filepath.Join(dir, "labels.csv"))
}

func (s *StudySet) writeLabels(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"path", "sop_instance_uid", "series_instance_uid", "patient_id", "label"})
	for _, sf := range s.Files {
		_ = w.Write([]string{sf.Path, sf.SOPInstanceUID, sf.SeriesInstanceUID, sf.PatientID, sf.Label})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

type lesion struct {
	cx, cy, a, b, angle float64
	hu                  float64
}

func newLesion(rng *rand.Rand, class string, size int) lesion {
	s := float64(size) / 64
	l := lesion{angle: rng.Float64() * math.Pi, hu: 150 + 100*rng.Float64()} // a dense (calcified or enhancing) nodule
	// inside the left or right lung
	side := -1.0
	if rng.IntN(2) == 1 {
		side = 1
	}
	l.cx = float64(size)/2 + side*(13+2*rng.Float64())*s
	l.cy = float64(size)/2 + (rng.Float64()*6-3)*s
	if class == Round {
		r := (6 + 2*rng.Float64()) * s
		l.a, l.b = r, r
	} else {
		l.a = (11 + 2*rng.Float64()) * s
		l.b = (2.5 + 1*rng.Float64()) * s
	}
	return l
}

// renderSlice returns stored values (HU + 1024) of one slice.
func renderSlice(rng *rand.Rand, size int, l lesion, scale float64) []int64 {
	out := make([]int64, size*size)
	c := float64(size) / 2
	s := float64(size) / 64
	cosA, sinA := math.Cos(l.angle), math.Sin(l.angle)
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			fx, fy := float64(x)+0.5, float64(y)+0.5
			hu := -1000.0 + rng.NormFloat64()*10
			if sq((fx-c)/(29*s))+sq((fy-c)/(23*s)) <= 1 { // body: soft tissue
				hu = 40 + rng.NormFloat64()*15
				for _, side := range []float64{-1, 1} { // lungs
					if sq((fx-c-side*13*s)/(10*s))+sq((fy-c)/(16*s)) <= 1 {
						hu = -850 + rng.NormFloat64()*40
					}
				}
			}
			dx, dy := fx-l.cx, fy-l.cy
			u, v := dx*cosA+dy*sinA, -dx*sinA+dy*cosA
			if sq(u/(l.a*scale))+sq(v/(l.b*math.Sqrt(scale))) <= 1 {
				hu = l.hu + rng.NormFloat64()*10
			}
			out[y*size+x] = int64(math.Round(math.Max(0, math.Min(4095, hu+1024))))
		}
	}
	return out
}

func sq(x float64) float64 { return x * x }
