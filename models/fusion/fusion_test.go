package fusion_test

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/models"
	_ "github.com/biopipe/biopipe/models/all" // the encoder families and fusion
)

// twoModalities returns n examples of an 8x8 image column (a bright 3x3 patch somewhere, or
// none: bit a) and two numeric columns (marker: its sign is bit b; noise: none),
// labelled a XOR b: neither input alone says anything about the label.
func twoModalities(n int, seed uint64) *models.Data {
	r := rand.New(rand.NewPCG(seed, 7))
	f := dataset.New()
	img := &dataset.Column{Name: "image", Kind: dataset.Tensor, Shape: []int{8, 8, 1}}
	marker := &dataset.Column{Name: "marker", Kind: dataset.Float}
	noise := &dataset.Column{Name: "noise", Kind: dataset.Float}
	var classes []int
	for range n {
		a, b := r.IntN(2), r.IntN(2)
		px := make([]float32, 64)
		for i := range px {
			px[i] = float32(0.3 * r.NormFloat64())
		}
		x0, y0 := r.IntN(6), r.IntN(6)
		for y := y0; y < y0+3; y++ {
			for x := x0; x < x0+3; x++ {
				px[y*8+x] += 1.5 * float32(a)
			}
		}
		img.T = append(img.T, px...)
		marker.F = append(marker.F, (float64(b)-0.5)*2+0.4*r.NormFloat64())
		noise.F = append(noise.F, r.NormFloat64())
		classes = append(classes, a^b)
	}
	f.Set(img)
	f.Set(marker)
	f.Set(noise)
	x, err := f.Features(nil)
	if err != nil {
		panic(err)
	}
	return &models.Data{X: x, Classes: classes}
}

func accuracy(t *testing.T, tm *models.Trained, d *models.Data) float64 {
	p, err := tm.Predict(context.Background(), d.X)
	require.NoError(t, err)
	right := 0
	for i, row := range p {
		if (row[1] > row[0]) == (d.Classes[i] == 1) {
			right++
		}
	}
	return float64(right) / float64(len(p))
}

func TestFusionLearnsAcrossModalities(t *testing.T) {
	train, val, test := twoModalities(480, 1), twoModalities(120, 2), twoModalities(200, 3)
	require.Equal(t, []dataset.ColumnSlice{
		{Name: "image", Shape: []int{8, 8, 1}, Offset: 0},
		{Name: "marker", Shape: []int{}, Offset: 64},
		{Name: "noise", Shape: []int{}, Offset: 65},
	}, train.X.Columns)
	for _, combine := range []string{"concat", "gated"} {
		t.Run(combine, func(t *testing.T) {
			dir := t.TempDir()
			res, err := models.Train(context.Background(), models.TrainOptions{
				Family: "fusion",
				Params: map[string]any{
					"combine": combine, "embed_dim": 16, "hidden": []any{16},
					"encoders": map[string]any{
						"scan":     map[string]any{"model": "cnn", "columns": []any{"image"}, "channels": []any{8}, "global_pool": "max"},
						"clinical": map[string]any{"model": "mlp", "columns": []any{"marker", "noise"}, "hidden": []any{8}},
					},
				},
				Train: train, Val: val, Task: models.Classification, Classes: []string{"no", "yes"},
				FeatureNames: train.X.Names, Epochs: 30, BatchSize: 32, Seed: 3,
				Optimizer: models.OptimizerConfig{Name: "adam", LearningRate: 0.01}, OutDir: dir,
			})
			require.NoError(t, err)
			acc := accuracy(t, res.Trained, test)
			t.Logf("%s fusion: test accuracy %.3f on a XOR of an image bit and a clinical bit", combine, acc)
			assert.GreaterOrEqual(t, acc, 0.9)

			// The card records the column layout and each encoder's params with its
			// family's defaults filled.
			card := res.Trained.Card()
			assert.Equal(t, train.X.Columns, card.InputColumns)
			scan := card.Params["encoders"].(map[string]any)["scan"].(map[string]any)
			assert.Equal(t, "cnn", scan["model"])
			assert.Equal(t, "max", scan["global_pool"])
			assert.Equal(t, 3, scan["kernel_size"], "the cnn family's default")

			want, err := res.Trained.Predict(context.Background(), test.X)
			require.NoError(t, err)
			loaded, err := models.Load(dir, "")
			require.NoError(t, err)
			got, err := loaded.Predict(context.Background(), test.X)
			require.NoError(t, err)
			assert.Equal(t, want, got)

			outs, err := loaded.Outputs(context.Background(), test.X)
			require.NoError(t, err)
			if combine == "gated" {
				require.Len(t, outs, 2)
				assert.Equal(t, "gates", outs[1].Name)
				assert.Len(t, outs[1].Values[0], 2)
				for _, g := range outs[1].Values[0] {
					assert.True(t, g > 0 && g < 1, "gate %v", g)
				}
			} else {
				assert.Len(t, outs, 1)
			}

			// Inputs whose columns come in another order are refused, not misread.
			swapped := *test.X
			swapped.Columns = append([]dataset.ColumnSlice(nil), test.X.Columns...)
			swapped.Columns[1], swapped.Columns[2] = swapped.Columns[2], swapped.Columns[1]
			swapped.Columns[1].Offset, swapped.Columns[2].Offset = 64, 65
			_, err = loaded.Predict(context.Background(), &swapped)
			assert.ErrorContains(t, err, "input feature column 1 is noise[]")
		})
	}
}

func TestCheckNamesTheField(t *testing.T) {
	fam, err := models.Get("fusion")
	require.NoError(t, err)
	enc := func(blocks map[string]any) map[string]any { return map[string]any{"encoders": blocks} }
	for _, tc := range []struct {
		name   string
		params map[string]any
		path   string
		msg    string
	}{
		{"no encoders", enc(map[string]any{}), "encoders", "at least one encoder"},
		{"no model", enc(map[string]any{"a": map[string]any{"columns": []any{"x"}}}), "encoders.a.model", "missing"},
		{"unknown family", enc(map[string]any{"a": map[string]any{"model": "cnnn", "columns": []any{"x"}}}), "encoders.a.model", `did you mean "cnn"`},
		{"generative family", enc(map[string]any{"a": map[string]any{"model": "gan", "columns": []any{"x"}}}), "encoders.a.model", "generation model"},
		{"nested fusion", enc(map[string]any{"a": map[string]any{"model": "fusion", "columns": []any{"x"}}}), "encoders.a.model", "do not nest"},
		{"no columns", enc(map[string]any{"a": map[string]any{"model": "mlp"}}), "encoders.a.columns", "non-empty list"},
		{"column twice", enc(map[string]any{
			"a": map[string]any{"model": "mlp", "columns": []any{"x"}},
			"b": map[string]any{"model": "mlp", "columns": []any{"x"}}}), "encoders.b.columns", `already read by encoder "a"`},
		{"bad family param", enc(map[string]any{"a": map[string]any{"model": "cnn", "columns": []any{"x"}, "channels": []any{0}}}), "encoders.a.channels.0", "below the minimum"},
		{"unknown family param", enc(map[string]any{"a": map[string]any{"model": "cnn", "columns": []any{"x"}, "chanels": []any{8}}}), "encoders.a.chanels", `did you mean "channels"`},
		{"gated without projection", map[string]any{"combine": "gated", "embed_dim": 0,
			"encoders": map[string]any{"a": map[string]any{"model": "mlp", "columns": []any{"x"}}}}, "embed_dim", "needs embed_dim > 0"},
		{"unprojected family without features", map[string]any{"embed_dim": 0,
			"encoders": map[string]any{"a": map[string]any{"model": "lstm", "columns": []any{"x"}}}}, "embed_dim", `"lstm" serves as an encoder through its output layer`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, issues := fam.CheckParams(tc.params)
			require.NotEmpty(t, issues)
			var paths []string
			for _, is := range issues {
				paths = append(paths, strings.Join(is.Path, "."))
				if strings.Join(is.Path, ".") == tc.path {
					assert.Contains(t, is.Msg, tc.msg)
				}
			}
			assert.Contains(t, paths, tc.path)
		})
	}
}

func TestBuildChecksColumnsAgainstTheData(t *testing.T) {
	fam, err := models.Get("fusion")
	require.NoError(t, err)
	d := twoModalities(4, 1)
	spec := models.Spec{InputShape: d.X.Shape, Task: models.Classification, NumClasses: 2, Columns: d.X.Columns}
	build := func(blocks map[string]any) error {
		cfg, err := fam.ResolveParams(map[string]any{"encoders": blocks})
		require.NoError(t, err)
		_, err = fam.Build(spec, cfg)
		return err
	}
	err = build(map[string]any{"scan": map[string]any{"model": "cnn", "columns": []any{"imag"}}, "c": map[string]any{"model": "mlp", "columns": []any{"marker", "noise"}}})
	assert.ErrorContains(t, err, `fusion: encoders.scan.columns: "imag" is not a feature column of the data (feature columns: image, marker, noise) (did you mean "image"?)`)
	err = build(map[string]any{"scan": map[string]any{"model": "cnn", "columns": []any{"image"}}, "c": map[string]any{"model": "mlp", "columns": []any{"marker"}}})
	assert.ErrorContains(t, err, "feature column(s) noise are read by no encoder")
	// A cnn cannot read a vector of two numeric columns: its own error, with the encoder named.
	err = build(map[string]any{"scan": map[string]any{"model": "mlp", "columns": []any{"image"}}, "c": map[string]any{"model": "cnn", "columns": []any{"marker", "noise"}}})
	assert.ErrorContains(t, err, `fusion: encoders.c (model "cnn", input [2] from columns marker, noise): cnn: input shape [2]`)
}

// A family without a features entry point (cnn1d, lstm) serves through its own network, its
// output layer sized embed_dim: a regression on a sequence column and a numeric column trains.
func TestSequenceEncoderThroughBuild(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	f := dataset.New()
	seq := &dataset.Column{Name: "seq", Kind: dataset.Tensor, Shape: []int{12, 4}}
	age := &dataset.Column{Name: "age", Kind: dataset.Float}
	var targets []float64
	for range 64 {
		var s float64
		for range 48 {
			v := r.NormFloat64()
			s += v
			seq.T = append(seq.T, float32(v))
		}
		a := r.NormFloat64()
		age.F = append(age.F, a)
		targets = append(targets, s/48+a)
	}
	f.Set(seq)
	f.Set(age)
	x, err := f.Features(nil)
	require.NoError(t, err)
	for _, fam := range []string{"cnn1d", "lstm"} {
		t.Run(fam, func(t *testing.T) {
			res, err := models.Train(context.Background(), models.TrainOptions{
				Family: "fusion",
				Params: map[string]any{"combine": "gated", "embed_dim": 4, "encoders": map[string]any{
					"dna": map[string]any{"model": fam, "columns": []any{"seq"}},
					"age": map[string]any{"model": "mlp", "columns": []any{"age"}, "hidden": []any{}}}},
				Train: &models.Data{X: x, Targets: targets}, Task: models.Regression,
				Epochs: 2, BatchSize: 16, Seed: 1,
			})
			require.NoError(t, err)
			vars, err := res.Trained.Variables()
			require.NoError(t, err)
			var names []string
			for n := range vars {
				names = append(names, n)
			}
			all := strings.Join(names, " ")
			assert.Contains(t, all, "encoder_dna/output/")
			assert.Contains(t, all, "encoder_age/projection/")
			assert.Contains(t, all, "gate/")
		})
	}
}
