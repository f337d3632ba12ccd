package notesgen

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCommittedNotes: testdata/notes/notes.csv is what the generator writes.
func TestCommittedNotes(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, WriteCSV(&b, Generate(DefaultN, DefaultSeed)))
	got, err := os.ReadFile("../../notes/notes.csv")
	require.NoError(t, err)
	assert.Equal(t, b.String(), string(got), "regenerate: go run ./testdata/gen/notesgen/cmd/notesgen -out testdata/notes/notes.csv")
}

// TestRead: the reader's answers on a few phrasings, including ones it does not know.
func TestRead(t *testing.T) {
	cases := []struct{ note, want string }{
		{"Former smoker, 12.5 pack-years, quit in 2011. Assessment: COPD exacerbation. No evidence of malignancy.",
			`{"diagnosis":"copd","metastasis":false,"pack_years":12.5,"smoker":"former"}`},
		{"Never smoker; partner smokes at home. Asthma, well controlled. Not consistent with COPD.",
			`{"diagnosis":"asthma","metastasis":false,"pack_years":null,"smoker":"never"}`},
		{"Smokes 20 cigarettes a day; 30 pack-year history. Assessment: non-small cell lung cancer. PET-CT shows metastases to the liver.",
			`{"diagnosis":"lung_cancer","metastasis":true,"pack_years":30,"smoker":"current"}`},
		{"Tobacco: none. Gave up cigarettes. Cough.", `{"diagnosis":null,"metastasis":null,"pack_years":null,"smoker":null}`},
	}
	for _, c := range cases {
		assert.JSONEq(t, c.want, Read(c.note), c.note)
	}
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(Answer(Prefix+"Ex-smoker.")), &m))
	assert.Equal(t, "former", m["smoker"])
}
