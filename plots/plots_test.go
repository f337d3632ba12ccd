package plots

import (
	"bytes"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/biopipe/biopipe/metrics"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/plot/vg"
)

func TestFigures(t *testing.T) {
	truth := []int{0, 0, 1, 1, 0, 1, 1, 0}
	score := []float64{0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.6, 0.7}
	cm, err := metrics.ConfusionMatrix(truth, []int{0, 0, 0, 1, 0, 1, 1, 1}, 2)
	require.NoError(t, err)
	bins := metrics.Reliability(truth, score, 5)
	roc := metrics.ROC(truth, score)
	figures := map[string]func() ([]byte, error){
		"lines": func() ([]byte, error) {
			return Lines("Loss", "epoch", "loss", []Series{
				{Name: "train", X: []float64{1, 2, 3}, Y: []float64{0.9, 0.5, 0.3}},
				{Name: "val", X: []float64{1, 2, 3}, Y: []float64{1.0, math.NaN(), 0.4}},
			})
		},
		"roc": func() ([]byte, error) {
			return ROC(roc, metrics.AUROC(truth, score), &Point{X: 0.25, Y: 0.75, Label: "threshold 0.50"})
		},
		"pr": func() ([]byte, error) {
			return PR(metrics.PR(truth, score), metrics.AveragePrecision(truth, score), 0.5, nil)
		},
		"confusion": func() ([]byte, error) { return Confusion(cm, []string{"benign", "malignant"}) },
		"confusion3": func() ([]byte, error) {
			return Confusion(metrics.Confusion{{5, 1, 0}, {0, 3, 2}, {1, 0, 7}}, nil)
		},
		"reliability": func() ([]byte, error) { return Reliability(bins, metrics.ECE(bins)) },
		"scatter": func() ([]byte, error) {
			return Scatter("Predicted vs true", []float64{1, 2, 3}, []float64{1.1, 1.9, 3.3})
		},
		"groups": func() ([]byte, error) {
			var gs []Group
			for k := range 9 { // more groups than colours: glyphs take over
				gs = append(gs, Group{Name: fmt.Sprint("class ", k), X: []float64{float64(k), float64(k) + 0.5}, Y: []float64{1, math.NaN()}})
			}
			gs = append(gs, Group{Name: "empty"})
			return GroupScatter("Latent space", "z0", "z1", gs, vg.Points(2))
		},
		"lrfinder": func() ([]byte, error) {
			var lr, loss, sm []float64
			for i := range 50 {
				r := 1e-5 * math.Pow(10, float64(i)/10)
				lr = append(lr, r)
				l := 1 + math.Pow(math.Log10(r)+2, 2)/4
				loss, sm = append(loss, l+0.05*math.Sin(float64(i))), append(sm, l)
			}
			return LRFinder(lr, loss, sm, 1e-3)
		},
		"boundary": func() ([]byte, error) {
			r := Regions{X0: -0.5, X1: 1.5, Y0: -0.5, Y1: 1.5, NX: 40, NY: 40}
			for j := range r.NY {
				for i := range r.NX {
					x, y := -0.5+(float64(i)+0.5)/20, -0.5+(float64(j)+0.5)/20
					r.Class = append(r.Class, map[bool]int{false: 0, true: 1}[(x > 0.5) != (y > 0.5)])
				}
			}
			return DecisionBoundary("XOR", "x1", "x2", r, []Group{
				{Name: "0", X: []float64{0, 1}, Y: []float64{0, 1}}, {Name: "1", X: []float64{0, 1}, Y: []float64{1, 0}}})
		},
	}
	dir := os.Getenv("BIOPIPE_PLOTS_OUT") // set to look at the figures
	for name, fn := range figures {
		t.Run(name, func(t *testing.T) {
			a, err := fn()
			require.NoError(t, err)
			img, err := png.Decode(bytes.NewReader(a))
			require.NoError(t, err)
			assert.Equal(t, int(Width.Dots(96)+0.5), img.Bounds().Dx())
			b, err := fn()
			require.NoError(t, err)
			assert.True(t, bytes.Equal(a, b), "same input, same bytes")
			if dir != "" {
				require.NoError(t, os.WriteFile(filepath.Join(dir, name+".png"), a, 0o644))
			}
		})
	}
	_, err = Confusion(nil, nil)
	assert.Error(t, err)
	_, err = DecisionBoundary("bad", "x", "y", Regions{X0: 0, X1: 1, Y0: 0, Y1: 1, NX: 2, NY: 2, Class: []int{0}}, nil)
	assert.ErrorContains(t, err, "bad region grid")
}

func TestHistory(t *testing.T) {
	tests := []struct {
		name string
		raw  string
	}{
		{"list", `[{"epoch":1,"train_loss":0.9,"val_loss":1.0,"val_accuracy":0.5},{"epoch":2,"train_loss":0.5,"val_loss":0.7,"val_accuracy":0.8}]`},
		{"object", `{"best_epoch":2,"epochs":[{"train_loss":0.9,"val_loss":1.0,"val_accuracy":0.5},{"train_loss":0.5,"val_loss":0.7,"val_accuracy":0.8,"note":"x"}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ParseHistory([]byte(tc.raw))
			require.NoError(t, err)
			require.Len(t, h, 2)
			assert.Equal(t, []string{"loss", "accuracy"}, h.Metrics())
			s := h.Series("loss")
			require.Len(t, s, 2)
			assert.Equal(t, []float64{1, 2}, s[0].X)
			assert.Equal(t, []float64{1.0, 0.7}, s[1].Y)
			png, err := h.Curve("loss")
			require.NoError(t, err)
			assert.NotEmpty(t, png)
		})
	}
	_, err := ParseHistory([]byte(`"nope"`))
	assert.ErrorContains(t, err, "history")
}

func FuzzParseHistory(f *testing.F) {
	f.Add([]byte(`[{"epoch":1,"train_loss":0.5}]`))
	f.Add([]byte(`{"epochs":[{"val_loss":1}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHistory(b)
		if err != nil {
			return
		}
		for _, m := range h.Metrics() {
			for _, s := range h.Series(m) {
				if len(s.X) != len(s.Y) {
					t.Fatalf("series %s: %d x, %d y", s.Name, len(s.X), len(s.Y))
				}
			}
		}
	})
}
