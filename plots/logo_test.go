package plots

import (
	"bytes"
	"image/png"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFilterMotifAndInformationContent(t *testing.T) {
	// Position 0 strongly prefers G, position 1 is flat.
	m := FilterMotif("f", [][]float64{{-1, -1, 3, -1}, {0.2, 0.2, 0.2, 0.2}})
	require.Len(t, m.PWM, 2)
	assert.Greater(t, m.PWM[0][2], 0.85)
	assert.InDeltaSlice(t, []float64{0.25, 0.25, 0.25, 0.25}, m.PWM[1], 1e-12)
	ic := m.InformationContent()
	assert.Greater(t, ic[0], 1.3)
	assert.InDelta(t, 0, ic[1], 1e-12)
	// A deterministic PWM carries log2(4) = 2 bits.
	assert.InDelta(t, 2, Motif{PWM: [][]float64{{0, 1, 0, 0}}}.InformationContent()[0], 1e-12)
	// Scaling all weights (what a normalization layer makes arbitrary) changes nothing.
	m2 := FilterMotif("f", [][]float64{{-10, -10, 30, -10}, {2, 2, 2, 2}})
	assert.InDeltaSlice(t, m.PWM[0], m2.PWM[0], 1e-12)
}

func TestLogosRender(t *testing.T) {
	motifs := []Motif{
		FilterMotif("filter 1", [][]float64{{3, 0, 0, 0}, {0, 0, 3, 0}, {0, 0, 0, 3}}),
		FilterMotif("filter 2", [][]float64{{0, 3, 0, 0}, {1, 1, 1, 1}, {0, 0, 3, 0}}),
		FilterMotif("filter 3", [][]float64{{0, 0, 0, 3}, {3, 0, 0, 0}, {0, 0, 3, 0}}),
	}
	b, err := Logos("First-layer filters", "ACGT", motifs)
	require.NoError(t, err)
	im, err := png.Decode(bytes.NewReader(b))
	require.NoError(t, err)
	// The logo letters are drawn in their colours: some pixel is the A green.
	found := false
	for y := im.Bounds().Min.Y; y < im.Bounds().Max.Y && !found; y++ {
		for x := im.Bounds().Min.X; x < im.Bounds().Max.X; x++ {
			r, g, bb, _ := im.At(x, y).RGBA()
			if r>>8 == 0x10 && g>>8 == 0x96 && bb>>8 == 0x48 {
				found = true
				break
			}
		}
	}
	assert.True(t, found, "no A-green pixel: letters not drawn")
	_, err = Logos("x", "ACGT", []Motif{{Name: "bad", PWM: [][]float64{{1, 0}}}})
	assert.ErrorContains(t, err, "has 2 letters, the alphabet 4")
}
