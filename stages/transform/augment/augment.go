// Package augment is the transform.augment stage kind: it adds randomly transformed copies
// of the train rows of a tensor dataset (flips, small rotations and shifts, intensity
// jitter, noise), computed on the host and seeded by the pipeline seed, so the same seed
// gives the same augmented table bit for bit. Val and test rows are never touched.
package augment

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/stages/transform/internal/tab"
)

// KindName is the registered name of the stage kind.
const KindName = "transform.augment"

// Config field names.
const (
	FieldColumn     = "column"
	FieldCopies     = "copies"
	FieldFlipH      = "flip_horizontal"
	FieldFlipV      = "flip_vertical"
	FieldRotate     = "rotate"
	FieldShift      = "shift"
	FieldContrast   = "contrast"
	FieldBrightness = "brightness"
	FieldNoise      = "noise"
	FieldFill       = "fill"
	FieldFillValue  = "fill_value"
)

// Fill modes for pixels that a rotation or shift brings in from outside the image.
const (
	FillEdge     = "edge"     // repeat the nearest border pixel
	FillConstant = "constant" // fill_value
)

// ColAugment is the role column added to the output: 0 for an original row, k for the k-th
// augmented copy. It is marked as a role column (field metadata biopipe.role), so it is not
// a model feature.
const ColAugment = "augment"

// Fields is the config of transform.augment.
var Fields = []contract.Field{
	{Name: FieldColumn, Type: contract.String,
		Doc: "the tensor column to augment (default: the table's only tensor feature column)"},
	{Name: FieldCopies, Type: contract.Int, Default: 1, Min: contract.Bound(0), Max: contract.Bound(100),
		Doc: "augmented copies of each train row to add (val/test rows are never augmented)"},
	{Name: FieldFlipH, Type: contract.Bool, Default: false,
		Doc: "mirror left-right (the last spatial axis) with probability 1/2; off for data whose laterality matters"},
	{Name: FieldFlipV, Type: contract.Bool, Default: false,
		Doc: "mirror top-bottom (the second-last spatial axis) with probability 1/2"},
	{Name: FieldRotate, Type: contract.Float, Default: 0.0, Min: contract.Bound(0), Max: contract.Bound(180),
		Doc: "rotate the image plane by a uniform angle in [-rotate, +rotate] degrees (bilinear); images and volumes only"},
	{Name: FieldShift, Type: contract.Float, Default: 0.0, Min: contract.Bound(0), Max: contract.Bound(0.5),
		Doc: "translate each spatial axis by a uniform fraction of its length in [-shift, +shift] (e.g. 0.1 = up to 10%)"},
	{Name: FieldContrast, Type: contract.Float, Default: 0.0, Min: contract.Bound(0), Max: contract.Bound(1),
		Doc: "multiply the values by 1 + u, u uniform in [-contrast, +contrast]"},
	{Name: FieldBrightness, Type: contract.Float, Default: 0.0, Min: contract.Bound(0),
		Doc: "add u * sd, u uniform in [-brightness, +brightness], sd the column's standard deviation over the train rows"},
	{Name: FieldNoise, Type: contract.Float, Default: 0.0, Min: contract.Bound(0),
		Doc: "add Gaussian noise of standard deviation noise * sd to every value (sd as for brightness)"},
	{Name: FieldFill, Type: contract.String, Default: FillEdge, Enum: []string{FillEdge, FillConstant},
		Doc: "values brought in from outside the image by rotate/shift: edge (nearest border value) or constant (fill_value)"},
	{Name: FieldFillValue, Type: contract.Float, Default: 0.0,
		Doc: "the constant for fill: constant"},
}

func init() {
	contract.Register(&contract.Kind{
		Name: KindName,
		Doc:  "add seeded, randomly flipped/rotated/shifted/intensity-jittered copies of the train rows of a tensor column",
		Description: `For each of copies rounds, every row whose split is "train" gets one augmented copy, appended
after the original rows with all its other columns (label, group, split) unchanged; an id column gets the
suffix "#aug<k>". The transforms apply to the tensor column, channels last: [T, C] sequences (flips and
shifts along T), [H, W, C] images and [D, H, W, C] volumes (flips, shifts and rotation in the H-W plane, the
same for every slice; shifts along every spatial axis). One affine map per copy is sampled (flip, angle,
shift), then values are resampled bilinearly, then contrast, brightness and noise are applied. Random numbers
come from the pipeline seed, so a re-run gives the same table. A role column "augment" (0 = original, k = k-th
copy) is added. A segmentation mask column (role mask, from ingest.volumes' masks:) gets the same flip, rotation
and shift, resampled nearest-neighbour with background (0) brought in, and no intensity change, so each copy's
mask stays on its image. Needs a split column: augment after transform.split so copies of a train row never
land in val or test.`,
		Version: "1",
		Fields:  Fields,
		Inputs:  tab.InputPort,
		Output:  contract.Port{Name: "data", Type: contract.Table, Doc: "the table with augmented train rows appended"},
		New:     New,
		Example: `- id: augment
  kind: transform.augment
  inputs: [split]
  with: {copies: 2, rotate: 10, shift: 0.1, contrast: 0.1, flip_horizontal: true}`,
	})
}

// Options are the augmentation settings.
type Options struct {
	Column     string
	Copies     int
	FlipH      bool
	FlipV      bool
	Rotate     float64 // degrees
	Shift      float64 // fraction of each axis
	Contrast   float64
	Brightness float64
	Noise      float64
	Fill       string
	FillValue  float64
}

// Summary counts what the stage did (summary.json).
type Summary struct {
	Column     string `json:"column"`
	Shape      []int  `json:"shape"`
	TrainRows  int    `json:"train_rows"`
	Copies     int    `json:"copies"`
	AddedRows  int    `json:"added_rows"`
	OutputRows int    `json:"output_rows"`
}

// New builds the stage from a validated config.
func New(cfg contract.Config) (contract.Stage, error) {
	o := Options{
		Column: cfg.String(FieldColumn), Copies: cfg.Int(FieldCopies),
		FlipH: cfg.Bool(FieldFlipH), FlipV: cfg.Bool(FieldFlipV),
		Rotate: cfg.Float(FieldRotate), Shift: cfg.Float(FieldShift),
		Contrast: cfg.Float(FieldContrast), Brightness: cfg.Float(FieldBrightness), Noise: cfg.Float(FieldNoise),
		Fill: cfg.String(FieldFill), FillValue: cfg.Float(FieldFillValue),
	}
	return contract.StageFunc(func(ctx context.Context, env *contract.Env) error {
		f, err := tab.Load(env)
		if err != nil {
			return err
		}
		out, sum, err := Apply(ctx, f, o, env.Seed)
		if err != nil {
			return fmt.Errorf("stage %q: %w", env.StageID, err)
		}
		env.SetMetric("augmented_rows", sum.AddedRows)
		if err := tab.Write(env, out, nil); err != nil {
			return err
		}
		return dataset.WriteJSON(env.Out(contract.SummaryFile), sum)
	}), nil
}

// Apply returns f with o.Copies augmented copies of every train row appended. The random
// numbers come from seed only: the same frame, options and seed give the same result.
func Apply(ctx context.Context, f *dataset.Frame, o Options, seed int64) (*dataset.Frame, *Summary, error) {
	col, err := tensorColumn(f, o.Column)
	if err != nil {
		return nil, nil, err
	}
	if f.Split() == nil {
		return nil, nil, fmt.Errorf("no %q column: put transform.split before transform.augment, so that copies of a train row never reach val or test", dataset.ColSplit)
	}
	if len(col.Shape) < 2 {
		return nil, nil, fmt.Errorf("column %q has shape %v; augment needs [T, C], [H, W, C] or [D, H, W, C] (channels last)", col.Name, col.Shape)
	}
	if o.Rotate > 0 && len(col.Shape) < 3 {
		return nil, nil, fmt.Errorf("rotate: column %q has shape %v, a sequence [T, C]; rotation needs images [H, W, C] or volumes [D, H, W, C]", col.Name, col.Shape)
	}
	if o.Fill == "" {
		o.Fill = FillEdge
	}
	train := f.SplitRows(dataset.Train)
	sum := &Summary{Column: col.Name, Shape: slices.Clone(col.Shape), TrainRows: len(train), Copies: o.Copies}
	var sd float64
	if o.Brightness > 0 || o.Noise > 0 {
		sd = trainSD(col, train)
	}
	n := f.NumRows()
	rows := make([]int, 0, n+len(train)*o.Copies)
	for i := range n {
		rows = append(rows, i)
	}
	for range o.Copies {
		rows = append(rows, train...)
	}
	out := f.Rows(rows)
	out.Meta = cloneMeta(f.Meta)
	aug := &dataset.Column{Name: ColAugment, Kind: dataset.Int, I: make([]int64, len(rows)), Meta: map[string]string{"biopipe.role": ColAugment}}
	if out.Col(ColAugment) != nil {
		return nil, nil, fmt.Errorf("the table already has a column %q (augment once)", ColAugment)
	}
	oc := out.Col(col.Name)
	size := dataset.TensorSize(col.Shape)
	h := fnv.New64a()
	h.Write([]byte(KindName))
	rng := rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
	geo := newGeometry(col.Shape)
	idc := out.Col(f.Meta[dataset.MetaID])
	// A segmentation mask (role mask) moves with its image: the same flip, rotation and
	// shift, resampled nearest-neighbour (class indices), background (0) brought in.
	var mask *dataset.Column
	var mgeo *geometry
	msize := 0
	if mc := f.Mask(); mc != nil && mc != col {
		mshape := mc.Shape
		spatial := col.Shape[:len(col.Shape)-1]
		if slices.Equal(mshape, spatial) {
			mshape = append(slices.Clone(spatial), 1)
		}
		if len(mshape) != len(col.Shape) || !slices.Equal(mshape[:len(mshape)-1], spatial) || mshape[len(mshape)-1] != 1 {
			return nil, nil, fmt.Errorf("mask column %q has shape %v; it must have the spatial shape of column %q %v (one class per voxel) to be augmented with it", mc.Name, mc.Shape, col.Name, col.Shape)
		}
		mask, mgeo, msize = out.Col(mc.Name), newGeometry(mshape), dataset.TensorSize(mshape)
	}
	for k := 1; k <= o.Copies; k++ {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		for j, r := range train {
			at := n + (k-1)*len(train) + j
			aug.I[at] = int64(k)
			dst := oc.T[at*size : (at+1)*size]
			d := geo.transform(rng, o, sd, col.Row(r), dst)
			if mask != nil {
				mgeo.applyNearest(d, f.Mask().Row(r), mask.T[at*msize:(at+1)*msize])
			}
			if idc != nil && idc.Kind == dataset.String && idc.IsValid(at) {
				idc.S[at] += "#aug" + strconv.Itoa(k)
			}
		}
	}
	out.Set(aug)
	sum.AddedRows = len(rows) - n
	sum.OutputRows = len(rows)
	return out, sum, out.Validate()
}

func cloneMeta(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// tensorColumn finds the named tensor column, or the only tensor feature column.
func tensorColumn(f *dataset.Frame, name string) (*dataset.Column, error) {
	if name != "" {
		c := f.Col(name)
		if c == nil {
			msg := ""
			if s := contract.Suggest(name, f.Names()); s != "" {
				msg = fmt.Sprintf(" (did you mean %q?)", s)
			}
			return nil, fmt.Errorf("column: %q not found%s", name, msg)
		}
		if c.Kind != dataset.Tensor {
			return nil, fmt.Errorf("column: %q is a %s column, not a tensor (build one with transform.tensor)", name, c.Kind)
		}
		return c, nil
	}
	cols, err := tab.Columns(f, nil, func(c *dataset.Column) bool { return c.Kind == dataset.Tensor })
	if err != nil {
		return nil, err
	}
	switch len(cols) {
	case 0:
		return nil, fmt.Errorf("no tensor feature column to augment (build one with transform.tensor)")
	case 1:
		return cols[0], nil
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	return nil, fmt.Errorf("several tensor columns %v: name one with column:", names)
}

// trainSD is the population standard deviation of every value of col in the given rows.
func trainSD(col *dataset.Column, rows []int) float64 {
	var s, ss, n float64
	for _, r := range rows {
		for _, v := range col.Row(r) {
			s += float64(v)
			n++
		}
	}
	if n == 0 {
		return 0
	}
	mean := s / n
	for _, r := range rows {
		for _, v := range col.Row(r) {
			d := float64(v) - mean
			ss += d * d
		}
	}
	return math.Sqrt(ss / n)
}

// geometry describes a channels-last tensor as planes: outer (depth slices, 1 for images
// and sequences) x rows x cols x channels. A sequence [T, C] is one row of T columns.
type geometry struct {
	depth, rows, cols, ch int
	image                 bool // has a 2-D plane (rotation allowed)
}

func newGeometry(shape []int) *geometry {
	g := &geometry{depth: 1, rows: 1, ch: shape[len(shape)-1]}
	sp := shape[:len(shape)-1]
	switch len(sp) {
	case 1:
		g.cols = sp[0]
	default:
		g.rows, g.cols = sp[len(sp)-2], sp[len(sp)-1]
		g.depth = dataset.TensorSize(sp[:len(sp)-2])
		g.image = true
	}
	return g
}

// draw is one copy's random transform.
type draw struct {
	flipH, flipV bool
	angle        float64 // radians
	dz, dy, dx   float64 // shifts in slices, rows, columns
	gain, offset float64 // v*gain + offset
	noise        float64 // noise standard deviation
	rng          *rand.Rand
}

// transform writes one augmented copy of src into dst (same layout) and returns the draw.
func (g *geometry) transform(rng *rand.Rand, o Options, sd float64, src, dst []float32) draw {
	// Sample in a fixed order whatever the options, so that turning one transform on does
	// not change the others' draws.
	d := draw{rng: rng, noise: o.Noise * sd}
	d.flipH = rng.IntN(2) == 1 && o.FlipH
	d.flipV = rng.IntN(2) == 1 && o.FlipV
	d.angle = (2*rng.Float64() - 1) * o.Rotate * math.Pi / 180
	d.dz = (2*rng.Float64() - 1) * o.Shift * float64(g.depth)
	d.dy = (2*rng.Float64() - 1) * o.Shift * float64(g.rows)
	d.dx = (2*rng.Float64() - 1) * o.Shift * float64(g.cols)
	d.gain = 1 + (2*rng.Float64()-1)*o.Contrast
	d.offset = (2*rng.Float64() - 1) * o.Brightness * sd
	if g.depth == 1 {
		d.dz = 0
	}
	if !g.image {
		d.dy = 0
	}
	g.apply(d, o, src, dst)
	return d
}

// source is the inverse map of d's flips, shifts and rotation (cos, sin of d.angle, about
// the plane's centre): output pixel (y, x) reads input position (sy, sx).
func (g *geometry) source(d draw, cos, sin float64, x, y int) (sx, sy float64) {
	cy, cx := float64(g.rows-1)/2, float64(g.cols-1)/2
	ox, oy := float64(x), float64(y)
	if d.flipH {
		ox = float64(g.cols-1) - ox
	}
	if d.flipV {
		oy = float64(g.rows-1) - oy
	}
	ox, oy = ox-d.dx-cx, oy-d.dy-cy
	return cos*ox + sin*oy + cx, -sin*ox + cos*oy + cy
}

// applyNearest writes src (class indices) moved by d's flips, rotation and shifts into
// dst, reading the nearest source voxel; voxels brought in from outside are 0 (background).
// It is apply's geometry without interpolation or intensity changes, so a mask stays on its
// image.
func (g *geometry) applyNearest(d draw, src, dst []float32) {
	cos, sin := math.Cos(d.angle), math.Sin(d.angle)
	plane := g.rows * g.cols * g.ch
	for z := range g.depth {
		sz := int(math.Round(float64(z) - d.dz))
		dp := dst[z*plane : (z+1)*plane]
		for y := range g.rows {
			for x := range g.cols {
				fx, fy := g.source(d, cos, sin, x, y)
				sx, sy := int(math.Round(fx)), int(math.Round(fy))
				inside := sz >= 0 && sz < g.depth && sy >= 0 && sy < g.rows && sx >= 0 && sx < g.cols
				for c := range g.ch {
					v := float32(0)
					if inside {
						v = src[sz*plane+(sy*g.cols+sx)*g.ch+c]
					}
					dp[(y*g.cols+x)*g.ch+c] = v
				}
			}
		}
	}
}

// apply writes src transformed by d into dst.
func (g *geometry) apply(d draw, o Options, src, dst []float32) {
	cos, sin := math.Cos(d.angle), math.Sin(d.angle)
	plane := g.rows * g.cols * g.ch
	for z := range g.depth {
		// Depth shift: nearest slice (volumes are short along depth).
		sz := int(math.Round(float64(z) - d.dz))
		zOK := sz >= 0 && sz < g.depth
		sz = min(max(sz, 0), g.depth-1)
		sp := src[sz*plane : (sz+1)*plane]
		dp := dst[z*plane : (z+1)*plane]
		for y := range g.rows {
			for x := range g.cols {
				sx, sy := g.source(d, cos, sin, x, y)
				for c := range g.ch {
					v := g.sample(sp, sy, sx, c, o)
					if !zOK && o.Fill == FillConstant {
						v = o.FillValue
					}
					v = v*d.gain + d.offset
					if d.noise > 0 {
						v += d.rng.NormFloat64() * d.noise
					}
					dp[(y*g.cols+x)*g.ch+c] = float32(v)
				}
			}
		}
	}
}

// sample reads channel c of plane p at (y, x) with bilinear interpolation; outside the
// plane the fill mode applies.
func (g *geometry) sample(p []float32, y, x float64, c int, o Options) float64 {
	const eps = 1e-9
	if o.Fill == FillConstant && (y < -eps || x < -eps || y > float64(g.rows-1)+eps || x > float64(g.cols-1)+eps) {
		return o.FillValue // any point outside the grid takes the constant
	}
	y = min(max(y, 0), float64(g.rows-1))
	x = min(max(x, 0), float64(g.cols-1))
	y0, x0 := int(math.Floor(y)), int(math.Floor(x))
	y1, x1 := min(y0+1, g.rows-1), min(x0+1, g.cols-1)
	fy, fx := y-float64(y0), x-float64(x0)
	at := func(yy, xx int) float64 { return float64(p[(yy*g.cols+xx)*g.ch+c]) }
	top := at(y0, x0)*(1-fx) + at(y0, x1)*fx
	bot := at(y1, x0)*(1-fx) + at(y1, x1)*fx
	return top*(1-fy) + bot*fy
}
