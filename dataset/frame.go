// Package dataset defines biopipe's in-memory table (Frame) and the Arrow convention every
// artifact between stages follows: one row per example, plain columns for tabular features,
// a FixedSizeList<float32> tensor column (shape in field metadata) for images and signals,
// and role columns (label, split, group, id, fold) named in the schema metadata.
package dataset

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// Kind is the storage type of a Column.
type Kind int

// Column kinds.
const (
	Float  Kind = iota // float64 values in F
	Int                // int64 values in I
	String             // string values in S
	Tensor             // float32 values in T, Shape per row
)

func (k Kind) String() string {
	switch k {
	case Float:
		return "float64"
	case Int:
		return "int64"
	case String:
		return "string"
	case Tensor:
		return "tensor"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Column is one named column. Exactly one of F, I, S, T is used, according to Kind.
// Valid, when not nil, marks which rows hold a value (false = missing); nil means all valid.
type Column struct {
	Name  string
	Kind  Kind
	F     []float64
	I     []int64
	S     []string
	T     []float32 // row-major, Len()*prod(Shape) values
	Shape []int     // per-row tensor shape, for Tensor
	Valid []bool
	Meta  map[string]string // field metadata (besides the tensor shape)
}

// Len returns the number of rows.
func (c *Column) Len() int {
	switch c.Kind {
	case Float:
		return len(c.F)
	case Int:
		return len(c.I)
	case String:
		return len(c.S)
	case Tensor:
		n := TensorSize(c.Shape)
		if n == 0 {
			return 0
		}
		return len(c.T) / n
	}
	return 0
}

// IsValid reports whether row i holds a value.
func (c *Column) IsValid(i int) bool { return c.Valid == nil || c.Valid[i] }

// NullCount returns the number of missing rows.
func (c *Column) NullCount() int {
	n := 0
	for _, v := range c.Valid {
		if !v {
			n++
		}
	}
	return n
}

// Row returns the tensor of row i (a slice into T).
func (c *Column) Row(i int) []float32 {
	n := TensorSize(c.Shape)
	return c.T[i*n : (i+1)*n]
}

// Float64 returns row i as a float64 (NaN when missing or not numeric).
func (c *Column) Float64(i int) float64 {
	if !c.IsValid(i) {
		return math.NaN()
	}
	switch c.Kind {
	case Float:
		return c.F[i]
	case Int:
		return float64(c.I[i])
	case String:
		v, err := strconv.ParseFloat(c.S[i], 64)
		if err != nil {
			return math.NaN()
		}
		return v
	}
	return math.NaN()
}

// Text returns row i formatted as a string ("" when missing).
func (c *Column) Text(i int) string {
	if !c.IsValid(i) {
		return ""
	}
	switch c.Kind {
	case Float:
		return strconv.FormatFloat(c.F[i], 'g', -1, 64)
	case Int:
		return strconv.FormatInt(c.I[i], 10)
	case String:
		return c.S[i]
	}
	return fmt.Sprint(c.Row(i))
}

// Numeric reports whether the column is Float or Int.
func (c *Column) Numeric() bool { return c.Kind == Float || c.Kind == Int }

// TensorSize is the product of shape.
func TensorSize(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Clone returns a deep copy.
func (c *Column) Clone() *Column {
	out := *c
	out.F = slices.Clone(c.F)
	out.I = slices.Clone(c.I)
	out.S = slices.Clone(c.S)
	out.T = slices.Clone(c.T)
	out.Shape = slices.Clone(c.Shape)
	out.Valid = slices.Clone(c.Valid)
	if c.Meta != nil {
		out.Meta = make(map[string]string, len(c.Meta))
		for k, v := range c.Meta {
			out.Meta[k] = v
		}
	}
	return &out
}

// Metadata keys of a Frame (Arrow schema metadata).
const (
	MetaLabel   = "biopipe.label"   // name of the label column
	MetaGroup   = "biopipe.group"   // name of the group (patient/subject) column
	MetaID      = "biopipe.id"      // name of the example id column
	MetaTask    = "biopipe.task"    // "classification" or "regression"
	MetaClasses = "biopipe.classes" // JSON list of class names, index = class id
	MetaShape   = "biopipe.shape"   // field metadata of a tensor column: JSON list of ints
	MetaSource  = "biopipe.source"  // where the data came from (file names, no PHI)
)

// Column roles (field metadata MetaRole): a column with a role is not a feature.
const (
	MetaRole = "biopipe.role"
	// RoleMask marks a segmentation mask: a tensor column of class indices per voxel, the
	// target of a segmentation model (ingest.volumes writes it with masks:).
	RoleMask = "mask"
	// RoleAffine marks a per-row voxel-to-world matrix: a [4, 4] tensor column (row-major,
	// mm, RAS+) giving the grid of the row's volume as stored in its tensor columns, so
	// outputs on that grid (predicted masks) can be written as NIfTI in place.
	RoleAffine = "affine"
	// RoleLengthBucket marks a per-row int column giving how many positions of the first
	// axis of the (single) tensor feature column the row uses: the rest is zero padding to
	// the column's fixed shape. transform.encode_sequence writes it with buckets:; the
	// training loop then forms each batch from rows of one length and feeds it sliced to
	// that length (Matrix.Lengths).
	RoleLengthBucket = "length_bucket"
)

// ColumnWithRole returns the first column whose role (field metadata MetaRole) is role, or nil.
func (f *Frame) ColumnWithRole(role string) *Column {
	for _, c := range f.Columns {
		if c.Meta[MetaRole] == role {
			return c
		}
	}
	return nil
}

// Mask returns the frame's segmentation mask column (role RoleMask), or nil.
func (f *Frame) Mask() *Column { return f.ColumnWithRole(RoleMask) }

// Conventional column names.
const (
	ColSplit  = "split" // "train", "val" or "test"
	ColFold   = "fold"  // k-fold index, int64
	ColTensor = "x"     // default tensor column
)

// Split values.
const (
	Train = "train"
	Val   = "val"
	Test  = "test"
)

// Frame is an in-memory table: equal-length columns plus schema metadata.
type Frame struct {
	Columns []*Column
	Meta    map[string]string
}

// New returns an empty frame.
func New() *Frame { return &Frame{Meta: map[string]string{}} }

// NumRows returns the number of rows (0 for a frame without columns).
func (f *Frame) NumRows() int {
	if len(f.Columns) == 0 {
		return 0
	}
	return f.Columns[0].Len()
}

// Col returns the column with this name, or nil.
func (f *Frame) Col(name string) *Column {
	for _, c := range f.Columns {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Index returns the position of the named column, or -1.
func (f *Frame) Index(name string) int {
	for i, c := range f.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// Names returns the column names in order.
func (f *Frame) Names() []string {
	out := make([]string, len(f.Columns))
	for i, c := range f.Columns {
		out[i] = c.Name
	}
	return out
}

// Set adds the column, or replaces the column of the same name in place.
func (f *Frame) Set(c *Column) {
	if i := f.Index(c.Name); i >= 0 {
		f.Columns[i] = c
		return
	}
	f.Columns = append(f.Columns, c)
}

// Drop removes the named columns.
func (f *Frame) Drop(names ...string) {
	f.Columns = slices.DeleteFunc(f.Columns, func(c *Column) bool { return slices.Contains(names, c.Name) })
}

// Clone returns a deep copy.
func (f *Frame) Clone() *Frame {
	out := &Frame{Meta: make(map[string]string, len(f.Meta))}
	for k, v := range f.Meta {
		out.Meta[k] = v
	}
	for _, c := range f.Columns {
		out.Columns = append(out.Columns, c.Clone())
	}
	return out
}

// Validate checks that all columns have the same length and distinct names.
func (f *Frame) Validate() error {
	seen := map[string]bool{}
	n := -1
	for _, c := range f.Columns {
		if seen[c.Name] {
			return fmt.Errorf("duplicate column %q", c.Name)
		}
		seen[c.Name] = true
		if n >= 0 && c.Len() != n {
			return fmt.Errorf("column %q has %d rows, want %d", c.Name, c.Len(), n)
		}
		if c.Valid != nil && len(c.Valid) != c.Len() {
			return fmt.Errorf("column %q: validity mask has %d entries for %d rows", c.Name, len(c.Valid), c.Len())
		}
		n = c.Len()
	}
	return nil
}

// Label returns the label column named in the metadata, or nil.
func (f *Frame) Label() *Column { return f.Col(f.Meta[MetaLabel]) }

// Group returns the group column named in the metadata, or nil.
func (f *Frame) Group() *Column { return f.Col(f.Meta[MetaGroup]) }

// Split returns the split column, or nil.
func (f *Frame) Split() *Column { return f.Col(ColSplit) }

// Classes returns the class names from the metadata (nil for regression or when unset).
func (f *Frame) Classes() []string {
	var out []string
	if s := f.Meta[MetaClasses]; s != "" {
		_ = json.Unmarshal([]byte(s), &out)
	}
	return out
}

// SetClasses stores the class names in the metadata.
func (f *Frame) SetClasses(names []string) {
	b, _ := json.Marshal(names)
	f.Meta[MetaClasses] = string(b)
}

// RoleColumns returns the names of the columns that are not features: label, group, id,
// split, fold, and any column whose field metadata has biopipe.role set.
func (f *Frame) RoleColumns() []string {
	var out []string
	for _, k := range []string{MetaLabel, MetaGroup, MetaID} {
		if v := f.Meta[k]; v != "" {
			out = append(out, v)
		}
	}
	out = append(out, ColSplit, ColFold)
	for _, c := range f.Columns {
		if c.Meta["biopipe.role"] != "" {
			out = append(out, c.Name)
		}
	}
	return out
}

// FeatureColumns returns the columns used as model inputs: every column that is not a role
// column. Tensor columns and numeric columns are features; a string feature column is an
// error naming it (encode it first with transform.encode).
func (f *Frame) FeatureColumns() ([]*Column, error) {
	roles := f.RoleColumns()
	var out []*Column
	for _, c := range f.Columns {
		if slices.Contains(roles, c.Name) {
			continue
		}
		if c.Kind == String {
			return nil, fmt.Errorf("feature column %q holds text; encode it (transform.encode) or mark it as id/group", c.Name)
		}
		out = append(out, c)
	}
	return out, nil
}

// Rows returns a new frame with the given rows, in order.
func (f *Frame) Rows(idx []int) *Frame {
	out := &Frame{Meta: f.Meta}
	for _, c := range f.Columns {
		n := &Column{Name: c.Name, Kind: c.Kind, Shape: slices.Clone(c.Shape), Meta: c.Meta}
		if c.Valid != nil {
			n.Valid = make([]bool, len(idx))
		}
		size := TensorSize(c.Shape)
		for j, i := range idx {
			switch c.Kind {
			case Float:
				n.F = append(n.F, c.F[i])
			case Int:
				n.I = append(n.I, c.I[i])
			case String:
				n.S = append(n.S, c.S[i])
			case Tensor:
				n.T = append(n.T, c.T[i*size:(i+1)*size]...)
			}
			if c.Valid != nil {
				n.Valid[j] = c.Valid[i]
			}
		}
		out.Columns = append(out.Columns, n)
	}
	return out
}

// SplitRows returns the indices of rows whose split equals s (all rows when there is no split column).
func (f *Frame) SplitRows(s string) []int {
	sc := f.Split()
	var out []int
	for i := 0; i < f.NumRows(); i++ {
		if sc == nil || sc.S[i] == s {
			out = append(out, i)
		}
	}
	return out
}
