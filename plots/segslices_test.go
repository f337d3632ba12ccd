package plots

import (
	"bytes"
	"image/png"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSegmentationSlices(t *testing.T) {
	// 2x2 slice: image all mid-grey; truth marks pixel (0,0), prediction pixel (1,1) as class 1
	// and (0,1) as class 2.
	s := SegSlice{H: 2, W: 2, Image: []float32{0.5, 0.5, 0.5, 0.5}, Truth: []int{1, 0, 0, 0}, Pred: []int{0, 2, 0, 1}}
	b, err := SegmentationSlices([]SegSlice{s}, 0, 1)
	require.NoError(t, err)
	im, err := png.Decode(bytes.NewReader(b))
	require.NoError(t, err)
	zoom := 48 // 96 / 2
	at := func(panel, x, y int) [3]uint32 {
		r, g, b, _ := im.At(2+panel*(2*zoom+2)+x*zoom+1, 2+y*zoom+1).RGBA()
		return [3]uint32{r >> 8, g >> 8, b >> 8}
	}
	assert.Equal(t, [3]uint32{128, 128, 128}, at(0, 0, 0))                 // image panel: grey
	assert.Equal(t, [3]uint32{64, 164, 64}, at(1, 0, 0))                   // truth: green over grey
	assert.Equal(t, [3]uint32{128, 128, 128}, at(1, 1, 1))                 // truth background
	assert.Equal(t, [3]uint32{64, 164, 64}, at(2, 1, 1))                   // predicted class 1
	assert.Equal(t, [3]uint32{179, 84, 84}, at(2, 1, 0))                   // predicted class 2: red
	assert.Equal(t, 3*(2*zoom+2)+2, im.Bounds().Dx(), "three panels wide") // image | truth | prediction

	_, err = SegmentationSlices([]SegSlice{{H: 2, W: 2, Image: []float32{0}, Truth: []int{0}, Pred: []int{0}}}, 0, 1)
	assert.ErrorContains(t, err, "slice 0 is not 2x2")
}
