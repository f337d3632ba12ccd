package dicom

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/csv"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"

	"github.com/biopipe/biopipe/contract"
	biodicom "github.com/biopipe/biopipe/io/dicom"
)

const dropMark = "\x00drop"

// assignLabels sets each source's label from the CSV or its folder; unlabelled sources are
// an error naming the file, or marked for dropping (counted in *dropped).
func assignLabels(srcs []*source, o *Options, dropped *int) error {
	switch o.LabelFrom {
	case LabelNone:
		return nil
	case LabelFolder:
		for _, s := range srcs {
			parts := strings.Split(s.rel, "/")
			if len(parts) < 2 {
				if err := missing(s, o, dropped, "it is not inside a class_name/ folder under path"); err != nil {
					return err
				}
				continue
			}
			s.label = parts[0]
		}
		return nil
	}
	table, err := readLabels(o)
	if err != nil {
		return err
	}
	for _, s := range srcs {
		var key string
		switch o.JoinOn {
		case JoinPath:
			key = s.rel
		case JoinSOP:
			key = s.h.SOPInstanceUID
		case JoinSeries:
			key = s.h.SeriesInstanceUID
		case JoinStudy:
			key = s.h.StudyInstanceUID
		case JoinPatient:
			key = s.h.PatientID
		}
		l, ok := table[key]
		if !ok && o.JoinOn == JoinPath {
			l, ok = table[filepath.ToSlash(s.abs)]
		}
		if !ok {
			// the key value may be identifying: name only the file and the attribute
			if err := missing(s, o, dropped, fmt.Sprintf("no row of %s matches its %s", filepath.Base(o.Labels), o.JoinOn)); err != nil {
				return err
			}
			continue
		}
		s.label = l
	}
	return nil
}

func missing(s *source, o *Options, dropped *int, why string) error {
	if o.MissingLabel == "drop" {
		s.label = dropMark
		*dropped++
		return nil
	}
	return fmt.Errorf("%s: no label: %s (set missing_label: drop to skip such files)", s.rel, why)
}

// readLabels reads key -> label from the CSV.
func readLabels(o *Options) (map[string]string, error) {
	f, err := os.Open(o.Labels)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: reading the header: %w", o.Labels, err)
	}
	ki, li := -1, -1
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if strings.EqualFold(h, o.KeyColumn) {
			ki = i
		}
		if strings.EqualFold(h, o.LabelColumn) {
			li = i
		}
	}
	if ki < 0 {
		return nil, fmt.Errorf("%s: no column %q (the join key; columns: %s)", o.Labels, o.KeyColumn, strings.Join(header, ", "))
	}
	if li < 0 {
		return nil, fmt.Errorf("%s: no column %q (the label; columns: %s)", o.Labels, o.LabelColumn, strings.Join(header, ", "))
	}
	out := map[string]string{}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.Labels, err)
		}
		if ki >= len(rec) || li >= len(rec) {
			return nil, fmt.Errorf("%s:%d: %d fields, want at least %d", o.Labels, line, len(rec), max(ki, li)+1)
		}
		key, label := strings.TrimSpace(rec[ki]), strings.TrimSpace(rec[li])
		if o.JoinOn == JoinPath {
			key = filepath.ToSlash(filepath.Clean(key))
		}
		if label == "" {
			continue
		}
		if prev, ok := out[key]; ok && prev != label {
			return nil, fmt.Errorf("%s:%d: key in column %q has two labels (%q and %q)", o.Labels, line, o.KeyColumn, prev, label)
		}
		out[key] = label
	}
	return out, nil
}

// pseudonymizer maps identifiers to salted pseudonyms (HMAC-SHA256 with the project salt),
// or passes them through when de-identification is off.
type pseudonymizer struct {
	salt []byte
	on   bool
}

func (p *pseudonymizer) mac(kind, v string) []byte {
	m := hmac.New(sha256.New, p.salt)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(v))
	return m.Sum(nil)
}

// patient returns the patient pseudonym "P" + 12 hex digits (PatientID; else name and
// birth date; else "unknown").
func (p *pseudonymizer) patient(h *biodicom.Header) string {
	id := h.PatientID
	if id == "" && (h.PatientName != "" || h.PatientBirthDate != "") {
		id = "name:" + h.PatientName + "|" + h.PatientBirthDate
	}
	if !p.on {
		if id == "" {
			return "unknown"
		}
		return h.PatientID
	}
	if id == "" {
		id = "unknown"
	}
	return contract.PatientPseudonym(p.salt, id)
}

// uid returns a pseudonymous UID under the 2.25 root (derived from a UUID-sized hash).
func (p *pseudonymizer) uid(v string) string {
	if !p.on {
		return v
	}
	n := new(big.Int).SetBytes(p.mac("uid", v)[:16])
	return "2.25." + n.String()
}
