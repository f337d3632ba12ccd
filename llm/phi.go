package llm

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Trust says why raw text may go to an endpoint ("" when it may not): its host is this
// machine (localhost, a loopback address) and trustLocalhost is set, or it matches an entry
// of trusted, which is a host name, a host:port or a URL prefix (an on-premises server).
func Trust(baseURL string, trusted []string, trustLocalhost bool) (string, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("base_url %q is not an http(s) URL", baseURL)
	}
	host := strings.ToLower(u.Hostname())
	if trustLocalhost {
		if host == "localhost" || strings.HasSuffix(host, ".localhost") {
			return "localhost", nil
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return "localhost", nil
		}
	}
	base := strings.TrimRight(strings.ToLower(baseURL), "/")
	for _, t := range trusted {
		e := strings.ToLower(strings.TrimSpace(t))
		switch {
		case e == "":
		case strings.Contains(e, "://"):
			if p := strings.TrimRight(e, "/"); base == p || strings.HasPrefix(base, p+"/") {
				return "trusted_endpoints: " + t, nil
			}
		case e == host || e == strings.ToLower(u.Host):
			return "trusted_endpoints: " + t, nil
		}
	}
	return "", nil
}

// ScrubCounts counts what a Scrubber replaced, by kind.
type ScrubCounts struct {
	Identifiers int `json:"identifiers"` // values of identifier columns and upstream PHI hashes
	Names       int `json:"names"`       // titled names (Mr, Mrs, Ms, Dr + capitalised words)
	Dates       int `json:"dates"`       // shifted
	Phones      int `json:"phones"`
	Emails      int `json:"emails"`
	Records     int `json:"records"` // record, account and social security numbers
	Addresses   int `json:"addresses"`
}

// Add adds o to c.
func (c *ScrubCounts) Add(o ScrubCounts) {
	c.Identifiers += o.Identifiers
	c.Names += o.Names
	c.Dates += o.Dates
	c.Phones += o.Phones
	c.Emails += o.Emails
	c.Records += o.Records
	c.Addresses += o.Addresses
}

// Total is the number of replacements.
func (c ScrubCounts) Total() int {
	return c.Identifiers + c.Names + c.Dates + c.Phones + c.Emails + c.Records + c.Addresses
}

// Scrubber removes identifiers from free text before it leaves for an untrusted endpoint:
// values it was given (the guard: identifier columns of the table, phi_hashes of DICOM and
// EDF ingest), e-mail addresses, phone numbers, record/account/social security numbers,
// street addresses and titled names by pattern; and it shifts every date by a per-patient
// offset derived from a salted HMAC, so intervals within one patient's notes survive while
// the calendar dates do not.
type Scrubber struct {
	Guard    *Guard // known identifier values; may be nil
	Salt     []byte // secret of the date offsets
	MaxShift int    // offsets are in [-MaxShift, MaxShift] days, never 0; 0 = 365
}

// ShiftDays returns the date offset of a patient.
func (s *Scrubber) ShiftDays(patient string) int {
	m := s.MaxShift
	if m <= 0 {
		m = 365
	}
	h := hmac.New(sha256.New, s.Salt)
	h.Write([]byte("biopipe date shift\x00" + patient))
	v := binary.BigEndian.Uint64(h.Sum(nil))
	d := int(v%uint64(2*m)) - m // [-m, m)
	if d >= 0 {
		d++ // [1, m]
	}
	return d
}

var (
	emailRE   = regexp.MustCompile(`(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b`)
	phoneRE   = regexp.MustCompile(`(?:\+\d{1,3}[\s.-]?)?(?:\(\d{3}\)\s?|\b\d{3}[\s.-])\d{3}[\s.-]\d{4}\b`)
	recordRE  = regexp.MustCompile(`(?i)\b(MRN|medical record(?: number| no\.?)?|record(?: number| no\.?| #)|acct\.?(?: no\.?)?|account(?: number| no\.?)?|patient id|hospital (?:id|number|no\.?)|ssn)(\s*[:#]?\s*)([A-Z0-9][A-Z0-9-]{3,})\b`)
	ssnRE     = regexp.MustCompile(`\b\d{3}-\d{2}-\d{4}\b`)
	longNumRE = regexp.MustCompile(`\b\d{7,}\b`)
	addressRE = regexp.MustCompile(`\b\d{1,5}\s+(?:[A-Z][a-z]+\s+){1,3}(?i:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|terrace|close)\b\.?(?:,?\s+(?:apt|suite|unit)\.?\s*\w+)?(?:,\s*[A-Z][a-z]+(?:\s[A-Z][a-z]+)?)?(?:,?\s+[A-Z]{2}\s+\d{5}(?:-\d{4})?)?`)
	nameRE    = regexp.MustCompile(`\b(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.?\s+[A-Z][a-zA-Z'-]+(?:\s+[A-Z][a-zA-Z'-]+)?`)

	monthNames = []string{"january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"}
	monthAlt   = `(Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)`
	isoDateRE  = regexp.MustCompile(`\b(\d{4})-(\d{1,2})-(\d{1,2})\b`)
	slashRE    = regexp.MustCompile(`\b(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})\b`)
	mdyRE      = regexp.MustCompile(`(?i)\b` + monthAlt + `\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b`)
	dmyRE      = regexp.MustCompile(`(?i)\b(\d{1,2})(?:st|nd|rd|th)?\s+` + monthAlt + `\.?,?\s+(\d{4})\b`)
)

// Scrub returns text with identifiers replaced by [email], [phone], [record], [address],
// [name] and [redacted] (a known value), and dates shifted by patient's offset.
func (s *Scrubber) Scrub(text, patient string) (string, ScrubCounts) {
	var n ScrubCounts
	repl := func(re *regexp.Regexp, with string, count *int) {
		text = re.ReplaceAllStringFunc(text, func(string) string { *count++; return with })
	}
	repl(emailRE, "[email]", &n.Emails)
	text = s.shiftDates(text, patient, &n.Dates)
	text = recordRE.ReplaceAllStringFunc(text, func(m string) string {
		n.Records++
		p := recordRE.FindStringSubmatch(m)
		return p[1] + p[2] + "[record]"
	})
	repl(ssnRE, "[record]", &n.Records)
	repl(phoneRE, "[phone]", &n.Phones)
	repl(addressRE, "[address]", &n.Addresses)
	repl(longNumRE, "[record]", &n.Records)
	if s.Guard != nil {
		var c int
		text, c = s.Guard.Redact(text)
		n.Identifiers += c
	}
	repl(nameRE, "[name]", &n.Names)
	return text, n
}

func (s *Scrubber) shiftDates(text, patient string, count *int) string {
	shift := s.ShiftDays(patient)
	move := func(y, m, d int) (time.Time, bool) {
		t := time.Date(y, time.Month(m), d, 12, 0, 0, 0, time.UTC)
		if m < 1 || m > 12 || d < 1 || t.Day() != d {
			return t, false
		}
		return t.AddDate(0, 0, shift), true
	}
	sub := func(re *regexp.Regexp, f func(p []string) string) {
		text = re.ReplaceAllStringFunc(text, func(m string) string {
			*count++
			return f(re.FindStringSubmatch(m))
		})
	}
	sub(isoDateRE, func(p []string) string {
		y, _ := strconv.Atoi(p[1])
		m, _ := strconv.Atoi(p[2])
		d, _ := strconv.Atoi(p[3])
		if t, ok := move(y, m, d); ok {
			return t.Format("2006-01-02")
		}
		return "[date]"
	})
	sub(slashRE, func(p []string) string {
		a, _ := strconv.Atoi(p[1])
		b, _ := strconv.Atoi(p[2])
		y, _ := strconv.Atoi(p[3])
		if len(p[3]) == 2 {
			y += 1900
			if y < 1930 {
				y += 100
			}
		}
		m, d, layout := a, b, "01/02/2006"
		if a > 12 { // day first
			m, d, layout = b, a, "02/01/2006"
		}
		if t, ok := move(y, m, d); ok {
			return t.Format(layout)
		}
		return "[date]"
	})
	month := func(name string) int {
		name = strings.ToLower(name)
		for i, full := range monthNames {
			if strings.HasPrefix(full, name) {
				return i + 1
			}
		}
		return 0
	}
	sub(mdyRE, func(p []string) string {
		d, _ := strconv.Atoi(p[2])
		y, _ := strconv.Atoi(p[3])
		if t, ok := move(y, month(p[1]), d); ok {
			return t.Format("January 2, 2006")
		}
		return "[date]"
	})
	sub(dmyRE, func(p []string) string {
		d, _ := strconv.Atoi(p[1])
		y, _ := strconv.Atoi(p[3])
		if t, ok := move(y, month(p[2]), d); ok {
			return t.Format("2 January 2006")
		}
		return "[date]"
	})
	return text
}
