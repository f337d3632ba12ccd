package contract

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testFields = []Field{
	{Name: "name", Type: String, Required: true},
	{Name: "mode", Type: String, Enum: []string{"fast", "slow"}, Default: "fast"},
	{Name: "n", Type: Int, Default: 3, Min: Bound(1)},
	{Name: "rate", Type: Float, Default: 0.5, Max: Bound(1)},
	{Name: "on", Type: Bool, Default: true},
	{Name: "sizes", Type: Ints, Default: []any{4, 2}},
	{Name: "tags", Type: Strings},
	{Name: "opt", Type: Object, Fields: []Field{{Name: "lr", Type: Float, Default: 0.001}}},
}

func TestCheckFillsDefaultsAndNormalises(t *testing.T) {
	cfg, issues := Check(testFields, map[string]any{"name": "x", "tags": "one", "rate": 1, "opt": map[string]any{"lr": "0.1"}})
	require.Empty(t, issues)
	assert.Equal(t, "fast", cfg.String("mode"))
	assert.Equal(t, 3, cfg.Int("n"))
	assert.Equal(t, 1.0, cfg.Float("rate"))
	assert.True(t, cfg.Bool("on"))
	assert.Equal(t, []int{4, 2}, cfg.Ints("sizes"))
	assert.Equal(t, []string{"one"}, cfg.Strings("tags"))
	assert.Equal(t, 0.1, cfg.Object("opt").Float("lr"))
	// A resolved config checks again to itself.
	raw := map[string]any{}
	for k, v := range cfg {
		raw[k] = v
	}
	again, issues := Check(testFields, raw)
	require.Empty(t, issues)
	assert.Equal(t, cfg, again)
}

func TestCheckReportsEveryIssue(t *testing.T) {
	_, issues := Check(testFields, map[string]any{"mode": "fsat", "n": 0, "rate": "high", "sizes": []any{1.5}, "nmae": "x", "opt": map[string]any{"l": 1}})
	var msgs []string
	for _, i := range issues {
		msgs = append(msgs, i.Error())
	}
	assert.ElementsMatch(t, []string{
		`field "mode": "fsat" is not one of fast, slow (did you mean "fast"?)`,
		`field "n": 0 is below the minimum 1`,
		`field "rate": want a number, got the string "high"`,
		`field "sizes": element 0: want an integer, got 1.5`,
		`field "nmae": unknown field (did you mean "name"?)`,
		`field "opt.l": unknown field (did you mean "lr"?)`,
		`field "name": missing required field`,
	}, msgs)
}

func TestSuggest(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"epoch", "epochs"}, {"batchsize", "batch_size"}, {"optimiser", "optimizer"}, {"zzz", ""},
	} {
		assert.Equal(t, tc.want, Suggest(tc.in, []string{"epochs", "batch_size", "optimizer", "model"}), tc.in)
	}
}
