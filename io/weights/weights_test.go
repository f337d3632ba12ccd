package weights

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
)

func safetensors(t *testing.T, header map[string]any, data []byte) []byte {
	t.Helper()
	h, err := json.Marshal(header)
	require.NoError(t, err)
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	return append(append(out, h...), data...)
}

func f32(vals ...float32) []byte {
	var b []byte
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func TestSafetensors(t *testing.T) {
	data := append(f32(1, 2, 3, 4, 5, 6), binary.LittleEndian.AppendUint16(binary.LittleEndian.AppendUint16(nil, 0x3c00), 0xc000)...) // f16 1, -2
	data = append(data, binary.LittleEndian.AppendUint16(nil, 0x3f80)...)                                                             // bf16 1
	b := safetensors(t, map[string]any{
		"__metadata__": map[string]string{"format": "pt"},
		"b.weight":     map[string]any{"dtype": "F32", "shape": []int{2, 3}, "data_offsets": []int{0, 24}},
		"a.half":       map[string]any{"dtype": "F16", "shape": []int{2}, "data_offsets": []int{24, 28}},
		"c.bf":         map[string]any{"dtype": "BF16", "shape": []int{1}, "data_offsets": []int{28, 30}},
	}, data)
	f, err := ParseSafetensors(b)
	require.NoError(t, err)
	require.Len(t, f.Tensors, 3)
	assert.Equal(t, "b.weight", f.Tensors[0].Name, "tensors in the order of their data")
	assert.Equal(t, []int{2, 3}, f.Tensors[0].Shape)
	assert.Equal(t, []float32{1, 2, 3, 4, 5, 6}, f.Tensors[0].Data)
	assert.Equal(t, []float32{1, -2}, f.Get("a.half").Data)
	assert.Equal(t, []float32{1}, f.Get("c.bf").Data)

	bad := []struct {
		b    []byte
		want string
	}{
		{[]byte{1, 2}, "shorter than its 8-byte header length"},
		{binary.LittleEndian.AppendUint64(nil, 99), "header length 99 exceeds the file"},
		{safetensors(t, map[string]any{"x": map[string]any{"dtype": "F32", "shape": []int{3}, "data_offsets": []int{0, 8}}}, f32(1, 2)), `tensor "x": 8 bytes for shape [3] of F32 (want 12)`},
		{safetensors(t, map[string]any{"x": map[string]any{"dtype": "F32", "shape": []int{1}, "data_offsets": []int{0, 40}}}, f32(1)), `data_offsets [0 40] outside the 4 data bytes`},
		{safetensors(t, map[string]any{"x": map[string]any{"dtype": "Q4", "shape": []int{1}, "data_offsets": []int{0, 4}}}, f32(1)), `unknown dtype "Q4"`},
	}
	for _, c := range bad {
		_, err := ParseSafetensors(c.b)
		assert.ErrorContains(t, err, c.want)
	}
}

// onnxModel encodes a ModelProto with one Conv and one Gemm (transB=1) and their initializers.
func onnxModel() []byte {
	tensor := func(name string, dims []int, vals []float32, raw bool) []byte {
		var b []byte
		for _, d := range dims {
			b = protowire.AppendTag(b, 1, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(d))
		}
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
		b = protowire.AppendTag(b, 8, protowire.BytesType)
		b = protowire.AppendString(b, name)
		if raw {
			b = protowire.AppendTag(b, 9, protowire.BytesType)
			b = protowire.AppendBytes(b, f32(vals...))
		} else {
			b = protowire.AppendTag(b, 4, protowire.BytesType)
			b = protowire.AppendBytes(b, f32(vals...))
		}
		return b
	}
	node := func(op string, inputs []string, transB bool) []byte {
		var b []byte
		for _, in := range inputs {
			b = protowire.AppendTag(b, 1, protowire.BytesType)
			b = protowire.AppendString(b, in)
		}
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendString(b, op)
		if transB {
			var a []byte
			a = protowire.AppendTag(a, 1, protowire.BytesType)
			a = protowire.AppendString(a, "transB")
			a = protowire.AppendTag(a, 3, protowire.VarintType)
			a = protowire.AppendVarint(a, 1)
			b = protowire.AppendTag(b, 5, protowire.BytesType)
			b = protowire.AppendBytes(b, a)
		}
		return b
	}
	var g []byte
	g = protowire.AppendTag(g, 1, protowire.BytesType)
	g = protowire.AppendBytes(g, node("Conv", []string{"x", "conv.weight", "conv.bias"}, false))
	g = protowire.AppendTag(g, 1, protowire.BytesType)
	g = protowire.AppendBytes(g, node("Gemm", []string{"h", "fc.weight", "fc.bias"}, true))
	g = protowire.AppendTag(g, 1, protowire.BytesType)
	g = protowire.AppendBytes(g, node("MatMul", []string{"h", "proj"}, false))
	for _, t := range [][]byte{
		tensor("conv.weight", []int{1, 1, 1, 2}, []float32{1, 2}, true),
		tensor("conv.bias", []int{1}, []float32{0.5}, false),
		tensor("fc.weight", []int{2, 1}, []float32{3, 4}, true),
		tensor("fc.bias", []int{2}, []float32{0, 1}, true),
		tensor("proj", []int{2, 2}, []float32{1, 0, 0, 1}, false),
	} {
		g = protowire.AppendTag(g, 5, protowire.BytesType)
		g = protowire.AppendBytes(g, t)
	}
	var m []byte
	m = protowire.AppendTag(m, 1, protowire.VarintType)
	m = protowire.AppendVarint(m, 8)
	m = protowire.AppendTag(m, 7, protowire.BytesType)
	return protowire.AppendBytes(m, g)
}

func TestONNX(t *testing.T) {
	f, err := ParseONNX(onnxModel())
	require.NoError(t, err)
	require.Len(t, f.Tensors, 5)
	want := []struct {
		name, layout, op string
		shape            []int
		data             []float32
	}{
		{"conv.weight", LayoutOIHW, "Conv", []int{1, 1, 1, 2}, []float32{1, 2}},
		{"conv.bias", LayoutVector, "Conv", []int{1}, []float32{0.5}},
		{"fc.weight", LayoutOutIn, "Gemm", []int{2, 1}, []float32{3, 4}},
		{"fc.bias", LayoutVector, "Gemm", []int{2}, []float32{0, 1}},
		{"proj", LayoutInOut, "MatMul", []int{2, 2}, []float32{1, 0, 0, 1}},
	}
	for i, w := range want {
		got := f.Tensors[i]
		assert.Equal(t, w.name, got.Name)
		assert.Equal(t, w.layout, got.Layout, w.name)
		assert.Equal(t, w.op, got.Op, w.name)
		assert.Equal(t, w.shape, got.Shape, w.name)
		assert.Equal(t, w.data, got.Data, w.name)
	}
	_, err = ParseONNX([]byte{0x3a, 0x05, 1, 2})
	assert.Error(t, err, "truncated graph")
	_, err = ParseONNX(nil)
	assert.ErrorContains(t, err, "no graph")
}

func FuzzParse(f *testing.F) {
	f.Add(onnxModel())
	f.Add(safetensors(&testing.T{}, map[string]any{"x": map[string]any{"dtype": "F32", "shape": []int{1}, "data_offsets": []int{0, 4}}}, f32(1)))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseONNX(b)
		_, _ = ParseSafetensors(b)
	})
}
