// Package volgen writes a synthetic NIfTI set for ingest.volumes: noisy volumes holding one
// bright sphere or one bright cube, in a class folder each, with its segmentation mask under
// masks/ at the same relative path.
//
//	<out>/images/<sphere|cube>/case<NN>.nii.gz   uint8 with scl_slope 2, scl_inter -50
//	<out>/masks/<sphere|cube>/case<NN>.nii.gz    uint8, 1 inside the object
//
// Each case has its own voxel size (1.5 to 2.5 mm, per axis) and one of three orientations
// (RAS, LAS, LPS), so that reorientation and resampling matter; the object's size (radius or
// half-side 5 to 8 mm) and position vary, and the noise is Gaussian.
package volgen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/biopipe/biopipe/io/nifti"
)

// Options size the set.
type Options struct {
	Cases int    // per class
	Grid  int    // voxels per axis
	Seed  uint64 // random seed
}

// Default is the committed set (testdata/volumes).
func Default() Options { return Options{Cases: 40, Grid: 16, Seed: 7} }

// Generate writes the set under out.
func Generate(out string, o Options) error {
	rng := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	orients := []nifti.Affine{
		{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}},   // RAS
		{{-1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}},  // LAS
		{{-1, 0, 0, 0}, {0, -1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}}, // LPS
	}
	n := o.Grid
	for c := range 2 * o.Cases {
		class := []string{"sphere", "cube"}[c%2]
		var zoom [3]float64
		for d := range zoom {
			zoom[d] = 1.5 + rng.Float64()
		}
		aff := orients[rng.IntN(len(orients))]
		for r := range 3 {
			for d := range 3 {
				aff[r][d] *= zoom[d]
			}
			aff[r][3] = -aff[r][0]*float64(n)/2 - aff[r][1]*float64(n)/2 - aff[r][2]*float64(n)/2
		}
		size := 5 + 3*rng.Float64() // mm
		var centre [3]float64       // mm from the volume centre
		for d := range centre {
			centre[d] = (2*rng.Float64() - 1) * (float64(n)*zoom[d]/2 - size - 2)
		}
		img := make([]float32, n*n*n)
		mask := make([]float32, n*n*n)
		for k := range n {
			for j := range n {
				for i := range n {
					p := [3]float64{(float64(i)-float64(n)/2+0.5)*zoom[0] - centre[0], (float64(j)-float64(n)/2+0.5)*zoom[1] - centre[1], (float64(k)-float64(n)/2+0.5)*zoom[2] - centre[2]}
					inside := false
					if class == "sphere" {
						inside = p[0]*p[0]+p[1]*p[1]+p[2]*p[2] <= size*size
					} else {
						inside = math.Abs(p[0]) <= size && math.Abs(p[1]) <= size && math.Abs(p[2]) <= size
					}
					v := 100 + 25*rng.NormFloat64()
					if inside {
						v += 120
						mask[i+n*(j+n*k)] = 1
					}
					// Stored as uint8 u with value = 2u - 50.
					img[i+n*(j+n*k)] = float32(2*math.Round(min(max((v+50)/2, 0), 255)) - 50)
				}
			}
		}
		name := fmt.Sprintf("case%02d.nii.gz", c)
		for _, f := range []struct {
			dir  string
			data []float32
			o    nifti.WriteOptions
		}{
			{"images", img, nifti.WriteOptions{Datatype: nifti.Uint8, SclSlope: 2, SclInter: -50, Description: "volgen " + class}},
			{"masks", mask, nifti.WriteOptions{Datatype: nifti.Uint8, Description: "volgen mask"}},
		} {
			dir := filepath.Join(out, f.dir, class)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			if err := nifti.Write(filepath.Join(dir, name), []int{n, n, n}, f.data, aff, f.o); err != nil {
				return err
			}
		}
	}
	return nil
}
