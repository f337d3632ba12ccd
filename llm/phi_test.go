package llm

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTrust(t *testing.T) {
	cases := []struct {
		url       string
		trusted   []string
		localhost bool
		want      string
	}{
		{"http://localhost:11434/v1", nil, true, "localhost"},
		{"http://127.0.0.1:8080/v1", nil, true, "localhost"},
		{"http://[::1]:8080/v1", nil, true, "localhost"},
		{"http://127.0.0.1:8080/v1", nil, false, ""},
		{"https://api.openai.com/v1", nil, true, ""},
		{"https://llm.hospital.internal/v1", []string{"llm.hospital.internal"}, true, "trusted_endpoints: llm.hospital.internal"},
		{"https://llm.hospital.internal:8443/v1", []string{"llm.hospital.internal:8443"}, true, "trusted_endpoints: llm.hospital.internal:8443"},
		{"https://llm.hospital.internal:8443/v1", []string{"llm.hospital.internal:9000"}, true, ""},
		{"https://gw.example.org/team-a/v1", []string{"https://gw.example.org/team-a"}, true, "trusted_endpoints: https://gw.example.org/team-a"},
		{"https://gw.example.org/team-ab/v1", []string{"https://gw.example.org/team-a"}, true, ""},
		{"https://localhost.evil.com/v1", nil, true, ""},
	}
	for _, c := range cases {
		got, err := Trust(c.url, c.trusted, c.localhost)
		require.NoError(t, err, c.url)
		assert.Equal(t, c.want, got, c.url)
	}
	_, err := Trust("localhost:11434", nil, true)
	assert.ErrorContains(t, err, "not an http(s) URL")
}

func TestScrub(t *testing.T) {
	g := NewGuard()
	g.AddValues("Erika Mustermann", "Erika", "Mustermann", "PT0042")
	s := &Scrubber{Guard: g, Salt: []byte("test salt"), MaxShift: 30}
	shift := s.ShiftDays("PT0042")
	require.NotZero(t, shift)
	require.LessOrEqual(t, shift, 30)
	require.GreaterOrEqual(t, shift, -30)
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 12, 0, 0, 0, time.UTC) }
	shifted := func(t0 time.Time, layout string) string { return t0.AddDate(0, 0, shift).Format(layout) }

	cases := []struct {
		in, want string
		count    func(ScrubCounts) int
	}{
		{"Seen 2021-03-14 for cough.", "Seen " + shifted(day(2021, 3, 14), "2006-01-02") + " for cough.", func(c ScrubCounts) int { return c.Dates }},
		{"Seen 03/14/2021.", "Seen " + shifted(day(2021, 3, 14), "01/02/2006") + ".", func(c ScrubCounts) int { return c.Dates }},
		{"Seen 14/03/2021.", "Seen " + shifted(day(2021, 3, 14), "02/01/2006") + ".", func(c ScrubCounts) int { return c.Dates }},
		{"Seen March 14, 2021.", "Seen " + shifted(day(2021, 3, 14), "January 2, 2006") + ".", func(c ScrubCounts) int { return c.Dates }},
		{"Seen 14 Mar 2021.", "Seen " + shifted(day(2021, 3, 14), "2 January 2006") + ".", func(c ScrubCounts) int { return c.Dates }},
		{"Seen 2021-02-30.", "Seen [date].", func(c ScrubCounts) int { return c.Dates }},
		{"Call (617) 555-0142 or 617.555.0142.", "Call [phone] or [phone].", func(c ScrubCounts) int { return c.Phones / 2 }}, // two phones
		{"Mail erika.m@example.org today", "Mail [email] today", func(c ScrubCounts) int { return c.Emails }},
		{"MRN: 00123456, acct no. A-99812", "MRN: [record], acct no. [record]", func(c ScrubCounts) int { return c.Records / 2 }}, // two records
		{"SSN 123-45-6789", "SSN [record]", func(c ScrubCounts) int { return c.Records }},
		{"ref 98765432", "ref [record]", func(c ScrubCounts) int { return c.Records }},
		{"lives at 12 Linden Avenue, Oakdale.", "lives at [address].", func(c ScrubCounts) int { return c.Addresses }},
		{"Patient Erika Mustermann (PT0042)", "Patient [redacted] ([redacted])", func(c ScrubCounts) int { return c.Identifiers / 2 }}, // name and id
		{"Ms. Mustermann returns", "[redacted] returns", func(c ScrubCounts) int { return c.Identifiers + c.Names }},
		{"Dr. Okonkwo Adeyemi reviewed", "[name] reviewed", func(c ScrubCounts) int { return c.Names }},
		{"30 pack-years, FEV1 1.8 L, aged 64", "30 pack-years, FEV1 1.8 L, aged 64", func(c ScrubCounts) int { return 1 - c.Total() }},
	}
	for _, c := range cases {
		got, n := s.Scrub(c.in, "PT0042")
		if c.want == "[redacted] returns" { // the title stays or becomes part of a [name]
			assert.NotContains(t, got, "Mustermann", c.in)
		} else {
			assert.Equal(t, c.want, got, c.in)
		}
		assert.Equal(t, 1, c.count(n), "%s: %+v", c.in, n) // the kind of replacement, and how many
	}
}

// TestScrubKeepsIntervals: two dates of one patient keep their distance; another patient
// gets another offset.
func TestScrubKeepsIntervals(t *testing.T) {
	s := &Scrubber{Salt: []byte("k")}
	a, _ := s.Scrub("2020-01-10 and 2020-03-01", "P1")
	parts := strings.Split(a, " and ")
	d1, err := time.Parse("2006-01-02", parts[0])
	require.NoError(t, err)
	d2, err := time.Parse("2006-01-02", parts[1])
	require.NoError(t, err)
	assert.Equal(t, 51*24*time.Hour, d2.Sub(d1))
	assert.NotEqual(t, "2020-01-10", parts[0])
	offsets := map[int]bool{}
	for _, p := range []string{"P1", "P2", "P3", "P4", "P5"} {
		offsets[s.ShiftDays(p)] = true
	}
	assert.Greater(t, len(offsets), 1, "offsets differ between patients")
	other := &Scrubber{Salt: []byte("another salt")}
	assert.NotEqual(t, s.ShiftDays("P1"), other.ShiftDays("P1"), "the offset depends on the salt")
}
