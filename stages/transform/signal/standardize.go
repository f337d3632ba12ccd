package signal

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
)

// Field names and metadata keys of transform.standardize_channels.
const (
	FieldColumn = "column"
	FieldFitOn  = "fit_on"
	FieldEps    = "eps"
	// MetaChannelMean and MetaChannelStd (field metadata of the tensor column) hold the
	// fitted per-channel statistics as JSON lists, so inference can apply the same scaling.
	MetaChannelMean = "biopipe.channel_mean"
	MetaChannelStd  = "biopipe.channel_std"
)

var standardizeKind = &contract.Kind{
	Name:    "transform.standardize_channels",
	Doc:     "per-channel standardisation of a tensor column, fitted on the training split",
	Version: "1",
	Description: `Treats the last axis of a tensor column (x: [samples, channels] from transform.epoch) as
channels, computes each channel's mean and standard deviation over every value of the rows
whose split is fit_on (train by default, so no statistic leaks from validation or test
rows), and rescales every row to (x - mean) / (std + eps). A table without a split column
is fitted on all rows (logged). The statistics are kept in the column's metadata
(biopipe.channel_mean, biopipe.channel_std) and in summary.json.`,
	Fields: []contract.Field{
		{Name: FieldColumn, Type: contract.String, Default: dataset.ColTensor, Doc: "tensor column"},
		{Name: FieldFitOn, Type: contract.String, Default: dataset.Train, Enum: []string{dataset.Train, dataset.Train + "+" + dataset.Val, "all"}, Doc: "rows the statistics are computed on"},
		{Name: FieldEps, Type: contract.Float, Default: 1e-6, Min: contract.Bound(0), Doc: "added to the standard deviation"},
	},
	Inputs:  []contract.Port{{Name: "table", Type: contract.Table, Doc: "a table with a tensor column (and a split column)"}},
	Output:  contract.Port{Name: "table", Type: contract.Table, Doc: "the table, tensor column standardised"},
	Example: "- id: scaled\n  kind: transform.standardize_channels\n  inputs: [split]",
	New: func(cfg contract.Config) (contract.Stage, error) {
		return contract.StageFunc(func(ctx context.Context, env *contract.Env) error { return runStandardize(env, cfg) }), nil
	},
}

func init() { contract.Register(standardizeKind) }

func runStandardize(env *contract.Env, cfg contract.Config) error {
	in, err := env.One("table")
	if err != nil {
		return err
	}
	f, err := dataset.ReadFile(in.File(contract.DataFile))
	if err != nil {
		return err
	}
	name := cfg.String(FieldColumn)
	col := f.Col(name)
	if col == nil || col.Kind != dataset.Tensor {
		return fmt.Errorf("%s: no tensor column %q (columns: %v)", in.File(contract.DataFile), name, f.Names())
	}
	nc := col.Shape[len(col.Shape)-1]
	size := dataset.TensorSize(col.Shape)
	fitOn := cfg.String(FieldFitOn)
	var rows []int
	split := f.Split()
	for r := 0; r < f.NumRows(); r++ {
		use := fitOn == "all" || split == nil
		if !use {
			s := split.Text(r)
			use = s == dataset.Train || (fitOn == dataset.Train+"+"+dataset.Val && s == dataset.Val)
		}
		if use {
			rows = append(rows, r)
		}
	}
	if split == nil && fitOn != "all" {
		env.Log.Warn("no split column: fitting channel statistics on all rows", "stage", env.StageID)
	}
	if len(rows) == 0 {
		return fmt.Errorf("no %s rows to fit the channel statistics on", fitOn)
	}
	sum := make([]float64, nc)
	sq := make([]float64, nc)
	for _, r := range rows {
		for i, v := range col.Row(r) {
			sum[i%nc] += float64(v)
		}
	}
	count := float64(len(rows) * size / nc)
	mean := make([]float64, nc)
	for c := range mean {
		mean[c] = sum[c] / count
	}
	for _, r := range rows {
		for i, v := range col.Row(r) {
			d := float64(v) - mean[i%nc]
			sq[i%nc] += d * d
		}
	}
	std := make([]float64, nc)
	eps := cfg.Float(FieldEps)
	for c := range std {
		std[c] = math.Sqrt(sq[c] / count)
	}
	for i, v := range col.T {
		c := i % nc
		col.T[i] = float32((float64(v) - mean[c]) / (std[c] + eps))
	}
	if col.Meta == nil {
		col.Meta = map[string]string{}
	}
	mj, _ := json.Marshal(mean)
	sj, _ := json.Marshal(std)
	col.Meta[MetaChannelMean], col.Meta[MetaChannelStd] = string(mj), string(sj)
	if err := f.WriteFile(env.Out(contract.DataFile)); err != nil {
		return err
	}
	return dataset.WriteJSON(env.Out(contract.SummaryFile), map[string]any{"column": name, "fit_on": fitOn, "fit_rows": len(rows), "mean": mean, "std": std})
}
