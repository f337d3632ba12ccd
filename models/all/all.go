// Package all imports every model family so that it registers in the models registry.
// Each family package adds one blank import here.
package all

import (
	_ "github.com/biopipe/biopipe/models/autoencoder" // "autoencoder", "vae", "encoder"
	_ "github.com/biopipe/biopipe/models/cnn"         // "cnn"
	_ "github.com/biopipe/biopipe/models/cnn1d"       // "cnn1d"
	_ "github.com/biopipe/biopipe/models/convae"      // "conv_autoencoder", "conv_vae"
	_ "github.com/biopipe/biopipe/models/diffusion"   // "diffusion"
	_ "github.com/biopipe/biopipe/models/fusion"      // "fusion"
	_ "github.com/biopipe/biopipe/models/gan"         // "gan"
	_ "github.com/biopipe/biopipe/models/lstm"        // "lstm"
	_ "github.com/biopipe/biopipe/models/mlp"         // "mlp"
	_ "github.com/biopipe/biopipe/models/perceptron"  // "perceptron"
	_ "github.com/biopipe/biopipe/models/transformer" // "transformer"
	_ "github.com/biopipe/biopipe/models/unet"        // "unet"
)
