package signal

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/stages/ingest/signals"
)

// TestExamplesValidate checks that every signal kind's documented example is valid config.
func TestExamplesValidate(t *testing.T) {
	kinds := []*contract.Kind{signals.Kind(), filterKind, resampleKind, referenceKind, channelsKind, epochKind, standardizeKind}
	for _, k := range kinds {
		t.Run(k.Name, func(t *testing.T) {
			var list []struct {
				ID   string         `yaml:"id"`
				Kind string         `yaml:"kind"`
				With map[string]any `yaml:"with"`
			}
			require.NoError(t, yaml.Unmarshal([]byte(k.Example), &list), k.Example)
			require.Len(t, list, 1)
			assert.Equal(t, k.Name, list[0].Kind)
			if list[0].With == nil {
				list[0].With = map[string]any{}
			}
			cfg, issues := contract.Check(k.Fields, list[0].With)
			require.Empty(t, issues)
			_, err := k.New(cfg)
			require.NoError(t, err)
			got, err := contract.Default.Get(k.Name)
			require.NoError(t, err)
			assert.Same(t, k, got, "registered")
		})
	}
}
