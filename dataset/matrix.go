package dataset

import (
	"fmt"
	"math"
	"slices"
)

// Matrix is a dense float32 view of a frame's feature columns for a set of rows: X holds
// N rows of prod(Shape) values each. A single tensor feature column keeps its shape; numeric
// columns (and several tensor columns) are flattened into one vector per row.
type Matrix struct {
	X     []float32
	N     int
	Shape []int    // per-example shape
	Names []string // feature names, for flat vectors built from numeric columns
	// Columns locates each feature column in a row, in order: a model that treats column
	// groups apart (the fusion family) slices them back out of the flat row.
	Columns []ColumnSlice
	// Lengths, when set (bucketed sequences, see RoleLengthBucket), gives per row how many
	// positions of Shape[0] it uses; the rest of the row is zero padding. nil: every row
	// uses the whole shape.
	Lengths []int
}

// ColumnSlice is where one feature column lies in a Matrix row: values
// [Offset, Offset+TensorSize(Shape)) of the row. Shape is the tensor column's per-row shape,
// or empty for a numeric (scalar) column.
type ColumnSlice struct {
	Name   string `json:"name"`
	Shape  []int  `json:"shape"`
	Offset int    `json:"offset"`
}

// Size is the number of values the column holds per row.
func (c ColumnSlice) Size() int { return TensorSize(c.Shape) }

// Features builds the feature matrix of the given rows (nil = all rows). A missing value in
// a feature is an error naming the column and row: impute first.
func (f *Frame) Features(rows []int) (*Matrix, error) {
	cols, err := f.FeatureColumns()
	if err != nil {
		return nil, err
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("no feature columns (all columns are label/group/id/split)")
	}
	if rows == nil {
		rows = make([]int, f.NumRows())
		for i := range rows {
			rows[i] = i
		}
	}
	m := &Matrix{N: len(rows)}
	if len(cols) == 1 && cols[0].Kind == Tensor {
		c := cols[0]
		size := TensorSize(c.Shape)
		m.Shape = slices.Clone(c.Shape)
		m.X = make([]float32, 0, len(rows)*size)
		for _, r := range rows {
			m.X = append(m.X, c.Row(r)...)
		}
		m.Names = []string{c.Name}
		m.Columns = []ColumnSlice{{Name: c.Name, Shape: slices.Clone(c.Shape), Offset: 0}}
		lengths, err := f.LengthBuckets(rows, c.Shape)
		if err != nil {
			return nil, err
		}
		m.Lengths = lengths
		return m, nil
	}
	if bc := f.ColumnWithRole(RoleLengthBucket); bc != nil {
		return nil, fmt.Errorf("column %q (role %q) buckets the rows of one sequence tensor by length, but the table has %d feature columns; bucketed sequences must be the only feature", bc.Name, RoleLengthBucket, len(cols))
	}
	width := 0
	for _, c := range cols {
		cs := ColumnSlice{Name: c.Name, Shape: []int{}, Offset: width}
		if c.Kind == Tensor {
			cs.Shape = slices.Clone(c.Shape)
		}
		m.Columns = append(m.Columns, cs)
		m.Names = append(m.Names, c.Name)
		width += cs.Size()
	}
	m.Shape = []int{width}
	m.X = make([]float32, 0, len(rows)*width)
	for _, r := range rows {
		for _, c := range cols {
			if !c.IsValid(r) {
				return nil, fmt.Errorf("feature %q is missing in row %d: impute it first (transform.impute)", c.Name, r)
			}
			switch c.Kind {
			case Tensor:
				m.X = append(m.X, c.Row(r)...)
			default:
				v := c.Float64(r)
				if math.IsNaN(v) {
					return nil, fmt.Errorf("feature %q is NaN in row %d: impute it first (transform.impute)", c.Name, r)
				}
				m.X = append(m.X, float32(v))
			}
		}
	}
	return m, nil
}

// LengthBuckets returns, for the given rows (nil = all), the value of the frame's column
// with role RoleLengthBucket (how many positions of the tensor's first axis each row uses),
// or nil when the frame has none. shape is the tensor feature column's shape: every length
// must lie in 1..shape[0].
func (f *Frame) LengthBuckets(rows []int, shape []int) ([]int, error) {
	bc := f.ColumnWithRole(RoleLengthBucket)
	if bc == nil {
		return nil, nil
	}
	if bc.Kind != Int {
		return nil, fmt.Errorf("column %q (role %q) is a %s column; want int lengths", bc.Name, RoleLengthBucket, bc.Kind)
	}
	if len(shape) < 2 {
		return nil, fmt.Errorf("column %q (role %q) buckets sequences [length, channels], but the feature has shape %v", bc.Name, RoleLengthBucket, shape)
	}
	if rows == nil {
		rows = make([]int, f.NumRows())
		for i := range rows {
			rows[i] = i
		}
	}
	out := make([]int, len(rows))
	for i, r := range rows {
		if !bc.IsValid(r) {
			return nil, fmt.Errorf("column %q (role %q): row %d is missing", bc.Name, RoleLengthBucket, r)
		}
		v := bc.I[r]
		if v < 1 || v > int64(shape[0]) {
			return nil, fmt.Errorf("column %q (role %q): row %d has length %d, outside 1..%d (the tensor's first axis)", bc.Name, RoleLengthBucket, r, v, shape[0])
		}
		out[i] = int(v)
	}
	return out, nil
}

// Labels returns the label of each given row (nil = all rows) as class indices for a
// classification frame (using the classes in the metadata, or the integer values) or as
// float values for regression, with the class names.
func (f *Frame) Labels(rows []int) (cls []int, reg []float64, err error) {
	lc := f.Label()
	if lc == nil {
		return nil, nil, fmt.Errorf("no label column (set label: in the ingest stage)")
	}
	if rows == nil {
		rows = make([]int, f.NumRows())
		for i := range rows {
			rows[i] = i
		}
	}
	if f.Meta[MetaTask] == "regression" {
		for _, r := range rows {
			v := lc.Float64(r)
			if math.IsNaN(v) {
				return nil, nil, fmt.Errorf("label %q missing or not numeric in row %d", lc.Name, r)
			}
			reg = append(reg, v)
		}
		return nil, reg, nil
	}
	classes := f.Classes()
	index := map[string]int{}
	for i, c := range classes {
		index[c] = i
	}
	for _, r := range rows {
		if !lc.IsValid(r) {
			return nil, nil, fmt.Errorf("label %q missing in row %d", lc.Name, r)
		}
		t := lc.Text(r)
		k, ok := index[t]
		if !ok {
			return nil, nil, fmt.Errorf("label %q value %q in row %d is not one of the classes %v", lc.Name, t, r, classes)
		}
		cls = append(cls, k)
	}
	return cls, nil, nil
}

// Masks returns the segmentation masks of the given rows (nil = all rows), one class index
// per voxel, from the tensor column with role RoleMask; the input's per-example shape
// [spatial..., C] says the mask's: [spatial...] or [spatial..., 1].
func (f *Frame) Masks(rows []int, inputShape []int) ([]float32, error) {
	mc := f.Mask()
	if mc == nil {
		return nil, fmt.Errorf("segmentation needs a mask column (a tensor column with role %q, as ingest.volumes writes with masks:)", RoleMask)
	}
	if len(inputShape) < 2 {
		return nil, fmt.Errorf("segmentation needs an image or volume input [spatial..., C], got shape %v", inputShape)
	}
	spatial := inputShape[:len(inputShape)-1]
	if mc.Kind != Tensor || (!slices.Equal(mc.Shape, spatial) && !slices.Equal(mc.Shape, append(slices.Clone(spatial), 1))) {
		return nil, fmt.Errorf("mask column %q has shape %v; the input %v needs a mask of %v (one class index per voxel)", mc.Name, mc.Shape, inputShape, append(slices.Clone(spatial), 1))
	}
	if rows == nil {
		rows = make([]int, f.NumRows())
		for i := range rows {
			rows[i] = i
		}
	}
	out := make([]float32, 0, len(rows)*TensorSize(spatial))
	for _, r := range rows {
		if !mc.IsValid(r) {
			return nil, fmt.Errorf("mask column %q is missing in row %d", mc.Name, r)
		}
		out = append(out, mc.Row(r)...)
	}
	return out, nil
}
