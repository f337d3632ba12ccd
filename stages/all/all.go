// Package all imports every stage kind so that it registers in contract.Default.
// Each stage package adds one blank import here.
package all

import (
	_ "github.com/biopipe/biopipe/contract" // the registry itself
	_ "github.com/biopipe/biopipe/stages/embed"
	_ "github.com/biopipe/biopipe/stages/evaluate"
	_ "github.com/biopipe/biopipe/stages/extract/llm"
	_ "github.com/biopipe/biopipe/stages/generate"
	_ "github.com/biopipe/biopipe/stages/ingest/dicom"
	_ "github.com/biopipe/biopipe/stages/ingest/expression"
	_ "github.com/biopipe/biopipe/stages/ingest/images"
	_ "github.com/biopipe/biopipe/stages/ingest/sequences"
	_ "github.com/biopipe/biopipe/stages/ingest/signals"
	_ "github.com/biopipe/biopipe/stages/ingest/table"
	_ "github.com/biopipe/biopipe/stages/ingest/volumes"
	_ "github.com/biopipe/biopipe/stages/report"
	_ "github.com/biopipe/biopipe/stages/train"
	_ "github.com/biopipe/biopipe/stages/transform/augment"
	_ "github.com/biopipe/biopipe/stages/transform/encode"
	_ "github.com/biopipe/biopipe/stages/transform/encodeseq"
	_ "github.com/biopipe/biopipe/stages/transform/expression"
	_ "github.com/biopipe/biopipe/stages/transform/impute"
	_ "github.com/biopipe/biopipe/stages/transform/join"
	_ "github.com/biopipe/biopipe/stages/transform/signal"
	_ "github.com/biopipe/biopipe/stages/transform/split"
	_ "github.com/biopipe/biopipe/stages/transform/standardize"
	_ "github.com/biopipe/biopipe/stages/transform/subset"
	_ "github.com/biopipe/biopipe/stages/transform/tensor"
)
