// Package fusion registers the "fusion" model family: several inputs of one example (a scan,
// a row of clinical variables, a sequence) each read by an encoder of its own family, their
// features combined into one shared head, for classification and regression.
//
// The input columns are split into groups, one per entry of encoders. Each encoder is a
// block naming its family (model), its feature columns (columns) and that family's own
// params, checked against the family's declaration as a train stage checks them:
//
//	encoders:
//	  scan:     {model: cnn, columns: [image], channels: [8, 16], global_pool: max}
//	  clinical: {model: mlp, columns: [age, marker], hidden: [16]}
//
// A group of one tensor column keeps that column's shape ([H, W, C] for a cnn, [T, C] for a
// cnn1d or lstm); a group of numeric columns (or of several tensor columns) is the vector of
// their values. An encoder is its family's network without the output layer (the family's
// Features entry point: mlp hidden layers; cnn blocks, global pooling and hidden layers),
// followed by a projection to embed_dim features (dense + activation). A family without a
// Features entry point (cnn1d, lstm, transformer ...) serves through its full network built
// for embed_dim outputs: its own output layer is then the projection (and the activation
// follows it), so it needs embed_dim > 0.
//
// combine: concat concatenates the encoders' features; gated multiplies each encoder's
// features by a learned gate in (0, 1) per example, g = sigmoid(dense(all features)), one per
// encoder, before concatenating (the gates come back as the extra output "gates" [B,
// encoders], in encoders' name order). The head is dense hidden layers (hidden, activation,
// dropout) and the output layer.
//
// Variables: /model/encoder_<name>/... (the family's own layer names, then projection/),
// /model/gate/, /model/hidden_<i>/, /model/output/; `freeze: [encoder]` freezes every
// encoder.
package fusion

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/models"
)

// Family is the registered family name.
const Family = "fusion"

// Hyper-parameter names. hidden, dropout and activation are shared with mlp and cnn (same
// types).
const (
	ParamEncoders   = "encoders"
	ParamCombine    = "combine"
	ParamEmbedDim   = "embed_dim"
	ParamHidden     = "hidden"
	ParamDropout    = "dropout"
	ParamActivation = models.ParamActivation
)

// Keys of an encoder block besides the family's params.
const (
	KeyModel   = "model"
	KeyColumns = "columns"
)

// Combine choices.
const (
	Concat = "concat"
	Gated  = "gated"
)

// OutGates names the extra output of a gated fusion: the gate of each encoder per example.
const OutGates = "gates"

// Params are the family's hyper-parameters.
var Params = append([]contract.Field{
	{Name: ParamEncoders, Type: contract.Map, Required: true,
		Doc:     "one block per input group, by name: {model: the encoder's family (mlp, cnn, cnn1d, lstm ...), columns: [its feature columns], and that family's own params}; every feature column goes to exactly one encoder",
		Example: "encoders: {scan: {model: cnn, columns: [image], channels: [8, 16]}, clinical: {model: mlp, columns: [age, marker], hidden: [16]}}"},
	{Name: ParamCombine, Type: contract.String, Default: Concat, Enum: []string{Concat, Gated},
		Doc: "how the encoders' features meet: concat, or gated (each encoder's features times a learned sigmoid gate per example, then concatenated; needs embed_dim > 0)"},
	{Name: ParamEmbedDim, Type: contract.Int, Default: 32, Min: contract.Bound(0),
		Doc: "features per encoder after its projection (dense + activation); 0 = concatenate the encoders' own features unprojected (concat, and encoder families with a features entry point only)"},
	{Name: ParamHidden, Type: contract.Ints, Default: []any{32}, Min: contract.Bound(1),
		Doc: "hidden dense layer widths of the shared head, after combining; [] goes straight to the output"},
	{Name: ParamDropout, Type: contract.Float, Default: 0.0, Min: contract.Bound(0), Max: contract.Bound(0.95),
		Doc: "dropout rate on the combined features and after each hidden layer of the head (training only)"},
}, models.ActivationFields("relu", "activation of the projections and the head's hidden layers", false)...)

func init() {
	models.Register(&models.Family{
		Name:        Family,
		Doc:         "multimodal fusion: one encoder (mlp, cnn, cnn1d, lstm ...) per group of input columns, concatenated or gated into a shared head",
		Description: description,
		Example: `encoders:
  scan:                        # the image column, read by a cnn (its own params)
    model: cnn
    columns: [image]
    channels: [16, 32]
    global_pool: max
  clinical:                    # the clinical table's columns, read by an mlp
    model: mlp
    columns: [age, marker]
    hidden: [16]
combine: concat                # or gated
embed_dim: 32
hidden: [32]
epochs: 30`,
		Params:  Params,
		Build:   Build,
		Check:   check,
		Encoder: []string{"encoder_"},
	})
}

const description = `The input columns are split into groups, one per entry of ` + "`encoders`" + `. Each encoder is a block
naming its family (` + "`model`" + `), its feature columns (` + "`columns`" + `) and that family's own parameters, checked
against the family's declaration as a train stage checks them (a mistake points at its line). Every feature
column goes to exactly one encoder. A group of one tensor column keeps its shape ([H, W, C] for a cnn, [T, C]
for a cnn1d or lstm); a group of numeric columns is the vector of their values.

An encoder is its family's network without the output layer (mlp: the hidden layers; cnn: the blocks, global
pooling and hidden layers), then a projection to ` + "`embed_dim`" + ` features (dense + activation). Families
without such an entry point (cnn1d, lstm, transformer) serve through their whole network built for
` + "`embed_dim`" + ` outputs: their output layer is the projection. ` + "`combine: concat`" + ` concatenates the
encoders' features; ` + "`gated`" + ` first multiplies each encoder's features by a learned gate in (0, 1) per
example (a sigmoid of a dense layer over all features; the gates are the model's extra output ` + "`gates`" + `).
The shared head is ` + "`hidden`" + ` dense layers and the output layer. ` + "`freeze: [encoder]`" + ` freezes every
encoder. The model card records where each feature column lies in an example, and prediction refuses data
whose feature columns differ in name, shape or order.`

var validName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

// check validates the encoder blocks against their families' declarations and fills their
// defaults; issues carry the path encoders.<name>.<field>.
func check(p contract.Config) (contract.Config, []contract.Issue) {
	var issues []contract.Issue
	add := func(path []string, format string, a ...any) {
		issues = append(issues, contract.Issue{Path: path, Msg: fmt.Sprintf(format, a...)})
	}
	raw := p.MapOf(ParamEncoders)
	if len(raw) == 0 {
		add([]string{ParamEncoders}, "give at least one encoder (name: {model: FAMILY, columns: [COLUMNS], ...})")
		return p, issues
	}
	out := make(map[string]any, len(raw))
	owner := map[string]string{}
	for _, name := range sortedKeys(raw) {
		path := []string{ParamEncoders, name}
		if !validName.MatchString(name) {
			add(path, "encoder name %q: use letters, digits and _ (it names the encoder's variables)", name)
			continue
		}
		block, ok := asMap(raw[name])
		if !ok {
			add(path, "want a mapping {model: FAMILY, columns: [...], ...}, got %T", raw[name])
			continue
		}
		famName, _ := block[KeyModel].(string)
		if famName == "" {
			add(append(path, KeyModel), "missing: the encoder's family (%s)", strings.Join(encoderFamilies(), ", "))
			continue
		}
		fam, err := models.Get(famName)
		if err != nil {
			add(append(path, KeyModel), "%v", err)
			continue
		}
		if why := unfit(fam); why != "" {
			add(append(path, KeyModel), "model %q cannot be an encoder: %s (encoder families: %s)", famName, why, strings.Join(encoderFamilies(), ", "))
			continue
		}
		cols, ok := stringList(block[KeyColumns])
		if !ok || len(cols) == 0 {
			add(append(path, KeyColumns), "want a non-empty list of feature column names, got %v", block[KeyColumns])
			continue
		}
		for _, c := range cols {
			if prev, dup := owner[c]; dup {
				add(append(path, KeyColumns), "column %q is already read by encoder %q (each column goes to one encoder)", c, prev)
			}
			owner[c] = name
		}
		params := map[string]any{}
		for k, v := range block {
			if k != KeyModel && k != KeyColumns {
				params[k] = v
			}
		}
		cfg, iss := fam.CheckParams(params)
		for _, is := range iss {
			is.Path = append(slices.Clone(path), is.Path...)
			is.Msg = fmt.Sprintf("encoder %q (model %q): %s", name, famName, is.Msg)
			issues = append(issues, is)
		}
		if len(iss) > 0 {
			continue
		}
		resolved := map[string]any{KeyModel: famName, KeyColumns: cols}
		for k, v := range cfg {
			resolved[k] = v
		}
		out[name] = resolved
	}
	if p.String(ParamCombine) == Gated && p.Int(ParamEmbedDim) == 0 {
		add([]string{ParamEmbedDim}, "combine %q needs embed_dim > 0 (each encoder's features are projected to it before gating)", Gated)
	}
	if p.Int(ParamEmbedDim) == 0 {
		for _, name := range sortedKeys(out) {
			fam, _ := models.Get(out[name].(map[string]any)[KeyModel].(string))
			if fam.Features == nil {
				add([]string{ParamEmbedDim}, "encoder %q: model %q serves as an encoder through its output layer, which needs embed_dim > 0", name, fam.Name)
			}
		}
	}
	if len(issues) > 0 {
		return p, issues
	}
	res := contract.Config{}
	for k, v := range p {
		res[k] = v
	}
	res[ParamEncoders] = out
	return res, nil
}

// unfit says why a family cannot be an encoder ("" when it can): it must learn from labels
// (no task of its own) and not be a fusion itself.
func unfit(f *models.Family) string {
	if f.Name == Family {
		return "fusions do not nest"
	}
	if f.Task != "" {
		return fmt.Sprintf("it is a %s model", f.Task)
	}
	return ""
}

// encoderFamilies lists the registered families that can be encoders.
func encoderFamilies() []string {
	var out []string
	for _, f := range models.Families() {
		if unfit(f) == "" {
			out = append(out, f.Name)
		}
	}
	return out
}

// encoder is one built encoder: where its columns lie in an example and its graph function.
type encoder struct {
	name    string
	columns []dataset.ColumnSlice // in the whole example
	shape   []int                 // the encoder's per-example input shape
	embed   models.FeatureFunc
}

// Build returns the fusion network for the spec (whose Columns say where each feature column
// lies) and the checked params.
func Build(spec models.Spec, p contract.Config) (*models.Network, error) {
	if spec.Task != models.Classification && spec.Task != models.Regression {
		return nil, fmt.Errorf("fusion: unsupported task %q (classification or regression)", spec.Task)
	}
	encs, err := buildEncoders(spec, p)
	if err != nil {
		return nil, err
	}
	combine := p.String(ParamCombine)
	hidden := p.Ints(ParamHidden)
	act := models.ActivationOf(p)
	dropout := p.Float(ParamDropout)
	outDim := spec.OutputDim()
	forward := func(scope *model.Scope, x *graph.Node) []*graph.Node {
		b := x.Shape().Dimensions[0]
		flat := graph.Reshape(x, b, x.Shape().Size()/b)
		feats := make([]*graph.Node, len(encs))
		for i, e := range encs {
			parts := make([]*graph.Node, len(e.columns))
			for j, c := range e.columns {
				parts[j] = graph.Slice(flat, graph.AxisRange(), graph.AxisRange(c.Offset, c.Offset+c.Size()))
			}
			in := parts[0]
			if len(parts) > 1 {
				in = graph.Concatenate(parts, -1)
			}
			feats[i] = e.embed(scope.In("encoder_%s", e.name), graph.Reshape(in, append([]int{b}, e.shape...)...))
		}
		var gates *graph.Node
		if combine == Gated {
			all := graph.Concatenate(feats, -1)
			gates = graph.Sigmoid(layers.DenseWithBias(scope.In("gate"), all, len(encs)))
			for i := range feats {
				g := graph.Slice(gates, graph.AxisRange(), graph.AxisRange(i, i+1))
				feats[i] = graph.Mul(feats[i], g)
			}
		}
		h := feats[0]
		if len(feats) > 1 {
			h = graph.Concatenate(feats, -1)
		}
		h = layers.DropoutStatic(scope.In("combined"), h, dropout)
		for i, width := range hidden {
			ls := scope.In("hidden_%d", i)
			h = act.Apply(layers.DenseWithBias(ls, h, width))
			h = layers.DropoutStatic(ls, h, dropout)
		}
		outs := []*graph.Node{layers.DenseWithBias(scope.In("output"), h, outDim)}
		if gates != nil {
			outs = append(outs, gates)
		}
		return outs
	}
	name := "prediction"
	if spec.Task == models.Classification {
		name = "probabilities"
	}
	names := []string{name}
	if combine == Gated {
		names = append(names, OutGates)
	}
	return &models.Network{Forward: forward, OutputNames: names}, nil
}

// buildEncoders resolves each encoder's columns in the spec and builds its feature function
// (checking the family accepts the group's shape now, not when the graph is first run).
func buildEncoders(spec models.Spec, p contract.Config) ([]encoder, error) {
	cols := spec.ColumnsOrDefault()
	byName := map[string]dataset.ColumnSlice{}
	var names []string
	for _, c := range cols {
		byName[c.Name] = c
		names = append(names, c.Name)
	}
	blocks := p.MapOf(ParamEncoders)
	embedDim := p.Int(ParamEmbedDim)
	act := models.ActivationOf(p)
	used := map[string]bool{}
	var encs []encoder
	for _, name := range sortedKeys(blocks) {
		block, _ := asMap(blocks[name])
		famName, _ := block[KeyModel].(string)
		where := fmt.Sprintf("fusion: %s.%s", ParamEncoders, name)
		fam, err := models.Get(famName)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", where, KeyModel, err)
		}
		colNames, _ := stringList(block[KeyColumns])
		e := encoder{name: name}
		size := 0
		for _, cn := range colNames {
			c, ok := byName[cn]
			if !ok {
				return nil, fmt.Errorf("%s.%s: %q is not a feature column of the data (feature columns: %s)%s",
					where, KeyColumns, cn, strings.Join(names, ", "), contract.DidYouMean(cn, names))
			}
			used[cn] = true
			e.columns = append(e.columns, c)
			size += c.Size()
		}
		e.shape = []int{size}
		if len(e.columns) == 1 && len(e.columns[0].Shape) > 0 {
			e.shape = slices.Clone(e.columns[0].Shape)
		}
		params := map[string]any{}
		for k, v := range block {
			if k != KeyModel && k != KeyColumns {
				params[k] = v
			}
		}
		cfg, err := fam.ResolveParams(params)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		sub := models.Spec{InputShape: e.shape, Task: models.Classification, NumClasses: max(embedDim, 1)}
		off := 0
		for _, c := range e.columns {
			sub.Columns = append(sub.Columns, dataset.ColumnSlice{Name: c.Name, Shape: c.Shape, Offset: off})
			off += c.Size()
		}
		if e.embed, err = embedding(fam, sub, cfg, embedDim, act); err != nil {
			return nil, fmt.Errorf("%s (model %q, input %v from columns %s): %w", where, famName, e.shape, strings.Join(colNames, ", "), err)
		}
		encs = append(encs, e)
	}
	var unused []string
	for _, c := range names {
		if !used[c] {
			unused = append(unused, c)
		}
	}
	if len(unused) > 0 {
		return nil, fmt.Errorf("fusion: %s: feature column(s) %s are read by no encoder (give each feature column to one encoder's columns, or drop it upstream)",
			ParamEncoders, strings.Join(unused, ", "))
	}
	return encs, nil
}

// embedding is an encoder's graph function: the family's features projected to embedDim
// (dense + activation; unprojected when embedDim is 0), or, for a family without a Features
// entry point, its whole network built for embedDim outputs followed by the activation.
func embedding(fam *models.Family, spec models.Spec, cfg contract.Config, embedDim int, act models.Activation) (models.FeatureFunc, error) {
	if fam.Features != nil {
		ff, err := fam.Features(spec, cfg)
		if err != nil {
			return nil, err
		}
		if embedDim == 0 {
			return ff, nil
		}
		return func(scope *model.Scope, x *graph.Node) *graph.Node {
			return act.Apply(layers.DenseWithBias(scope.In("projection"), ff(scope, x), embedDim))
		}, nil
	}
	if embedDim == 0 {
		return nil, fmt.Errorf("serves as an encoder through its output layer, which needs embed_dim > 0")
	}
	net, err := fam.Build(spec, cfg)
	if err != nil {
		return nil, err
	}
	if net.Loss != nil || net.Objective != nil {
		return nil, fmt.Errorf("its network has a loss or objective of its own; an encoder must be a plain supervised network")
	}
	return func(scope *model.Scope, x *graph.Node) *graph.Node {
		return act.Apply(net.Forward(scope, x)[0])
	}, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func asMap(v any) (map[string]any, bool) {
	switch x := v.(type) {
	case map[string]any:
		return x, true
	case contract.Config:
		return x, true
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = e
		}
		return out, true
	}
	return nil, false
}

// stringList reads a list of strings as decoded from YAML or JSON, or normalised.
func stringList(v any) ([]string, bool) {
	switch x := v.(type) {
	case []string:
		return slices.Clone(x), true
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	case string:
		return []string{x}, true
	}
	return nil, false
}
