package arrowio

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/dataset"
)

// pandasScript prints, per column, whether pandas reads it as numeric and its values
// (null for missing) as JSON.
const pandasScript = `
import sys, json
import pandas as pd
res = []
for path, sep in zip(sys.argv[1::2], sys.argv[2::2]):
    df = pd.read_csv(path, sep=sep, na_values=["?"], keep_default_na=True)
    out = []
    for name in df.columns:
        s = df[name]
        numeric = pd.api.types.is_numeric_dtype(s)
        vals = [None if pd.isna(v) else (float(v) if numeric else str(v)) for v in s]
        out.append({"name": str(name), "numeric": bool(numeric), "values": vals})
    res.append(out)
json.dump(res, sys.stdout)
`

type pandasColumn struct {
	Name    string `json:"name"`
	Numeric bool   `json:"numeric"`
	Values  []any  `json:"values"`
}

// TestAgainstPandas reads files with pandas.read_csv and with ReadCSV and compares
// column names, numeric-vs-text and every value. It skips without python3-pandas.
func TestAgainstPandas(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import pandas").Run(); err != nil {
		t.Skip("pandas not available in /usr/bin/python3 (apt-get install python3-pandas)")
	}
	dir := t.TempDir()
	tricky := filepath.Join(dir, "tricky.csv")
	require.NoError(t, os.WriteFile(tricky, []byte("\xEF\xBB\xBFpatient,sex,age,bmi,note,site\r\n"+
		"p01,F,34,22.5,\"fever, cough\",1\r\n"+
		"p02,M,NA,?,\"two\nlines\",2\r\n"+
		"p03,F,61,,\"said \"\"no\"\"\",N/A\r\n"+
		"p04,,45,31.25,null,3\r\n"+
		"p05,M,52,NaN,plain,1\r\n"), 0o644))
	tsv := filepath.Join(dir, "t.tsv")
	require.NoError(t, os.WriteFile(tsv, []byte("gene\tS1\tS2\nTP53\t1.5\t-2e-3\nBRCA1\t0\t7\n"), 0o644))
	files := []struct{ path, sep string }{
		{"../../testdata/ehr/breast_cancer.csv", ","},
		{tricky, ","},
		{tsv, "\t"},
	}
	args := []string{"-c", pandasScript}
	for _, f := range files {
		args = append(args, f.path, f.sep)
	}
	out, err := exec.Command(py, args...).Output()
	require.NoError(t, err)
	var all [][]pandasColumn
	require.NoError(t, json.Unmarshal(out, &all))
	require.Len(t, all, len(files))
	for k, tc := range files {
		want := all[k]
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			f, _, err := Read(context.Background(), tc.path, Options{})
			require.NoError(t, err)
			require.Equal(t, len(want), len(f.Columns))
			for i, w := range want {
				c := f.Columns[i]
				assert.Equal(t, w.Name, c.Name)
				assert.Equal(t, w.Numeric, c.Numeric(), "column %q numeric", c.Name)
				require.Equal(t, len(w.Values), c.Len())
				for r, v := range w.Values {
					switch {
					case v == nil:
						assert.True(t, !c.IsValid(r) || math.IsNaN(c.Float64(r)), "column %q row %d: pandas says missing", c.Name, r)
					case c.Kind == dataset.String:
						assert.Equal(t, v, c.S[r], "column %q row %d", c.Name, r)
					default:
						assert.Equal(t, v, c.Float64(r), "column %q row %d", c.Name, r)
					}
				}
			}
		})
	}
}
