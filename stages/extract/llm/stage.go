// Package llm is the extract.llm stage kind: it reads a text column (clinical notes) and
// fills declared output fields per row through an OpenAI-compatible chat model with
// JSON-schema structured output, behind a PHI policy: raw text goes only to this host or
// to trusted endpoints; anything else gets scrubbed text (see chat.Scrubber) or nothing.
package llm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/evaluation"
	chat "github.com/biopipe/biopipe/llm"
)

// KindName is the stage kind's name.
const KindName = "extract.llm"

// Config field names.
const (
	FieldText           = "text"
	FieldFields         = "fields"
	FieldInstructions   = "instructions"
	FieldLLM            = "llm"
	FieldConcurrency    = "concurrency"
	FieldScrub          = "scrub"
	FieldTrusted        = "trusted_endpoints"
	FieldTrustLocalhost = "trust_localhost"
	FieldIdentifiers    = "identifiers"
	FieldMaxShift       = "max_date_shift_days"
	FieldSalt           = "salt"
	FieldSaltEnv        = "salt_env"
	FieldCache          = "cache"
)

// PortData is the input port: the table holding the text column.
const PortData = "data"

// Column metadata written on the output.
const (
	MetaType  = evaluation.MetaExtractType  // field type of an extracted column
	MetaLabel = evaluation.MetaExtractLabel // the labelled column it is evaluated against
	MetaRole  = "biopipe.role"              // text, label and identifier columns are not features
)

// DefaultInstructions is the system prompt's opening.
const DefaultInstructions = `You extract structured facts from one clinical note. Answer with one JSON object with exactly the keys listed, following the schema. Use null when the note does not state a value; never guess.`

// Fields is the stage's config spec.
var Fields = []contract.Field{
	{Name: FieldText, Type: contract.String, Required: true, Doc: "the text column (one note per row)"},
	{Name: FieldFields, Type: contract.Map, Required: true, Doc: "output fields, name -> {type: enum|float|int|bool|string, values: [..] (enum), min, max, doc (shown to the model), label: the labelled column evaluate compares with, tolerance (numeric: |answer-label| counted correct)}",
		Example: "fields: {smoker: {type: enum, values: [never, former, current]}, pack_years: {type: float, min: 0}}"},
	{Name: FieldInstructions, Type: contract.String, Default: DefaultInstructions, Doc: "opening of the system prompt; the field list and schema follow it"},
	{Name: FieldLLM, Type: contract.Object, Fields: chat.BlockFields(300), Doc: "the OpenAI-compatible server (base_url, model, api_key_env, timeout, retries, ...), as the report's llm: block"},
	{Name: FieldConcurrency, Type: contract.Int, Default: 4, Min: contract.Bound(1), Max: contract.Bound(64), Doc: "requests in flight at once"},
	{Name: FieldScrub, Type: contract.Bool, Default: true, Doc: "scrub text sent to an untrusted endpoint (known identifiers, dates shifted per patient, phones, e-mails, record numbers, addresses); false refuses to send to an untrusted endpoint at all"},
	{Name: FieldTrusted, Type: contract.Strings, Doc: "endpoints that may receive raw notes (an on-premises server): host, host:port or URL prefix"},
	{Name: FieldTrustLocalhost, Type: contract.Bool, Default: true, Advanced: true, Doc: "a server on this host (localhost, loopback) may receive raw notes; false treats it as untrusted (tests of the scrubbing path)"},
	{Name: FieldIdentifiers, Type: contract.Strings, Doc: "further identifier columns (names, record numbers) whose values are scrubbed; the id and group columns always are"},
	{Name: FieldMaxShift, Type: contract.Int, Default: 365, Min: contract.Bound(1), Max: contract.Bound(3650), Advanced: true, Doc: "scrubbed dates move by a per-patient offset in [-N, N] days (never 0)"},
	{Name: FieldSalt, Type: contract.String, Advanced: true, Doc: "secret of the per-patient date offsets (only for synthetic data: it lands in the manifest); prefer salt_env"},
	{Name: FieldSaltEnv, Type: contract.String, Default: "BIOPIPE_SALT", Doc: "environment variable holding the salt of the date offsets (default: the project salt)"},
	{Name: FieldCache, Type: contract.Bool, Default: true, Doc: "keep answers under the work dir keyed by (model, prompt, text digest), so a re-run sends nothing it sent before"},
}

func init() {
	contract.Register(&contract.Kind{
		Name: KindName,
		Doc:  "fill declared fields per row from a text column with an LLM (JSON schema output, PHI policy)",
		Description: `Sends each row's text to an OpenAI-compatible chat model and asks for one JSON object
with the declared fields (structured output with a JSON schema). Every answer is validated: a
missing key, a wrong type, a value outside the enum or the bounds, or an answer that is not JSON
becomes null, is counted, and its row is listed in summary.json. Requests run concurrently up to
concurrency, with exponential backoff on 429 and 5xx (at least the Retry-After the server asks for); answers are cached by (model, prompt, text
digest), so a re-run sends nothing new. The extracted columns are ordinary features for the
stages after it; the text, label and identifier columns are marked as non-features.
PHI policy: raw text goes only to a server on this host or one listed in trusted_endpoints.
For any other endpoint the text is scrubbed first (identifier column values, phi_hashes of
upstream DICOM/EDF ingest, dates shifted per patient by a salted offset so intervals survive,
phone numbers, e-mails, record numbers, addresses, titled names); with scrub: false the stage
refuses to run. The policy applied is recorded in the run manifest (extract_phi_policy).`,
		Version: "1",
		Fields:  Fields,
		Salt:    &contract.SaltFields{Value: FieldSalt, Env: FieldSaltEnv},
		Inputs:  []contract.Port{{Name: PortData, Type: contract.Table, Doc: "the table with the text column"}},
		Output:  contract.Port{Name: "data", Type: contract.Table, Doc: "the table plus one column per field; summary.json"},
		New:     New,
		Example: `- id: extract
  kind: extract.llm
  inputs: [notes]
  with:
    text: note
    fields:
      smoker: {type: enum, values: [never, former, current], label: smoking_status}
      pack_years: {type: float, min: 0, max: 300}
    llm: {base_url: "http://localhost:11434/v1", model: llama3.1, timeout: 2m}`,
	})
}

// Options is a configured extraction.
type Options struct {
	Text           string
	Fields         []OutField
	Instructions   string
	LLM            chat.Config
	Concurrency    int
	Scrub          bool
	Trusted        []string
	TrustLocalhost bool
	Identifiers    []string
	MaxShift       int
	Cache          bool
	TrustedBy      string // why raw text may be sent ("" = untrusted)
}

// New builds the stage; an untrusted endpoint with scrub: false is a config error.
func New(cfg contract.Config) (contract.Stage, error) {
	o, err := configure(cfg)
	if err != nil {
		return nil, err
	}
	return contract.StageFunc(func(ctx context.Context, env *contract.Env) error { return run(ctx, env, cfg, o) }), nil
}

func configure(cfg contract.Config) (*Options, error) {
	fields, issues := ParseFields(cfg.MapOf(FieldFields))
	lc, err := chat.FromBlock(cfg.Object(FieldLLM), FieldLLM)
	if ce, ok := err.(*contract.ConfigError); ok {
		issues = append(issues, ce.Issues...)
	} else if err != nil {
		return nil, err
	}
	if lc == nil && err == nil {
		issues = append(issues, contract.Issue{Path: []string{FieldLLM}, Msg: "set base_url and model of an OpenAI-compatible server (e.g. http://localhost:11434/v1 for Ollama)"})
	}
	o := &Options{
		Text: cfg.String(FieldText), Fields: fields, Instructions: cfg.String(FieldInstructions),
		Concurrency: cfg.Int(FieldConcurrency), Scrub: cfg.Bool(FieldScrub), Trusted: cfg.Strings(FieldTrusted),
		TrustLocalhost: cfg.Bool(FieldTrustLocalhost), Identifiers: cfg.Strings(FieldIdentifiers),
		MaxShift: cfg.Int(FieldMaxShift), Cache: cfg.Bool(FieldCache),
	}
	if lc != nil {
		o.LLM = *lc
		by, err := chat.Trust(lc.BaseURL, o.Trusted, o.TrustLocalhost)
		if err != nil {
			issues = append(issues, contract.Issue{Path: []string{FieldLLM, chat.FieldBaseURL}, Msg: err.Error()})
		}
		o.TrustedBy = by
		if err == nil && by == "" && !o.Scrub {
			issues = append(issues, contract.Issue{Path: []string{FieldScrub}, Msg: fmt.Sprintf(
				"refusing to send raw notes to %s, which is not on this host nor in trusted_endpoints: set scrub: true, or list it in trusted_endpoints if it is an on-premises server", lc.BaseURL)})
		}
	}
	for _, f := range fields {
		if f.Name == o.Text {
			issues = append(issues, contract.Issue{Path: []string{FieldFields, f.Name}, Msg: "an output field cannot replace the text column"})
		}
	}
	if len(issues) > 0 {
		return nil, &contract.ConfigError{Issues: issues}
	}
	return o, nil
}

// Policy is the PHI policy a run applied (summary.json and the manifest).
type Policy struct {
	Endpoint  string            `json:"endpoint"`
	Trusted   bool              `json:"trusted"`
	TrustedBy string            `json:"trusted_by,omitempty"`
	Sent      string            `json:"sent"` // "raw" or "scrubbed"
	Scrubbed  *chat.ScrubCounts `json:"scrubbed,omitempty"`
	Refused   int               `json:"refused_rows,omitempty"`
	SaltFrom  string            `json:"salt_from,omitempty"`
}

// NullRow lists a row whose value of a field is null for a reason other than "not stated".
type NullRow struct {
	Row    int    `json:"row"` // 0-based row of the table
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
	Error  string `json:"error,omitempty"`
}

// Summary is summary.json.
type Summary struct {
	Rows      int            `json:"rows"`
	Model     string         `json:"model"`
	Fields    []OutField     `json:"fields"`
	Sent      int            `json:"requests_sent"` // rows sent (each possibly with retries)
	Attempts  int            `json:"attempts"`      // HTTP requests, retries included
	CacheHits int            `json:"cache_hits"`
	Failed    int            `json:"failed_requests"`
	Malformed int            `json:"malformed_answers"`
	Invalid   map[string]int `json:"invalid_values"` // per field
	Missing   map[string]int `json:"missing_values"` // per field
	Stated    map[string]int `json:"stated_values"`  // per field: non-null
	Nulls     []NullRow      `json:"null_rows"`
	MoreNulls int            `json:"more_null_rows,omitempty"`
	Policy    Policy         `json:"phi_policy"`
}

// maxListed bounds the rows listed in summary.json.
const maxListed = 500

func run(ctx context.Context, env *contract.Env, cfg contract.Config, o *Options) error {
	in, err := env.One(PortData)
	if err != nil {
		return err
	}
	f, err := dataset.ReadFile(in.File(contract.DataFile))
	if err != nil {
		return fmt.Errorf("stage %q: input from %q: %w", env.StageID, in.StageID, err)
	}
	res, err := Extract(ctx, env, f, o, upstreamHashes(env))
	if err != nil {
		return fmt.Errorf("stage %q: %w", env.StageID, err)
	}
	if err := f.WriteFile(env.Out(contract.DataFile)); err != nil {
		return fmt.Errorf("stage %q: %w", env.StageID, err)
	}
	if err := dataset.WriteJSON(env.Out(contract.SummaryFile), res); err != nil {
		return fmt.Errorf("stage %q: %w", env.StageID, err)
	}
	nulls := 0
	for _, n := range res.Invalid {
		nulls += n
	}
	for _, n := range res.Missing {
		nulls += n
	}
	env.SetMetric("extract_rows", res.Rows)
	env.SetMetric("extract_requests_sent", res.Sent)
	env.SetMetric("extract_cache_hits", res.CacheHits)
	env.SetMetric("extract_failed_requests", res.Failed)
	env.SetMetric("extract_malformed_answers", res.Malformed)
	env.SetMetric("extract_invalid_or_missing_values", nulls)
	env.SetMetric("extract_phi_policy", res.Policy.Sent)
	env.SetMetric("extract_endpoint_trusted", res.Policy.Trusted)
	if res.Policy.Scrubbed != nil {
		env.SetMetric("extract_scrubbed_items", res.Policy.Scrubbed.Total())
	}
	return nil
}

// upstreamHashes collects phi_hashes from upstream summaries (DICOM and EDF ingest).
func upstreamHashes(env *contract.Env) []string {
	var out []string
	for _, up := range append(slices.Clone(env.Upstream), env.Inputs...) {
		b, err := os.ReadFile(up.File(contract.SummaryFile))
		if err != nil {
			continue
		}
		var s struct {
			PHI []string `json:"phi_hashes"`
		}
		if json.Unmarshal(b, &s) == nil {
			out = append(out, s.PHI...)
		}
	}
	return out
}

// row is one unit of work.
type row struct {
	i      int
	text   string // what is sent
	key    string // cache key
	answer string
	ok     bool
	err    error
	tries  int
}

// Extract fills the declared fields of every row of f in place (new columns) and returns
// the summary. phiHashes are hashes of identifiers seen upstream (scrubbed like the
// identifier columns' values).
func Extract(ctx context.Context, env *contract.Env, f *dataset.Frame, o *Options, phiHashes []string) (*Summary, error) {
	text := f.Col(o.Text)
	if text == nil {
		return nil, fmt.Errorf("text column %q not in the table (columns: %s)%s", o.Text, strings.Join(f.Names(), ", "), contract.DidYouMean(o.Text, f.Names()))
	}
	if text.Kind != dataset.String {
		return nil, fmt.Errorf("text column %q holds %s, not text", o.Text, text.Kind)
	}
	for _, fl := range o.Fields {
		if f.Col(fl.Name) != nil {
			return nil, fmt.Errorf("field %q: the table already has a column of that name", fl.Name)
		}
		if fl.Label != "" && f.Col(fl.Label) == nil {
			return nil, fmt.Errorf("field %q: label column %q not in the table%s", fl.Name, fl.Label, contract.DidYouMean(fl.Label, f.Names()))
		}
	}
	idCols := slices.Clone(o.Identifiers)
	for _, k := range []string{dataset.MetaID, dataset.MetaGroup} {
		if n := f.Meta[k]; n != "" && !slices.Contains(idCols, n) {
			idCols = append(idCols, n)
		}
	}
	n := f.NumRows()
	sum := &Summary{Rows: n, Model: o.LLM.Model, Fields: o.Fields, Invalid: map[string]int{}, Missing: map[string]int{}, Stated: map[string]int{},
		Policy: Policy{Endpoint: o.LLM.BaseURL, Trusted: o.TrustedBy != "", TrustedBy: o.TrustedBy, Sent: "raw"}}

	// What each row sends.
	rows := make([]*row, n)
	var scrub *chat.Scrubber
	var guard *chat.Guard
	if o.TrustedBy == "" {
		if !o.Scrub {
			return nil, fmt.Errorf("refusing to send raw notes to untrusted endpoint %s (scrub: false)", o.LLM.BaseURL)
		}
		guard = chat.NewGuard()
		for _, name := range idCols {
			c := f.Col(name)
			if c == nil {
				return nil, fmt.Errorf("identifier column %q not in the table%s", name, contract.DidYouMean(name, f.Names()))
			}
			for i := range n {
				if !c.IsValid(i) {
					continue
				}
				v := c.Text(i)
				guard.AddValues(v)
				guard.AddValues(strings.Fields(v)...) // a name's parts: "Mr Smith"
			}
		}
		if err := guard.AddHashes(phiHashes...); err != nil {
			return nil, fmt.Errorf("upstream phi_hashes: %w", err)
		}
		salt, from, err := env.PseudonymSalt(env.Config.String(FieldSalt), env.Config.String(FieldSaltEnv))
		if err != nil {
			return nil, err
		}
		scrub = &chat.Scrubber{Guard: guard, Salt: salt, MaxShift: o.MaxShift}
		sum.Policy.Sent, sum.Policy.SaltFrom, sum.Policy.Scrubbed = "scrubbed", from, &chat.ScrubCounts{}
	}
	system := systemPrompt(o)
	schema := Schema(o.Fields)
	for i := range n {
		r := &row{i: i}
		rows[i] = r
		if !text.IsValid(i) || strings.TrimSpace(text.S[i]) == "" {
			continue
		}
		r.text = text.S[i]
		if scrub != nil {
			var c chat.ScrubCounts
			r.text, c = scrub.Scrub(r.text, patientOf(f, i))
			sum.Policy.Scrubbed.Add(c)
			if err := guard.Check(r.text); err != nil {
				r.err, r.text = err, ""
				sum.Policy.Refused++
				continue
			}
		}
		r.key = cacheKey(o.LLM.Model, system, schema, r.text)
	}

	// Cached answers, then the rest concurrently.
	cache := answerCache{}
	if o.Cache && env.WorkDir != "" {
		cache.dir = filepath.Join(env.WorkDir, "llm-cache")
	}
	var todo []*row
	for _, r := range rows {
		if r.text == "" {
			continue
		}
		if a, ok := cache.load(r.key); ok {
			r.answer, r.ok = a, true
			sum.CacheHits++
			continue
		}
		todo = append(todo, r)
	}
	if len(todo) > 0 {
		client, err := chat.New(o.LLM)
		if err != nil {
			return nil, err
		}
		prog := env.Progress("extract", len(todo))
		sem := make(chan struct{}, o.Concurrency)
		var wg sync.WaitGroup
		for _, r := range todo {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				user := "Clinical note:\n" + r.text
				answer, attempts, err := client.CompleteJSON(ctx, system, user, chat.Schema{Name: "extraction", Schema: schema})
				r.tries = len(attempts)
				if err != nil {
					r.err = err
				} else if r.answer, r.ok = answer, true; Validate(o.Fields, answer)[0].Reason != ReasonMalformed {
					// a malformed answer is not kept: a re-run asks again
					if perr := cache.save(r.key, answer); perr != nil {
						env.Log.Warn("llm answer cache", "stage", env.StageID, "err", perr)
					}
				}
				prog.Add(1)
			}()
		}
		wg.Wait()
		prog.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		failed := 0
		var first error
		for _, r := range todo {
			sum.Sent++
			sum.Attempts += r.tries
			if !r.ok {
				failed++
				if first == nil {
					first = r.err
				}
			}
		}
		if failed == len(todo) && sum.CacheHits == 0 {
			return nil, fmt.Errorf("every one of %d requests failed; first: %w", failed, first)
		}
	}

	// Validate and fill the columns.
	cols := make([]*dataset.Column, len(o.Fields))
	for j, fl := range o.Fields {
		c := &dataset.Column{Name: fl.Name, Valid: make([]bool, n), Meta: map[string]string{MetaType: fl.Type}}
		if fl.Label != "" {
			c.Meta[MetaLabel] = fl.Label
		}
		if fl.Tolerance > 0 {
			c.Meta[evaluation.MetaExtractTol] = strconv.FormatFloat(fl.Tolerance, 'g', -1, 64)
		}
		switch fl.Type {
		case TypeEnum, TypeString:
			c.Kind, c.S = dataset.String, make([]string, n)
		case TypeFloat:
			c.Kind, c.F = dataset.Float, make([]float64, n)
		default: // int, bool (0/1)
			c.Kind, c.I = dataset.Int, make([]int64, n)
		}
		cols[j] = c
	}
	list := func(nr NullRow) {
		if len(sum.Nulls) < maxListed {
			sum.Nulls = append(sum.Nulls, nr)
		} else {
			sum.MoreNulls++
		}
	}
	for _, r := range rows {
		switch {
		case r.text == "" && r.err == nil: // no text: nothing to extract
			continue
		case r.err != nil && !r.ok:
			reason := ReasonFailed
			if _, refused := r.err.(*chat.ErrIdentifier); refused {
				reason = ReasonRefused
			} else {
				sum.Failed++
			}
			list(NullRow{Row: r.i, Reason: reason, Error: r.err.Error()})
			continue
		}
		vals := Validate(o.Fields, r.answer)
		if len(vals) > 0 && vals[0].Reason == ReasonMalformed {
			sum.Malformed++
			list(NullRow{Row: r.i, Reason: ReasonMalformed})
			continue
		}
		for j, v := range vals {
			fl, c := o.Fields[j], cols[j]
			switch v.Reason {
			case ReasonInvalid:
				sum.Invalid[fl.Name]++
				list(NullRow{Row: r.i, Field: fl.Name, Reason: v.Reason})
			case ReasonMissing:
				sum.Missing[fl.Name]++
				list(NullRow{Row: r.i, Field: fl.Name, Reason: v.Reason})
			}
			if v.V == nil {
				continue
			}
			sum.Stated[fl.Name]++
			c.Valid[r.i] = true
			switch x := v.V.(type) {
			case string:
				c.S[r.i] = x
			case float64:
				c.F[r.i] = x
			case int64:
				c.I[r.i] = x
			case bool:
				if x {
					c.I[r.i] = 1
				}
			}
		}
	}
	for _, c := range cols {
		f.Columns = append(f.Columns, c)
	}
	mark := func(name, role string) {
		if c := f.Col(name); c != nil && c.Meta[MetaRole] == "" {
			if c.Meta == nil {
				c.Meta = map[string]string{}
			} else {
				c.Meta = maps(c.Meta)
			}
			c.Meta[MetaRole] = role
		}
	}
	mark(o.Text, "text")
	for _, fl := range o.Fields {
		if fl.Label != "" {
			mark(fl.Label, "label")
		}
	}
	for _, name := range o.Identifiers {
		mark(name, "identifier")
	}
	return sum, f.Validate()
}

func maps(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// patientOf returns the key of a row's date offset: its group (patient), else its id, else
// the row number.
func patientOf(f *dataset.Frame, i int) string {
	for _, k := range []string{dataset.MetaGroup, dataset.MetaID} {
		if c := f.Col(f.Meta[k]); c != nil && c.IsValid(i) {
			return k + "\x00" + c.Text(i)
		}
	}
	return "row\x00" + strconv.Itoa(i)
}

// systemPrompt is the instructions plus the list of fields.
func systemPrompt(o *Options) string {
	var b strings.Builder
	b.WriteString(strings.TrimSpace(o.Instructions))
	b.WriteString("\n\nFields:\n")
	for _, f := range o.Fields {
		fmt.Fprintf(&b, "- %s (%s", f.Name, f.Type)
		if len(f.Values) > 0 {
			fmt.Fprintf(&b, ": one of %s", strings.Join(f.Values, ", "))
		}
		if f.Min != nil {
			fmt.Fprintf(&b, ", >= %g", *f.Min)
		}
		if f.Max != nil {
			fmt.Fprintf(&b, ", <= %g", *f.Max)
		}
		b.WriteString(", or null)")
		if f.Doc != "" {
			b.WriteString(": " + f.Doc)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// cacheKey is the digest of (model, prompt and schema, text digest).
func cacheKey(model, system string, schema []byte, text string) string {
	td := sha256.Sum256([]byte(text))
	h := sha256.New()
	for _, part := range [][]byte{[]byte(model), []byte(system), schema, td[:]} {
		fmt.Fprintf(h, "%d:", len(part))
		h.Write(part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// answerCache keeps answers as files named by their key (no text, no prompt). The zero
// value caches nothing.
type answerCache struct{ dir string }

func (c answerCache) path(key string) string { return filepath.Join(c.dir, key[:2], key+".json") }

func (c answerCache) load(key string) (string, bool) {
	if c.dir == "" {
		return "", false
	}
	b, err := os.ReadFile(c.path(key))
	if err != nil {
		return "", false
	}
	var e struct {
		Answer string `json:"answer"`
	}
	if json.Unmarshal(b, &e) != nil {
		return "", false
	}
	return e.Answer, true
}

func (c answerCache) save(key, answer string) error {
	if c.dir == "" {
		return nil
	}
	p := c.path(key)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return dataset.WriteJSON(p, map[string]any{"answer": answer, "saved": time.Now().UTC().Format(time.RFC3339)})
}
