// Package notesgen generates synthetic clinical notes with known truth (smoking status,
// pack-years, a respiratory diagnosis, metastasis) for the extract.llm stage, and holds
// Read, a rule-based reader that stands in for a language model behind the fake
// OpenAI-compatible server of tests and of configs/notes-extract.yaml.
//
// Every note also carries planted identifiers (a name, a record number, a phone number, an
// e-mail address, a street address and dates), all invented, so that tests can check what
// reaches an untrusted endpoint. Nothing here comes from a real patient.
package notesgen

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Note is one generated note and its truth.
type Note struct {
	ID         string
	Patient    string // patient id (group)
	Name       string // planted: the patient's name
	MRN        string // planted: medical record number
	Phone      string // planted
	Email      string // planted
	Address    string // planted
	Visit      string // planted: the visit date, YYYY-MM-DD
	Age        int
	Text       string  // the note
	Smoker     string  // never, former, current
	PackYears  float64 // NaN-free: valid only when HasPack
	HasPack    bool
	Diagnosis  string // copd, asthma, lung_cancer, pneumonia
	Metastasis bool
}

var (
	first  = []string{"Alice", "Bernard", "Chiara", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Katrin", "Lucas", "Marta", "Nils", "Olga", "Pavel", "Rosa", "Stefan", "Tamara", "Viktor"}
	last   = []string{"Albrecht", "Brennan", "Castellano", "Dubois", "Eriksen", "Fontaine", "Grabowski", "Halloran", "Iversen", "Jankowski", "Kowalczyk", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov", "Quintero", "Rasmussen", "Szabo", "Thornton"}
	street = []string{"Maple Street", "Harbor Road", "Linden Avenue", "Quarry Lane", "Birch Drive", "Mill Court"}
	town   = []string{"Springfield", "Riverton", "Oakdale", "Fairview"}
)

// Generate returns n notes of n/2 patients (two visits each), deterministic in seed.
func Generate(n int, seed uint64) []Note {
	rng := rand.New(rand.NewPCG(seed, 0x6e6f746573))
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	var out []Note
	base := time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC)
	for p := 0; len(out) < n; p++ {
		fn, ln := pick(first), pick(last)
		pt := Note{
			Patient: fmt.Sprintf("PT%04d", p+1),
			Name:    fn + " " + ln,
			MRN:     fmt.Sprintf("%08d", 40000000+rng.IntN(9999999)),
			Phone:   fmt.Sprintf("(%03d) %03d-%04d", 200+rng.IntN(700), 200+rng.IntN(700), rng.IntN(10000)),
			Email:   strings.ToLower(fn+"."+ln) + fmt.Sprintf("%d@example.org", rng.IntN(100)),
			Address: fmt.Sprintf("%d %s, %s", 1+rng.IntN(400), pick(street), pick(town)),
			Age:     38 + rng.IntN(45),
		}
		pt.Smoker = []string{"never", "former", "current"}[rng.IntN(3)]
		if pt.Smoker != "never" && rng.IntN(5) > 0 {
			pt.PackYears, pt.HasPack = float64(2+rng.IntN(60))+0.5*float64(rng.IntN(2)), true
		}
		pt.Diagnosis = []string{"copd", "asthma", "lung_cancer", "pneumonia"}[rng.IntN(4)]
		pt.Metastasis = pt.Diagnosis == "lung_cancer" && rng.IntN(2) == 0
		visit := base.AddDate(0, 0, rng.IntN(1500))
		for v := 0; v < 2 && len(out) < n; v++ {
			note := pt
			note.ID = fmt.Sprintf("N%05d", len(out)+1)
			note.Visit = visit.Format("2006-01-02")
			note.Text = write(rng, &note, visit, v)
			out = append(out, note)
			visit = visit.AddDate(0, 0, 14+rng.IntN(120))
		}
	}
	return out
}

func write(rng *rand.Rand, n *Note, visit time.Time, v int) string {
	pick := func(s ...string) string { return s[rng.IntN(len(s))] }
	py := strconv.FormatFloat(n.PackYears, 'f', -1, 64)
	quit := strconv.Itoa(visit.Year() - 1 - rng.IntN(15))
	var b strings.Builder
	title := pick("Mr.", "Ms.", "Mrs.")
	fmt.Fprintf(&b, "%s %s %s", pick("Clinic visit", "Pulmonology follow-up", "Respiratory clinic note"), pick("on", "dated"), dateText(rng, visit))
	fmt.Fprintf(&b, ". Patient: %s (MRN %s), %d-year-old. ", n.Name, n.MRN, n.Age)
	fmt.Fprintf(&b, "Contact %s or %s; lives at %s. ", n.Phone, n.Email, n.Address)
	if v == 1 {
		fmt.Fprintf(&b, "%s %s returns for follow-up. ", title, strings.Fields(n.Name)[1])
	}
	switch n.Smoker {
	case "never":
		b.WriteString(pick("Never smoker. ", "Denies any tobacco use. ", "Has never smoked. ", "Lifelong non-smoker. ", "Tobacco: none. ", "Never smoker; partner smokes at home. "))
	case "former":
		if n.HasPack {
			b.WriteString(pick("Former smoker, "+py+" pack-years, quit in "+quit+". ", "Quit smoking in "+quit+" after "+py+" pack-years. ",
				"Ex-smoker ("+py+" pack-year history). ", "Stopped smoking in "+quit+"; smoking history of "+py+" pack-years. ", "Gave up cigarettes in "+quit+" ("+py+" pack-years). "))
		} else {
			b.WriteString(pick("Former smoker, quit in "+quit+". ", "Ex-smoker. ", "Quit smoking years ago. "))
		}
	case "current":
		if n.HasPack {
			b.WriteString(pick("Current smoker, "+py+" pack-years. ", "Active smoker with a "+py+" pack-year history. ",
				"Continues to smoke, about "+py+" pack-years. ", "Smokes "+strconv.Itoa(5+rng.IntN(25))+" cigarettes a day; "+py+" pack-year history. "))
		} else {
			b.WriteString(pick("Current smoker. ", "Still smoking daily. ", "Smokes a pack a day; declined cessation counselling. "))
		}
	}
	switch n.Diagnosis {
	case "copd":
		b.WriteString(pick("Assessment: COPD exacerbation. ", "Spirometry consistent with chronic obstructive pulmonary disease. ", "FEV1/FVC 0.58; COPD, GOLD 2. No history of asthma. "))
	case "asthma":
		b.WriteString(pick("Assessment: asthma, moderate persistent. ", "Asthma, well controlled on inhaled steroids. ", "Wheeze reversible with salbutamol; asthma. Not consistent with COPD. "))
	case "lung_cancer":
		b.WriteString(pick("Biopsy confirmed adenocarcinoma of the right upper lobe. ", "Assessment: non-small cell lung cancer. ", "Squamous cell carcinoma of the left lung on bronchoscopic biopsy. "))
	case "pneumonia":
		b.WriteString(pick("Chest X-ray shows right lower lobe pneumonia. ", "Community-acquired pneumonia, started on amoxicillin. ", "Assessment: pneumonia of the left lower lobe. "))
	}
	switch {
	case n.Metastasis:
		b.WriteString(pick("PET-CT shows metastases to the liver. ", "Staging MRI: brain metastasis. ", "Metastatic disease to the adrenal gland. "))
	case n.Diagnosis == "lung_cancer":
		b.WriteString(pick("Staging CT: no distant metastases. ", "No evidence of metastatic disease. "))
	default:
		b.WriteString(pick("No evidence of malignancy. ", "No suspicious lesions. ", ""))
	}
	fmt.Fprintf(&b, "Next review on %s.", dateText(rng, visit.AddDate(0, 0, 28+rng.IntN(60))))
	return b.String()
}

func dateText(rng *rand.Rand, t time.Time) string {
	switch rng.IntN(3) {
	case 0:
		return t.Format("2006-01-02")
	case 1:
		return t.Format("01/02/2006")
	}
	return t.Format("January 2, 2006")
}

// Header is the CSV header WriteCSV writes.
var Header = []string{"note_id", "patient_id", "patient_name", "mrn", "note", "smoking_status", "pack_years_true", "diagnosis_true", "metastasis_true"}

// WriteCSV writes notes as CSV (empty cell = not stated).
func WriteCSV(w io.Writer, notes []Note) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(Header); err != nil {
		return err
	}
	for _, n := range notes {
		py := ""
		if n.HasPack {
			py = strconv.FormatFloat(n.PackYears, 'f', -1, 64)
		}
		if err := cw.Write([]string{n.ID, n.Patient, n.Name, n.MRN, n.Text, n.Smoker, py, n.Diagnosis, strconv.FormatBool(n.Metastasis)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

var (
	packRE     = regexp.MustCompile(`(?i)(\d+(?:\.\d+)?)[ -]pack[ -]year`)
	neverRE    = regexp.MustCompile(`(?i)never smok|non-smoker|denies any tobacco|has never smoked`)
	formerRE   = regexp.MustCompile(`(?i)former smoker|ex-smoker|quit smoking|stopped smoking`)
	currentRE  = regexp.MustCompile(`(?i)current smoker|active smoker|continues to smoke|still smoking|\bsmokes\b`)
	metaYesRE  = regexp.MustCompile(`(?i)\bmetastases to|metastasis\.|metastatic disease to`)
	metaNoRE   = regexp.MustCompile(`(?i)no (?:distant )?metasta|no evidence of (?:metastatic|malignancy)|no suspicious`)
	negatedDx  = regexp.MustCompile(`(?i)(?:no history of|not consistent with) (\w+)`)
	diagnosisK = []struct {
		re    *regexp.Regexp
		label string
	}{
		{regexp.MustCompile(`(?i)carcinoma|lung cancer`), "lung_cancer"},
		{regexp.MustCompile(`(?i)\bCOPD\b|chronic obstructive`), "copd"},
		{regexp.MustCompile(`(?i)\basthma\b`), "asthma"},
		{regexp.MustCompile(`(?i)pneumonia`), "pneumonia"},
	}
)

// Read is a rule-based reader of a note: the fake model's answer as a JSON object with
// smoker, pack_years, diagnosis and metastasis (null where its rules find nothing). It reads
// the text only, never the truth, and misses phrasings its rules do not know.
func Read(note string) string {
	ans := map[string]any{"smoker": nil, "pack_years": nil, "diagnosis": nil, "metastasis": nil}
	switch {
	case neverRE.MatchString(note):
		ans["smoker"] = "never"
	case formerRE.MatchString(note):
		ans["smoker"] = "former"
	case currentRE.MatchString(note):
		ans["smoker"] = "current"
	}
	if m := packRE.FindStringSubmatch(note); m != nil {
		v, _ := strconv.ParseFloat(m[1], 64)
		ans["pack_years"] = v
	}
	clean := negatedDx.ReplaceAllString(note, "")
	for _, k := range diagnosisK {
		if k.re.MatchString(clean) {
			ans["diagnosis"] = k.label
			break
		}
	}
	switch {
	case metaNoRE.MatchString(note):
		ans["metastasis"] = false
	case metaYesRE.MatchString(note):
		ans["metastasis"] = true
	case ans["diagnosis"] != nil && ans["diagnosis"] != "lung_cancer":
		ans["metastasis"] = false
	}
	b, _ := json.Marshal(ans)
	return string(b)
}

// Prefix opens the user message extract.llm sends before the note.
const Prefix = "Clinical note:\n"

// Answer is Read on the note of a user message of extract.llm.
func Answer(user string) string { return Read(strings.TrimPrefix(user, Prefix)) }

// DefaultN and DefaultSeed are those of testdata/notes/notes.csv.
const (
	DefaultN    = 240
	DefaultSeed = 14
)
