package models

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/biopipe/biopipe/io/weights"
)

// Source layouts of a pretrained file (Pretrained.Layout).
const (
	LayoutPyTorch = "pytorch" // convolution kernels OIHW, dense weights [out, in] (safetensors default)
	LayoutNative  = "native"  // already the family's layout: kernels [spatial..., in, out], dense [in, out]
)

// Pretrained imports weights trained elsewhere (a safetensors file or an ONNX model).
type Pretrained struct {
	Path string `json:"path"`
	// Map pairs source names with this model's: a source layer prefix ("features.0") with a
	// model layer ("block_0/conv_0"; weight -> weights, bias -> biases), or a source tensor
	// with a model variable ("fc.weight": "output/dense/weights"). When set, only what it
	// names is loaded. Empty: layers are paired in order, convolutions with convolutions and
	// dense layers with dense layers.
	Map map[string]string `json:"map,omitempty"`
	// Exclude lists source name prefixes left out of the inferred pairing (a classifier head
	// of another size, say).
	Exclude []string `json:"exclude,omitempty"`
	// Layout of the source's weights: LayoutPyTorch (default for safetensors) or
	// LayoutNative. ONNX tensors take the layout their operator implies (Conv, Gemm, MatMul).
	Layout string `json:"layout,omitempty"`
}

// Mapping is one source tensor loaded into a model variable.
type Mapping struct {
	Source      string `json:"source"`
	SourceShape []int  `json:"source_shape"`
	Target      string `json:"target"` // variable path
	Shape       []int  `json:"shape"`
	Convert     string `json:"convert,omitempty"` // the layout conversion applied
}

// weightNames and biasNames are the parameter suffixes of a source layer.
var (
	weightNames = []string{"weight", "kernel", "w"}
	biasNames   = []string{"bias", "b"}
)

// srcLayer is a source layer: a name prefix with a weight and maybe a bias.
type srcLayer struct {
	prefix       string
	weight, bias *weights.Tensor
}

// modelLayer is a model layer: a scope with a weights variable and maybe biases.
type modelLayer struct {
	path          string // relative to /model/, e.g. block_0/conv_0
	weights, bias *model.Variable
}

// importPretrained loads p into the model's variables and reports what it did; every shape
// mismatch is listed in one error.
func importPretrained(store *model.Store, net *Network, p Pretrained) (*InitReport, error) {
	plan, err := PlanImport(store, net, p)
	if err != nil {
		return nil, err
	}
	for _, m := range plan.pending {
		t := tensors.FromFlatDataAndDimensions(m.data, m.Shape...)
		if err := m.v.SetValue(t); err != nil {
			return nil, fmt.Errorf("pretrained %s: %s: %w", p.Path, m.Target, err)
		}
	}
	return plan.Report, nil
}

// ImportPlan is the pairing of a pretrained file's tensors with a model's variables.
type ImportPlan struct {
	Report  *InitReport
	pending []pendingCopy
}

type pendingCopy struct {
	Mapping
	v    *model.Variable
	data []float32
}

// PlanImport pairs the tensors of p.Path with the model variables of store, converts
// layouts and checks shapes, without changing any variable. net (may be nil) tells where the
// network flattens a feature map, whose order differs between channels-first sources and
// the family.
func PlanImport(store *model.Store, net *Network, p Pretrained) (*ImportPlan, error) {
	f, err := weights.Read(p.Path)
	if err != nil {
		return nil, fmt.Errorf("pretrained: %w", err)
	}
	switch p.Layout {
	case "", LayoutPyTorch, LayoutNative:
	default:
		return nil, fmt.Errorf("pretrained %s: layout %q: want %s or %s", p.Path, p.Layout, LayoutPyTorch, LayoutNative)
	}
	vars := map[string]*model.Variable{}
	for v := range store.IterVariables() {
		if isModelVar(v) {
			vars[strings.TrimPrefix(v.Path(), modelPrefix)] = v
		}
	}
	type pair struct {
		src *weights.Tensor
		dst string
	}
	var pairs []pair
	if len(p.Map) > 0 {
		for _, src := range slices.Sorted(mapsKeys(p.Map)) {
			dst := strings.Trim(p.Map[src], "/")
			if t := f.Get(src); t != nil {
				if vars[dst] == nil {
					return nil, fmt.Errorf("pretrained %s: map: %q -> %q: the model has no variable %q (variables: %s)", p.Path, src, dst, dst, strings.Join(slices.Sorted(mapsKeys(vars)), ", "))
				}
				pairs = append(pairs, pair{t, dst})
				continue
			}
			sl := sourceLayers(f, nil)[src]
			if sl == nil {
				return nil, fmt.Errorf("pretrained %s: map: %q is neither a tensor nor a layer of the file (see biopipe weights %s)", p.Path, src, p.Path)
			}
			ml := modelLayers(vars)[dst]
			if ml == nil {
				return nil, fmt.Errorf("pretrained %s: map: %q -> %q: the model has no layer %q (layers: %s)", p.Path, src, dst, dst, strings.Join(slices.Sorted(mapsKeys(modelLayers(vars))), ", "))
			}
			pairs = append(pairs, pair{sl.weight, dst + "/" + lastElem(ml.weights.Path())})
			if sl.bias != nil {
				if ml.bias == nil {
					return nil, fmt.Errorf("pretrained %s: map: %q has a bias, model layer %q has none", p.Path, src, dst)
				}
				pairs = append(pairs, pair{sl.bias, dst + "/" + lastElem(ml.bias.Path())})
			}
		}
	} else {
		srcs := sourceLayers(f, p.Exclude)
		mls := modelLayers(vars)
		for _, rank := range []int{5, 4, 3, 2} {
			var s []*srcLayer
			for _, l := range srcs {
				if len(l.weight.Shape) == rank {
					s = append(s, l)
				}
			}
			var m []*modelLayer
			for _, l := range mls {
				if l.weights.Shape().Rank() == rank {
					m = append(m, l)
				}
			}
			sort.Slice(s, func(i, j int) bool { return naturalLess(s[i].prefix, s[j].prefix) })
			sort.Slice(m, func(i, j int) bool { return naturalLess(m[i].path, m[j].path) })
			for i := 0; i < len(s) && i < len(m); i++ {
				pairs = append(pairs, pair{s[i].weight, strings.TrimPrefix(m[i].weights.Path(), modelPrefix)})
				if s[i].bias != nil && m[i].bias != nil {
					pairs = append(pairs, pair{s[i].bias, strings.TrimPrefix(m[i].bias.Path(), modelPrefix)})
				}
			}
		}
		if len(pairs) == 0 {
			return nil, fmt.Errorf("pretrained %s: no source layer pairs with a layer of this model by kind (source layers: %s; model layers: %s); declare map:",
				p.Path, strings.Join(slices.Sorted(mapsKeys(srcs)), ", "), strings.Join(slices.Sorted(mapsKeys(mls)), ", "))
		}
	}

	plan := &ImportPlan{Report: &InitReport{From: p.Path, Format: f.Format, Loaded: []string{}}}
	var mismatches []string
	used := map[string]bool{}
	loaded := map[string]bool{}
	for _, pr := range pairs {
		v := vars[pr.dst]
		if pr.src.Data == nil {
			return nil, fmt.Errorf("pretrained %s: tensor %q is %s, not floating point", p.Path, pr.src.Name, pr.src.DType)
		}
		layout := pr.src.Layout
		if layout == weights.LayoutUnknown && p.Layout != LayoutNative {
			switch len(pr.src.Shape) {
			case 2:
				layout = weights.LayoutOutIn
			case 3, 4, 5:
				layout = weights.LayoutOIHW
			}
		}
		data, shape, convert := toFamilyLayout(pr.src, layout, v.Shape().Rank())
		if net != nil && len(net.Flatten) > 1 && layout == weights.LayoutOutIn && pr.dst == net.FlattenInto+"/dense/weights" {
			data, shape, convert = fromChannelsFirstFlatten(pr.src, net.Flatten)
		}
		want := v.Shape().Dimensions
		if !slices.Equal(shape, want) {
			msg := fmt.Sprintf("%s %v", pr.src.Name, pr.src.Shape)
			if convert != "" {
				msg += fmt.Sprintf(" (%s: %v)", convert, shape)
			}
			mismatches = append(mismatches, fmt.Sprintf("%s does not fit %s %v", msg, v.Path(), want))
			continue
		}
		if loaded[pr.dst] {
			return nil, fmt.Errorf("pretrained %s: two source tensors map to %s", p.Path, v.Path())
		}
		loaded[pr.dst] = true
		used[pr.src.Name] = true
		m := Mapping{Source: pr.src.Name, SourceShape: pr.src.Shape, Target: v.Path(), Shape: shape, Convert: convert}
		plan.pending = append(plan.pending, pendingCopy{Mapping: m, v: v, data: data})
		plan.Report.Mapping = append(plan.Report.Mapping, m)
		plan.Report.Loaded = append(plan.Report.Loaded, v.Path())
	}
	if len(mismatches) > 0 {
		return nil, fmt.Errorf("pretrained %s: %d shape mismatch(es): %s; declare map: (only what to load) or exclude: (source prefixes to leave out)",
			p.Path, len(mismatches), strings.Join(mismatches, "; "))
	}
	for path, v := range vars {
		if !loaded[path] {
			plan.Report.Fresh = append(plan.Report.Fresh, v.Path())
		}
	}
	for _, t := range f.Tensors {
		if !used[t.Name] {
			plan.Report.Unused = append(plan.Report.Unused, t.Name)
		}
	}
	sort.Strings(plan.Report.Loaded)
	sort.Strings(plan.Report.Fresh)
	return plan, nil
}

// toFamilyLayout converts a source weight to the family's layout: convolution kernels
// [out, in, spatial...] -> [spatial..., in, out]; dense [out, in] -> [in, out].
func toFamilyLayout(t *weights.Tensor, layout string, targetRank int) ([]float32, []int, string) {
	r := len(t.Shape)
	switch {
	case layout == weights.LayoutOIHW && r >= 3 && targetRank == r:
		perm := make([]int, r) // output axis k takes source axis perm[k]
		for k := 0; k < r-2; k++ {
			perm[k] = k + 2
		}
		perm[r-2], perm[r-1] = 1, 0
		data, shape := transpose(t.Data, t.Shape, perm)
		return data, shape, "OIHW -> spatial,in,out"
	case layout == weights.LayoutOutIn && r == 2 && targetRank == 2:
		data, shape := transpose(t.Data, t.Shape, []int{1, 0})
		return data, shape, "[out,in] -> [in,out]"
	}
	return t.Data, slices.Clone(t.Shape), ""
}

// fromChannelsFirstFlatten converts a dense weight [out, C*S] whose inputs are a feature
// map flattened channels first (C, spatial...) to the family's [S*C, out] with inputs
// flattened channels last (spatial..., C): the weight, viewed as [out, C, spatial...], is
// permuted as a convolution kernel is. A weight of another size is only transposed (the
// shape check then reports it).
func fromChannelsFirstFlatten(t *weights.Tensor, flat []int) ([]float32, []int, string) {
	c := flat[len(flat)-1]
	n := 1
	for _, d := range flat {
		n *= d
	}
	if len(t.Shape) != 2 || t.Shape[1] != n {
		data, shape := transpose(t.Data, t.Shape, []int{1, 0})
		return data, shape, "[out,in] -> [in,out]"
	}
	view := append([]int{t.Shape[0], c}, flat[:len(flat)-1]...)
	r := len(view)
	perm := make([]int, r)
	for k := 0; k < r-2; k++ {
		perm[k] = k + 2
	}
	perm[r-2], perm[r-1] = 1, 0
	data, _ := transpose(t.Data, view, perm)
	return data, []int{n, t.Shape[0]}, fmt.Sprintf("[out,in] -> [in,out], inputs flattened C,spatial -> spatial,C (feature map %v)", flat)
}

// transpose permutes the axes of a row-major tensor: output axis k is input axis perm[k].
func transpose(data []float32, shape, perm []int) ([]float32, []int) {
	r := len(shape)
	out := make([]int, r)
	for k := range perm {
		out[k] = shape[perm[k]]
	}
	inStride := make([]int, r)
	s := 1
	for k := r - 1; k >= 0; k-- {
		inStride[k] = s
		s *= shape[k]
	}
	res := make([]float32, len(data))
	idx := make([]int, r) // index in the output
	for i := range res {
		off := 0
		for k := 0; k < r; k++ {
			off += idx[k] * inStride[perm[k]]
		}
		res[i] = data[off]
		for k := r - 1; k >= 0; k-- {
			idx[k]++
			if idx[k] < out[k] {
				break
			}
			idx[k] = 0
		}
	}
	return res, out
}

// sourceLayers groups a file's tensors into layers: a name prefix (up to the last . or /)
// with a weight of rank >= 2 and an optional rank-1 bias. Excluded prefixes are left out.
func sourceLayers(f *weights.File, exclude []string) map[string]*srcLayer {
	out := map[string]*srcLayer{}
	for _, t := range f.Tensors {
		if slices.ContainsFunc(exclude, func(p string) bool { return strings.HasPrefix(t.Name, p) }) {
			continue
		}
		i := strings.LastIndexAny(t.Name, "./")
		if i < 0 {
			continue
		}
		prefix, param := t.Name[:i], strings.ToLower(t.Name[i+1:])
		l := out[prefix]
		if l == nil {
			l = &srcLayer{prefix: prefix}
		}
		switch {
		case slices.Contains(weightNames, param) && len(t.Shape) >= 2:
			l.weight = t
		case slices.Contains(biasNames, param) && len(t.Shape) == 1:
			l.bias = t
		default:
			continue
		}
		out[prefix] = l
	}
	for k, l := range out {
		if l.weight == nil {
			delete(out, k)
		}
	}
	return out
}

// modelLayers groups model variables into layers: a scope holding "weights" (rank >= 2)
// and maybe "biases".
func modelLayers(vars map[string]*model.Variable) map[string]*modelLayer {
	out := map[string]*modelLayer{}
	for path, v := range vars {
		dir, name := parentOf(path), lastElem(path)
		if name != "weights" || v.Shape().Rank() < 2 {
			continue
		}
		// Dense layers of GoMLX live in <layer>/dense/: name the layer without it.
		l := &modelLayer{path: strings.TrimSuffix(dir, "/dense"), weights: v}
		l.bias = vars[dir+"/biases"]
		out[l.path] = l
	}
	return out
}

func parentOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

func lastElem(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// naturalLess orders names with their digit runs compared as numbers (block_2 < block_10).
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digitsPrefix(a), digitsPrefix(b)
		if da != "" && db != "" {
			na, _ := strconv.Atoi(da)
			nb, _ := strconv.Atoi(db)
			if na != nb {
				return na < nb
			}
			a, b = a[len(da):], b[len(db):]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digitsPrefix(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}

// isWeightsFile reports whether init_from names a file of another framework.
func isWeightsFile(path string) bool { return weights.FormatOf(path) != "" }

// pretrainedAndFineTune imports opts.Pretrained (or an init_from that names a safetensors or
// ONNX file) into the store, after init_from, and returns the report of what was loaded.
func pretrainedAndFineTune(store *model.Store, net *Network, fam *Family, opts *TrainOptions, rep *InitReport, log interface {
	Info(msg string, args ...any)
}) (*InitReport, error) {
	p := opts.Pretrained
	if p == nil && isWeightsFile(opts.InitFrom) {
		p = &Pretrained{Path: opts.InitFrom}
	}
	if p == nil {
		return rep, nil
	}
	if rep != nil && p.Path != opts.InitFrom {
		return nil, fmt.Errorf("model %q: give init_from or pretrained, not both", fam.Name)
	}
	r, err := importPretrained(store, net, *p)
	if err != nil {
		return nil, fmt.Errorf("model %q: %w", fam.Name, err)
	}
	log.Info("pretrained", "path", p.Path, "format", r.Format, "loaded", len(r.Loaded), "fresh", len(r.Fresh), "unused", len(r.Unused))
	return r, nil
}

// Prepare builds a model of opts.Family for examples of inputShape and initialises it from
// opts.InitFrom and opts.Pretrained, without training: to check an import against the
// framework the weights came from, and for the dry-run of `biopipe weights`. Only Family,
// Params, Task, Classes, Seed, Backend, InitFrom and Pretrained are read.
func Prepare(opts TrainOptions, inputShape []int) (*Trained, *InitReport, error) {
	fam, err := Get(opts.Family)
	if err != nil {
		return nil, nil, err
	}
	params, err := fam.ResolveParams(opts.Params)
	if err != nil {
		return nil, nil, err
	}
	task := opts.Task
	if fam.Task != "" {
		task = fam.Task
	}
	backendName, err := NormalizeBackend(opts.Backend)
	if err != nil {
		return nil, nil, err
	}
	spec := Spec{InputShape: slices.Clone(inputShape), Task: task, NumClasses: len(opts.Classes)}
	net, err := buildNetwork(fam, spec, params)
	if err != nil {
		return nil, nil, err
	}
	backend, err := NewBackend(backendName)
	if err != nil {
		return nil, nil, err
	}
	store := model.NewStore()
	if err := store.SetRNGStateFromSeed(opts.Seed); err != nil {
		return nil, nil, fmt.Errorf("model %q: seeding: %w", fam.Name, err)
	}
	tm := &Trained{backend: backend, store: store, net: net, spec: spec,
		card: Card{Family: fam.Name, Task: task, Classes: slices.Clone(opts.Classes), Backend: backendName, Seed: opts.Seed}}
	if err := tm.materialize(); err != nil {
		return nil, nil, fmt.Errorf("model %q: building the network: %w", fam.Name, err)
	}
	var rep *InitReport
	if opts.InitFrom != "" && !isWeightsFile(opts.InitFrom) {
		if rep, err = initFrom(store, opts.InitFrom); err != nil {
			return nil, nil, err
		}
		if opts.InitFromName != "" {
			rep.From = opts.InitFromName
		}
	}
	if rep, err = pretrainedAndFineTune(store, net, fam, &opts, rep, nopLog{}); err != nil {
		return nil, nil, err
	}
	tm.card.InitFrom = rep
	return tm, rep, nil
}

type nopLog struct{}

func (nopLog) Info(string, ...any) {}

// Variables returns the model's variables (paths relative to the model scope, e.g.
// "block_0/conv_0/weights") with their shapes and values, for inspection and tests.
func (t *Trained) Variables() (map[string]*weights.Tensor, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]*weights.Tensor{}
	for v := range t.store.IterVariables() {
		if !isModelVar(v) {
			continue
		}
		val, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("variable %s: %w", v.Path(), err)
		}
		data, err := tensors.CopyFlatData[float32](val)
		if err != nil {
			return nil, fmt.Errorf("variable %s: %w", v.Path(), err)
		}
		rel := strings.TrimPrefix(v.Path(), modelPrefix)
		out[rel] = &weights.Tensor{Name: rel, Shape: slices.Clone(v.Shape().Dimensions), DType: "F32", Data: data}
	}
	return out, nil
}
