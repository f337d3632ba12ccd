package train

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/models"
)

func TestFieldsForFamily(t *testing.T) {
	for _, fam := range models.Families() {
		t.Run(fam.Name, func(t *testing.T) {
			fields, err := FieldsFor(fam.Name)
			require.NoError(t, err)
			base := baseFields()
			require.Len(t, fields, len(base)+len(fam.Params))
			for i, b := range base {
				assert.Equal(t, b.Name, fields[i].Name)
			}
			for i, p := range fam.Params {
				f := fields[len(base)+i]
				assert.Equal(t, p.Name, f.Name)
				assert.Equal(t, p.Default, f.Default, "the family's own default, not the union's nil")
				assert.Equal(t, p.Doc, f.Doc)
			}
			// A config with only this family's fields validates against the union spec too.
			raw := map[string]any{FieldModel: fam.Name}
			for _, p := range fam.Params {
				if p.Default != nil {
					raw[p.Name] = p.Default
				}
			}
			_, issues := contract.Check(Fields, raw)
			assert.Empty(t, issues)
		})
	}
	_, err := FieldsFor("cnm")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `did you mean "cnn"?`)
}
