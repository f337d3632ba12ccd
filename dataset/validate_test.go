package dataset

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestValidateArray: arrays whose buffers do not hold what they claim (as a corrupt IPC file
// gives them; the fuzzer found the string case) are errors, and FromRecords returns them
// instead of panicking in arrow-go's accessors.
func TestValidateArray(t *testing.T) {
	i32 := func(v ...int32) *memory.Buffer { return memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(v)) }
	f64 := func(v ...float64) *memory.Buffer { return memory.NewBufferBytes(arrow.Float64Traits.CastToBytes(v)) }
	tests := []struct {
		name string
		arr  arrow.Array
		want string // "" = valid
	}{
		{"good strings", array.NewStringData(array.NewData(arrow.BinaryTypes.String, 2, []*memory.Buffer{nil, i32(0, 1, 3), memory.NewBufferBytes([]byte("abc"))}, nil, 0, 0)), ""},
		{"string offsets past the data", array.NewStringData(array.NewData(arrow.BinaryTypes.String, 2, []*memory.Buffer{nil, i32(0, 128, 3), memory.NewBufferBytes([]byte("abc"))}, nil, 0, 0)), "128"},
		{"good floats", array.NewFloat64Data(array.NewData(arrow.PrimitiveTypes.Float64, 2, []*memory.Buffer{nil, f64(1, 2)}, nil, 0, 0)), ""},
		{"dictionary index out of range", array.NewDictionaryData(array.NewDataWithDictionary(&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}, 2,
			[]*memory.Buffer{nil, i32(0, 5)}, 0, 0, array.NewData(arrow.BinaryTypes.String, 1, []*memory.Buffer{nil, i32(0, 1), memory.NewBufferBytes([]byte("a"))}, nil, 0, 0))),
			"dictionary index 5 out of range [0, 1)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateArray(tc.arr)
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: tc.arr.DataType(), Nullable: true}}, nil)
			rec := array.NewRecordBatch(schema, []arrow.Array{tc.arr}, int64(tc.arr.Len()))
			_, err = FromRecords(schema, []arrow.RecordBatch{rec})
			require.Error(t, err)
			assert.Contains(t, err.Error(), `record batch 0, column "x": corrupt Arrow data`)
		})
	}
}
