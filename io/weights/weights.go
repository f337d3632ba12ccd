// Package weights reads the tensors of models trained elsewhere: safetensors files (an
// 8-byte little-endian header length, a JSON header of name -> dtype, shape and byte range,
// then raw little-endian data) and ONNX models (the graph's initializers, decoded from the
// protobuf wire format with the field numbers of onnx.proto, as in GoMLX's compute-onnx
// protos). Floating-point tensors are returned as float32; each ONNX tensor also says how
// the graph uses it (a Conv kernel, a Gemm or MatMul weight), which decides its layout.
package weights

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// Layouts of a weight tensor, as its producer stores it.
const (
	LayoutUnknown = ""
	LayoutOIHW    = "oihw"   // convolution kernel [out, in, spatial...] (PyTorch, ONNX Conv)
	LayoutOutIn   = "out_in" // dense weight [out, in] (PyTorch Linear, ONNX Gemm with transB=1)
	LayoutInOut   = "in_out" // dense weight [in, out] (ONNX MatMul, Gemm with transB=0)
	LayoutVector  = "vector" // rank-1 tensor (bias)
)

// Tensor is one named tensor of a file.
type Tensor struct {
	Name   string
	Shape  []int
	DType  string    // as the file names it: F32, F64, F16, BF16, I64, ...
	Data   []float32 // the values (floating-point tensors; nil for others)
	Layout string    // how the graph uses it (ONNX); "" when unknown (safetensors)
	Op     string    // ONNX: the operator that consumes it (Conv, Gemm, MatMul, ...)
}

// Size returns the number of elements.
func (t *Tensor) Size() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// File is the tensors of a file, in the file's order.
type File struct {
	Path    string
	Format  string // "safetensors" or "onnx"
	Tensors []*Tensor
}

// Get returns the named tensor, or nil.
func (f *File) Get(name string) *Tensor {
	for _, t := range f.Tensors {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Formats.
const (
	FormatSafetensors = "safetensors"
	FormatONNX        = "onnx"
)

// FormatOf returns the format of a weights file by its extension ("" when neither).
func FormatOf(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".safetensors":
		return FormatSafetensors
	case ".onnx":
		return FormatONNX
	}
	return ""
}

// Read reads a safetensors file or an ONNX model, chosen by the extension.
func Read(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f *File
	switch FormatOf(path) {
	case FormatSafetensors:
		f, err = ParseSafetensors(b)
	case FormatONNX:
		f, err = ParseONNX(b)
	default:
		return nil, fmt.Errorf("%s: not a weights file (want .safetensors or .onnx)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.Path = path
	return f, nil
}

// ParseSafetensors decodes a safetensors file. Tensors come in the order of their data.
func ParseSafetensors(b []byte) (*File, error) {
	if len(b) < 8 {
		return nil, errors.New("safetensors: file shorter than its 8-byte header length")
	}
	n := binary.LittleEndian.Uint64(b[:8])
	if n > uint64(len(b)-8) {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the file (%d bytes)", n, len(b))
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &header); err != nil {
		return nil, fmt.Errorf("safetensors: header: %w", err)
	}
	data := b[8+n:]
	f := &File{Format: FormatSafetensors}
	offsets := map[*Tensor]int{}
	for name, raw := range header {
		if name == "__metadata__" {
			continue
		}
		var e struct {
			DType   string `json:"dtype"`
			Shape   []int  `json:"shape"`
			Offsets []int  `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %w", name, err)
		}
		if len(e.Offsets) != 2 || e.Offsets[0] < 0 || e.Offsets[1] < e.Offsets[0] || e.Offsets[1] > len(data) {
			return nil, fmt.Errorf("safetensors: tensor %q: data_offsets %v outside the %d data bytes", name, e.Offsets, len(data))
		}
		t := &Tensor{Name: name, Shape: e.Shape, DType: e.DType}
		if t.Shape == nil {
			t.Shape = []int{}
		}
		for _, d := range t.Shape {
			if d < 0 {
				return nil, fmt.Errorf("safetensors: tensor %q: negative dimension in %v", name, t.Shape)
			}
		}
		buf := data[e.Offsets[0]:e.Offsets[1]]
		vals, width, err := decode(e.DType, buf)
		if err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %w", name, err)
		}
		if width > 0 && len(buf) != t.Size()*width {
			return nil, fmt.Errorf("safetensors: tensor %q: %d bytes for shape %v of %s (want %d)", name, len(buf), t.Shape, e.DType, t.Size()*width)
		}
		t.Data = vals
		offsets[t] = e.Offsets[0]
		f.Tensors = append(f.Tensors, t)
	}
	sort.SliceStable(f.Tensors, func(i, j int) bool {
		a, b := f.Tensors[i], f.Tensors[j]
		if offsets[a] != offsets[b] {
			return offsets[a] < offsets[b]
		}
		return a.Name < b.Name
	})
	return f, nil
}

// decode converts little-endian raw values to float32 (nil for non-float dtypes); width is
// the element size in bytes (0 when unknown).
func decode(dtype string, b []byte) ([]float32, int, error) {
	switch strings.ToUpper(dtype) {
	case "F32", "FLOAT", "FLOAT32":
		if len(b)%4 != 0 {
			return nil, 4, fmt.Errorf("%d bytes is not a whole number of float32", len(b))
		}
		out := make([]float32, len(b)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return out, 4, nil
	case "F64", "DOUBLE", "FLOAT64":
		if len(b)%8 != 0 {
			return nil, 8, fmt.Errorf("%d bytes is not a whole number of float64", len(b))
		}
		out := make([]float32, len(b)/8)
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
		return out, 8, nil
	case "F16", "FLOAT16":
		out := make([]float32, len(b)/2)
		for i := range out {
			out[i] = half(binary.LittleEndian.Uint16(b[2*i:]))
		}
		return out, 2, nil
	case "BF16", "BFLOAT16":
		out := make([]float32, len(b)/2)
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
		}
		return out, 2, nil
	case "I64", "INT64", "U64":
		return nil, 8, nil
	case "I32", "INT32", "U32":
		return nil, 4, nil
	case "I16", "U16":
		return nil, 2, nil
	case "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2":
		return nil, 1, nil
	}
	return nil, 0, fmt.Errorf("unknown dtype %q", dtype)
}

// half converts an IEEE 754 binary16 value.
func half(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := int(h>>10) & 0x1f
	frac := uint32(h & 0x3ff)
	switch exp {
	case 0:
		if frac == 0 {
			return math.Float32frombits(sign)
		}
		v := float32(frac) / 1024 * float32(math.Pow(2, -14))
		if sign != 0 {
			v = -v
		}
		return v
	case 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | frac<<13)
	}
	return math.Float32frombits(sign | uint32(exp-15+127)<<23 | frac<<13)
}

// ONNX TensorProto data types.
var onnxDTypes = map[uint64]string{1: "F32", 2: "U8", 3: "I8", 4: "U16", 5: "I16", 6: "I32", 7: "I64", 9: "BOOL", 10: "F16", 11: "F64", 12: "U32", 13: "U64", 16: "BF16"}

// ParseONNX decodes an ONNX ModelProto: its graph's initializers, each with the layout its
// first consumer implies.
func ParseONNX(b []byte) (*File, error) {
	graph, err := field(b, 7) // ModelProto.graph
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	if graph == nil {
		return nil, errors.New("onnx: the model has no graph")
	}
	f := &File{Format: FormatONNX}
	type node struct {
		op     string
		inputs []string
		transB int64
	}
	var nodes []node
	err = each(graph, func(num protowire.Number, typ protowire.Type, v []byte) error {
		switch num {
		case 5: // initializer
			t, err := onnxTensor(v)
			if err != nil {
				return err
			}
			f.Tensors = append(f.Tensors, t)
		case 1: // node
			var n node
			err := each(v, func(num protowire.Number, _ protowire.Type, v []byte) error {
				switch num {
				case 1:
					n.inputs = append(n.inputs, string(v))
				case 4:
					n.op = string(v)
				case 5: // attribute
					var name string
					var i int64
					_ = each(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
						switch {
						case num == 1:
							name = string(v)
						case num == 3 && typ == protowire.VarintType:
							x, _ := protowire.ConsumeVarint(v)
							i = int64(x)
						}
						return nil
					})
					if name == "transB" {
						n.transB = i
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			nodes = append(nodes, n)
		case 15:
			return errors.New("sparse initializers are not supported")
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	for _, t := range f.Tensors {
		if len(t.Shape) == 1 {
			t.Layout = LayoutVector
		}
	}
	for _, n := range nodes {
		for k, in := range n.inputs {
			t := f.Get(in)
			if t == nil || t.Op != "" {
				continue
			}
			t.Op = n.op
			switch {
			case n.op == "Conv" && k == 1:
				t.Layout = LayoutOIHW
			case n.op == "Gemm" && k == 1 && n.transB == 1:
				t.Layout = LayoutOutIn
			case (n.op == "Gemm" || n.op == "MatMul") && k == 1:
				t.Layout = LayoutInOut
			}
		}
	}
	return f, nil
}

func onnxTensor(b []byte) (*Tensor, error) {
	t := &Tensor{Shape: []int{}}
	var raw []byte
	var floats []float32
	var doubles []float64
	var dtype uint64
	external := false
	err := each(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		switch num {
		case 1: // dims, packed or not
			return varints(typ, v, func(x uint64) { t.Shape = append(t.Shape, int(int64(x))) })
		case 2:
			dtype, _ = protowire.ConsumeVarint(v)
		case 4: // float_data (packed)
			if typ == protowire.BytesType {
				for i := 0; i+4 <= len(v); i += 4 {
					floats = append(floats, math.Float32frombits(binary.LittleEndian.Uint32(v[i:])))
				}
			} else {
				x, _ := protowire.ConsumeFixed32(v)
				floats = append(floats, math.Float32frombits(x))
			}
		case 10: // double_data
			if typ == protowire.BytesType {
				for i := 0; i+8 <= len(v); i += 8 {
					doubles = append(doubles, math.Float64frombits(binary.LittleEndian.Uint64(v[i:])))
				}
			} else {
				x, _ := protowire.ConsumeFixed64(v)
				doubles = append(doubles, math.Float64frombits(x))
			}
		case 8:
			t.Name = string(v)
		case 9:
			raw = v
		case 14:
			loc, _ := protowire.ConsumeVarint(v)
			external = loc == 1
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if external {
		return nil, fmt.Errorf("initializer %q: external data is not supported (re-export with the weights inside the .onnx file)", t.Name)
	}
	name, ok := onnxDTypes[dtype]
	if !ok {
		name = fmt.Sprintf("onnx type %d", dtype)
	}
	t.DType = name
	switch {
	case raw != nil:
		vals, width, err := decode(name, raw)
		if err != nil {
			return nil, fmt.Errorf("initializer %q: %w", t.Name, err)
		}
		if width > 0 && len(raw) != t.Size()*width {
			return nil, fmt.Errorf("initializer %q: %d raw bytes for shape %v of %s", t.Name, len(raw), t.Shape, name)
		}
		t.Data = vals
	case floats != nil:
		t.Data = floats
	case doubles != nil:
		t.Data = make([]float32, len(doubles))
		for i, d := range doubles {
			t.Data[i] = float32(d)
		}
	}
	if t.Data != nil && len(t.Data) != t.Size() {
		return nil, fmt.Errorf("initializer %q: %d values for shape %v", t.Name, len(t.Data), t.Shape)
	}
	return t, nil
}

// each calls fn for every field of a message (v is the value's bytes: a varint's or fixed's
// encoding, or a length-delimited payload).
func each(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("protobuf: %w", protowire.ParseError(n))
		}
		b = b[n:]
		var v []byte
		switch typ {
		case protowire.BytesType:
			x, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return fmt.Errorf("protobuf field %d: %w", num, protowire.ParseError(m))
			}
			v, n = x, m
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return fmt.Errorf("protobuf field %d: %w", num, protowire.ParseError(n))
			}
			v = b[:n]
		}
		if err := fn(num, typ, v); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// field returns the payload of the last occurrence of a length-delimited field.
func field(b []byte, want protowire.Number) ([]byte, error) {
	var out []byte
	err := each(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num == want && typ == protowire.BytesType {
			out = v
		}
		return nil
	})
	return out, err
}

func varints(typ protowire.Type, v []byte, fn func(uint64)) error {
	if typ == protowire.VarintType {
		x, _ := protowire.ConsumeVarint(v)
		fn(x)
		return nil
	}
	for len(v) > 0 {
		x, n := protowire.ConsumeVarint(v)
		if n < 0 {
			return protowire.ParseError(n)
		}
		fn(x)
		v = v[n:]
	}
	return nil
}
