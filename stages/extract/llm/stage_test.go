package llm

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/evaluation"
	chat "github.com/biopipe/biopipe/llm"
	"github.com/biopipe/biopipe/llm/llmtest"
	"github.com/biopipe/biopipe/testdata/gen/notesgen"
)

// notesTable writes n generated notes as a table artifact and returns its folder.
func notesTable(t *testing.T, notes []notesgen.Note) string {
	t.Helper()
	f := dataset.New()
	col := func(name string, get func(n notesgen.Note) string) {
		c := &dataset.Column{Name: name, Kind: dataset.String}
		for _, n := range notes {
			c.S = append(c.S, get(n))
		}
		f.Columns = append(f.Columns, c)
	}
	col("note_id", func(n notesgen.Note) string { return n.ID })
	col("patient_id", func(n notesgen.Note) string { return n.Patient })
	col("patient_name", func(n notesgen.Note) string { return n.Name })
	col("mrn", func(n notesgen.Note) string { return n.MRN })
	col("note", func(n notesgen.Note) string { return n.Text })
	col("smoking_status", func(n notesgen.Note) string { return n.Smoker })
	col("diagnosis_true", func(n notesgen.Note) string { return n.Diagnosis })
	f.Meta[dataset.MetaID] = "note_id"
	f.Meta[dataset.MetaGroup] = "patient_id"
	dir := t.TempDir()
	require.NoError(t, f.WriteFile(filepath.Join(dir, contract.DataFile)))
	return dir
}

// config is a valid extract.llm config for the fake server at url.
func config(url string, extra map[string]any) map[string]any {
	c := map[string]any{
		"text":        "note",
		"identifiers": []any{"patient_name", "mrn"},
		"fields": map[string]any{
			"smoker":     map[string]any{"type": "enum", "values": []any{"never", "former", "current"}, "label": "smoking_status"},
			"pack_years": map[string]any{"type": "float", "min": 0, "max": 300},
			"diagnosis":  map[string]any{"type": "enum", "values": []any{"copd", "asthma", "lung_cancer", "pneumonia"}, "label": "diagnosis_true"},
			"metastasis": map[string]any{"type": "bool"},
		},
		"llm":  map[string]any{"base_url": url, "model": "fake-notes", "timeout": "2s", "retries": 3, "backoff": "5ms"},
		"salt": "test salt",
	}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

type result struct {
	sum     *Summary
	frame   *dataset.Frame
	metrics map[string]any
}

// runStage runs the stage on the table in dir with the work dir wd (its answer cache).
func runStage(t *testing.T, raw map[string]any, dir, wd string) (*result, error) {
	t.Helper()
	k, err := contract.Default.Get(KindName)
	require.NoError(t, err)
	cfg, issues := contract.Check(k.Fields, raw)
	require.Empty(t, issues)
	st, err := k.New(cfg)
	if err != nil {
		return nil, err
	}
	env := contract.NewEnv(nil)
	env.StageID, env.Kind, env.Config, env.Seed, env.OutDir, env.WorkDir = "extract", KindName, cfg, 1, t.TempDir(), wd
	env.Inputs = []contract.Input{{StageID: "notes", Type: contract.Table, Port: PortData, Dir: dir}}
	if err := st.Run(context.Background(), env); err != nil {
		return nil, err
	}
	r := &result{metrics: env.Metrics()}
	b, err := os.ReadFile(env.Out(contract.SummaryFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &r.sum))
	r.frame, err = dataset.ReadFile(env.Out(contract.DataFile))
	require.NoError(t, err)
	return r, nil
}

// reader answers as notesgen's rule-based reader.
func reader(r llmtest.Request) llmtest.Reply { return llmtest.Reply{Content: notesgen.Answer(r.User)} }

func TestExtractAndCache(t *testing.T) {
	notes := notesgen.Generate(24, 3)
	srv := llmtest.New(reader)
	defer srv.Close()
	dir, wd := notesTable(t, notes), t.TempDir()

	r, err := runStage(t, config(srv.URL, nil), dir, wd)
	require.NoError(t, err)
	assert.Len(t, srv.Requests(), 24)
	assert.Equal(t, 24, r.sum.Sent)
	assert.Equal(t, "raw", r.sum.Policy.Sent)
	assert.Equal(t, "localhost", r.sum.Policy.TrustedBy)
	assert.Equal(t, "raw", r.metrics["extract_phi_policy"])

	// The request: the schema lists every field, nullable, and nothing else.
	req := srv.Requests()[0]
	var schema struct {
		Required   []string                  `json:"required"`
		Additional bool                      `json:"additionalProperties"`
		Properties map[string]map[string]any `json:"properties"`
	}
	require.NoError(t, json.Unmarshal(req.Schema, &schema))
	assert.ElementsMatch(t, []string{"diagnosis", "metastasis", "pack_years", "smoker"}, schema.Required)
	assert.False(t, schema.Additional)
	assert.Equal(t, []any{"never", "former", "current", nil}, schema.Properties["smoker"]["enum"])
	assert.Equal(t, 300.0, schema.Properties["pack_years"]["maximum"])
	assert.Contains(t, req.System, "- smoker (enum: one of never, former, current, or null)")
	assert.Equal(t, "fake-notes", req.Model)

	// Every value is the reader's answer for that note.
	smoker, pack, meta := r.frame.Col("smoker"), r.frame.Col("pack_years"), r.frame.Col("metastasis")
	for i, n := range notes {
		var want map[string]any
		require.NoError(t, json.Unmarshal([]byte(notesgen.Read(n.Text)), &want))
		if want["smoker"] == nil {
			assert.False(t, smoker.IsValid(i))
		} else {
			assert.Equal(t, want["smoker"], smoker.S[i], "row %d", i)
		}
		if want["pack_years"] == nil {
			assert.False(t, pack.IsValid(i))
		} else {
			assert.Equal(t, want["pack_years"], pack.F[i], "row %d", i)
		}
		if want["metastasis"] != nil {
			assert.Equal(t, map[bool]int64{true: 1, false: 0}[want["metastasis"].(bool)], meta.I[i], "row %d", i)
		}
	}
	// Text, label and identifier columns are not features; the extracted numbers are.
	assert.Equal(t, "text", r.frame.Col("note").Meta[MetaRole])
	assert.Equal(t, "label", r.frame.Col("smoking_status").Meta[MetaRole])
	assert.Equal(t, "identifier", r.frame.Col("mrn").Meta[MetaRole])
	assert.Equal(t, "smoking_status", smoker.Meta[MetaLabel])

	// A re-run in the same work dir sends nothing; the output is the same.
	again, err := runStage(t, config(srv.URL, nil), dir, wd)
	require.NoError(t, err)
	assert.Len(t, srv.Requests(), 24, "a re-run sends nothing new")
	assert.Equal(t, 24, again.sum.CacheHits)
	assert.Equal(t, 0, again.sum.Sent)
	assert.Equal(t, r.frame.Col("diagnosis").S, again.frame.Col("diagnosis").S)

	// A changed prompt is a cache miss.
	_, err = runStage(t, config(srv.URL, map[string]any{"instructions": "Extract facts. Null when unsure."}), dir, wd)
	require.NoError(t, err)
	assert.Len(t, srv.Requests(), 48)

	// Evaluation against the labelled columns.
	res, err := evaluation.EvaluateExtraction(r.frame)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"metastasis", "pack_years"}, res.Unlabelled)
	assert.Contains(t, res.Fields, "smoker")
	correct := 0
	for i, n := range notes {
		if smoker.IsValid(i) && smoker.S[i] == n.Smoker {
			correct++
		}
	}
	assert.InDelta(t, float64(correct)/24, res.Fields["smoker"].Accuracy, 1e-12)
}

// TestExtractValidation: malformed answers and schema violations become nulls, counted and listed.
func TestExtractValidation(t *testing.T) {
	notes := notesgen.Generate(8, 5)
	good := `{"smoker": "never", "pack_years": 12.5, "diagnosis": "copd", "metastasis": false}`
	answers := map[int]string{
		0: good,
		1: `{"smoker": "never", "pack_years": 12.5`,                                                                  // truncated
		2: `I think the patient is a never smoker.`,                                                                  // not JSON
		3: `{"smoker": "sometimes", "pack_years": 12.5, "diagnosis": "copd", "metastasis": false}`,                   // not in the enum
		4: `{"smoker": "never", "pack_years": "ten", "diagnosis": "copd", "metastasis": "no"}`,                       // wrong types
		5: `{"smoker": "never", "pack_years": -3, "diagnosis": "copd"}`,                                              // below min, metastasis missing
		6: "```json\n" + `{"smoker": "Former", "pack_years": null, "diagnosis": null, "metastasis": true}` + "\n```", // fenced, case
		7: `[1, 2, 3]`,
	}
	idx := map[string]int{}
	for i, n := range notes {
		idx[n.Text] = i
	}
	srv := llmtest.New(func(r llmtest.Request) llmtest.Reply {
		return llmtest.Reply{Content: answers[idx[strings.TrimPrefix(r.User, notesgen.Prefix)]]}
	})
	defer srv.Close()
	dir := notesTable(t, notes)
	r, err := runStage(t, config(srv.URL, map[string]any{"cache": false}), dir, "")
	require.NoError(t, err)

	s := r.sum
	assert.Equal(t, 3, s.Malformed) // rows 1, 2, 7
	assert.Equal(t, map[string]int{"smoker": 1, "pack_years": 2, "metastasis": 1}, s.Invalid)
	assert.Equal(t, map[string]int{"metastasis": 1}, s.Missing)
	listed := map[string]bool{}
	for _, n := range s.Nulls {
		listed[fmt.Sprintf("%d/%s/%s", n.Row, n.Field, n.Reason)] = true
	}
	for _, want := range []string{"1//malformed", "2//malformed", "7//malformed", "3/smoker/invalid", "4/pack_years/invalid",
		"4/metastasis/invalid", "5/pack_years/invalid", "5/metastasis/missing"} {
		assert.True(t, listed[want], "%s listed in %v", want, s.Nulls)
	}
	assert.Len(t, s.Nulls, 8)
	assert.Equal(t, 3, r.metrics["extract_malformed_answers"])
	assert.Equal(t, 5, r.metrics["extract_invalid_or_missing_values"])

	smoker, pack, meta := r.frame.Col("smoker"), r.frame.Col("pack_years"), r.frame.Col("metastasis")
	assert.Equal(t, "never", smoker.S[0])
	assert.Equal(t, 12.5, pack.F[0])
	for _, i := range []int{1, 2, 3, 7} {
		assert.False(t, smoker.IsValid(i), "row %d", i)
	}
	assert.Equal(t, "former", smoker.S[6], "enum values match ignoring case, written as declared")
	assert.False(t, pack.IsValid(6), "null is a valid 'not stated'")
	assert.Equal(t, int64(1), meta.I[6])
	assert.False(t, pack.IsValid(5))
	assert.Equal(t, 4, s.Stated["smoker"]) // rows 0, 4, 5 and 6
}

// TestExtractRetries: 429 and 5xx are retried with backoff, a slow answer times out and is
// retried, a 400 is not; a row whose request fails is null and listed.
func TestExtractRetries(t *testing.T) {
	notes := notesgen.Generate(6, 9)
	var inFlight, peak atomic.Int32
	srv := llmtest.New(func(r llmtest.Request) llmtest.Reply {
		note := strings.TrimPrefix(r.User, notesgen.Prefix)
		switch {
		case note == notes[5].Text:
			return llmtest.Reply{Status: http.StatusBadRequest}
		case note == notes[4].Text && r.Attempts == 1:
			return llmtest.Reply{Delay: 3 * time.Second, Content: notesgen.Read(note)} // beyond the 300ms timeout
		case note == notes[4].Text:
		case r.Attempts == 1:
			return llmtest.Reply{Status: http.StatusTooManyRequests}
		case r.Attempts == 2:
			return llmtest.Reply{Status: http.StatusServiceUnavailable}
		}
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(30 * time.Millisecond)
		return llmtest.Reply{Content: notesgen.Read(note)}
	})
	defer srv.Close()
	cfg := config(srv.URL, map[string]any{"concurrency": 2})
	cfg["llm"].(map[string]any)["timeout"] = "300ms"
	r, err := runStage(t, cfg, notesTable(t, notes), "")
	require.NoError(t, err)
	s := r.sum
	assert.Equal(t, 6, s.Sent)
	assert.Equal(t, 1, s.Failed)
	assert.Equal(t, 4*3+2+1, s.Attempts, "rows 0-3: 429, 503, ok; row 4: timeout, ok; row 5: 400 once")
	require.Len(t, s.Nulls, 1)
	assert.Equal(t, NullRow{Row: 5, Reason: ReasonFailed, Error: s.Nulls[0].Error}, s.Nulls[0])
	assert.Contains(t, s.Nulls[0].Error, "400")
	assert.True(t, r.frame.Col("diagnosis").IsValid(4), "the slow row succeeded on its retry")
	assert.LessOrEqual(t, peak.Load(), int32(2), "at most concurrency requests in flight")
}

func TestExtractAllFail(t *testing.T) {
	srv := llmtest.New(func(llmtest.Request) llmtest.Reply { return llmtest.Reply{Status: http.StatusInternalServerError} })
	defer srv.Close()
	cfg := config(srv.URL, nil)
	cfg["llm"].(map[string]any)["retries"] = 1
	_, err := runStage(t, cfg, notesTable(t, notesgen.Generate(3, 1)), "")
	require.ErrorContains(t, err, "every one of 3 requests failed")
	assert.ErrorContains(t, err, "500")
	assert.Len(t, srv.Requests(), 6)
}

// TestLeakUntrusted plants identifiers in notes and checks that none of them reaches an
// untrusted endpoint (the fake server, with localhost not trusted), while the clinical
// content does and extraction still works on the scrubbed text.
func TestLeakUntrusted(t *testing.T) {
	notes := notesgen.Generate(40, 11)
	srv := llmtest.New(reader)
	defer srv.Close()
	dir := notesTable(t, notes)
	r, err := runStage(t, config(srv.URL, map[string]any{"trust_localhost": false}), dir, "")
	require.NoError(t, err)
	require.Len(t, srv.Requests(), 40)
	assert.Equal(t, "scrubbed", r.sum.Policy.Sent)
	assert.False(t, r.sum.Policy.Trusted)
	assert.Equal(t, "scrubbed", r.metrics["extract_phi_policy"])
	assert.Zero(t, r.sum.Policy.Refused)

	sent := strings.ToLower(srv.Bodies())
	var planted []string
	for _, n := range notes {
		planted = append(planted, n.Name, strings.Fields(n.Name)[0], strings.Fields(n.Name)[1], n.MRN, n.Phone, n.Email, n.Address,
			strings.SplitN(n.Address, ",", 2)[0], n.Patient, n.ID)
	}
	// Phone digits in any punctuation.
	digits := regexp.MustCompile(`\D`)
	sentDigits := digits.ReplaceAllString(sent, "")
	for _, p := range planted {
		re := regexp.MustCompile(`\b` + regexp.QuoteMeta(strings.ToLower(p)) + `\b`)
		assert.False(t, re.MatchString(sent), "planted identifier %q reached the untrusted endpoint", p)
	}
	for _, n := range notes {
		assert.NotContains(t, sentDigits, digits.ReplaceAllString(n.Phone, ""), "phone digits")
	}
	assert.Contains(t, sent, "pack-year")
	assert.Contains(t, sent, "[redacted]")
	assert.Contains(t, sent, "[phone]")
	assert.Contains(t, sent, "[email]")
	assert.Contains(t, sent, "[address]")
	sc := r.sum.Policy.Scrubbed
	require.NotNil(t, sc)
	assert.Equal(t, 40, sc.Emails)
	assert.Equal(t, 40, sc.Phones)
	assert.Equal(t, 40, sc.Addresses)
	assert.Equal(t, 80, sc.Dates, "visit and review date of each note")

	// Shifted dates keep the interval between a patient's two visits.
	visit := regexp.MustCompile(`(?:on|dated) (\d{4}-\d{2}-\d{2}|\d{2}/\d{2}/\d{4}|[A-Z][a-z]+ \d{1,2}, \d{4})\.`)
	parse := func(s string) time.Time {
		for _, l := range []string{"2006-01-02", "01/02/2006", "January 2, 2006"} {
			if d, err := time.Parse(l, s); err == nil {
				return d
			}
		}
		t.Fatalf("date %q", s)
		return time.Time{}
	}
	checked := 0
	for i := 0; i+1 < len(notes); i += 2 {
		a, b := notes[i], notes[i+1]
		if a.Patient != b.Patient {
			continue
		}
		sa, sb := sentNote(t, srv, i, notes), sentNote(t, srv, i+1, notes)
		ma, mb := visit.FindStringSubmatch(sa), visit.FindStringSubmatch(sb)
		require.NotNil(t, ma, sa)
		require.NotNil(t, mb, sb)
		da, _ := time.Parse("2006-01-02", a.Visit)
		db, _ := time.Parse("2006-01-02", b.Visit)
		assert.Equal(t, db.Sub(da), parse(mb[1]).Sub(parse(ma[1])), "interval between visits of %s", a.Patient)
		assert.NotEqual(t, da, parse(ma[1]))
		for _, layout := range []string{"2006-01-02", "01/02/2006", "January 2, 2006"} {
			assert.NotContains(t, sa, da.Format(layout), "the visit date of note %d was sent", i)
			assert.NotContains(t, sb, db.Format(layout), "the visit date of note %d was sent", i+1)
		}
		checked++
	}
	assert.Greater(t, checked, 10)

	// The clinical facts survive scrubbing: the reader gets the same answers as on raw text.
	raw, err := runStage(t, config(srv.URL, nil), dir, "")
	require.NoError(t, err)
	for _, f := range []string{"smoker", "diagnosis"} {
		assert.Equal(t, raw.frame.Col(f).S, r.frame.Col(f).S, f)
	}
	assert.Equal(t, raw.frame.Col("pack_years").F, r.frame.Col("pack_years").F)
}

// sentNote returns the text the server received for note i, found by its clinical part
// (the requests arrive in any order, and identifiers and dates were scrubbed).
func sentNote(t *testing.T, srv *llmtest.Server, i int, notes []notesgen.Note) string {
	t.Helper()
	text := notes[i].Text
	followUp := strings.Contains(text, "returns for follow-up. ")
	var clinical string
	if followUp {
		clinical = text[strings.Index(text, "returns for follow-up. ")+len("returns for follow-up. "):]
	} else {
		clinical = text[strings.Index(text, "; lives at "):]
		clinical = clinical[strings.Index(clinical, ". ")+2:]
	}
	clinical = clinical[:strings.LastIndex(clinical, "Next review")]
	for _, q := range srv.Requests() {
		if strings.Contains(q.User, clinical) && strings.Contains(q.User, fmt.Sprintf("%d-year-old", notes[i].Age)) &&
			strings.Contains(q.User, "returns for follow-up") == followUp {
			return q.User
		}
	}
	t.Fatalf("note %d not among the requests", i)
	return ""
}

// TestRefuseUntrustedRaw: scrub: false with an untrusted endpoint is a config error; nothing is sent.
func TestRefuseUntrustedRaw(t *testing.T) {
	var hits sync.Map
	srv := llmtest.New(func(r llmtest.Request) llmtest.Reply { hits.Store(r.User, true); return reader(r) })
	defer srv.Close()
	_, err := runStage(t, config(srv.URL, map[string]any{"trust_localhost": false, "scrub": false}), notesTable(t, notesgen.Generate(4, 1)), "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `field "scrub": refusing to send raw notes to `+srv.URL)
	assert.Empty(t, srv.Requests())

	// Listing the endpoint as trusted lets raw text go.
	host := strings.TrimPrefix(strings.TrimSuffix(srv.URL, "/v1"), "http://")
	r, err := runStage(t, config(srv.URL, map[string]any{"trust_localhost": false, "scrub": false, "trusted_endpoints": []any{host}}), notesTable(t, notesgen.Generate(4, 1)), "")
	require.NoError(t, err)
	assert.Equal(t, "raw", r.sum.Policy.Sent)
	assert.Equal(t, "trusted_endpoints: "+host, r.sum.Policy.TrustedBy)
}

func TestConfigErrors(t *testing.T) {
	k, err := contract.Default.Get(KindName)
	require.NoError(t, err)
	cases := []struct {
		fields map[string]any
		want   string
	}{
		{map[string]any{}, `field "fields": declare at least one output field`},
		{map[string]any{"x": map[string]any{"type": "number"}}, `field "fields.x.type": number is not one of enum, float, int, bool, string`},
		{map[string]any{"x": map[string]any{"type": "enum", "values": []any{"a"}}}, `field "fields.x.values": an enum field needs at least two values`},
		{map[string]any{"x": map[string]any{"type": "float", "mni": 0}}, `field "fields.x.mni": unknown key (did you mean "min"?)`},
		{map[string]any{"x": map[string]any{"type": "bool", "min": 0}}, `field "fields.x.min": min is a number, for float and int fields only`},
		{map[string]any{"x y": map[string]any{"type": "bool"}}, `field "fields.x y": field names are letters`},
		{map[string]any{"note": map[string]any{"type": "string"}}, `field "fields.note": an output field cannot replace the text column`},
	}
	for _, c := range cases {
		raw := config("http://localhost:1/v1", nil)
		raw["fields"] = c.fields
		cfg, issues := contract.Check(k.Fields, raw)
		require.Empty(t, issues)
		_, err := k.New(cfg)
		require.Error(t, err, c.want)
		assert.Contains(t, err.Error(), c.want)
	}
	raw := config("", nil)
	raw["llm"] = map[string]any{}
	cfg, _ := contract.Check(k.Fields, raw)
	_, err = k.New(cfg)
	assert.ErrorContains(t, err, `field "llm": set base_url and model`)
}

// TestUpstreamPHIHashes: identifiers known only as hashes from upstream ingest (the
// phi_hashes of DICOM and EDF summaries) are scrubbed too.
func TestUpstreamPHIHashes(t *testing.T) {
	notes := notesgen.Generate(2, 4)
	notes[0].Text += " Referred by Zanzibar Quux-Hill from DOE^JANE's clinic."
	srv := llmtest.New(reader)
	defer srv.Close()
	dir := notesTable(t, notes)
	up := t.TempDir()
	sum := map[string]any{"phi_hashes": []string{chat.Hash("Zanzibar Quux-Hill"), chat.Hash("DOE^JANE")}}
	b, err := json.Marshal(sum)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(up, contract.SummaryFile), b, 0o644))

	k, err := contract.Default.Get(KindName)
	require.NoError(t, err)
	cfg, issues := contract.Check(k.Fields, config(srv.URL, map[string]any{"trust_localhost": false}))
	require.Empty(t, issues)
	st, err := k.New(cfg)
	require.NoError(t, err)
	env := contract.NewEnv(nil)
	env.StageID, env.Kind, env.Config, env.OutDir = "extract", KindName, cfg, t.TempDir()
	env.Inputs = []contract.Input{{StageID: "notes", Type: contract.Table, Port: PortData, Dir: dir}}
	env.Upstream = []contract.Input{{StageID: "scans", Type: contract.Table, Dir: up}, env.Inputs[0]}
	require.NoError(t, st.Run(context.Background(), env))
	sent := srv.Bodies()
	assert.NotContains(t, sent, "Zanzibar")
	assert.NotContains(t, sent, "DOE^JANE")
	assert.Contains(t, sent, "Referred by [redacted]")
}
