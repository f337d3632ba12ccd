package evaluate

import (
	"fmt"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/evaluation"
)

// runExtraction scores extracted columns against their labelled columns (no model).
func runExtraction(env *contract.Env) error {
	di, err := env.One(PortData)
	if err != nil {
		return err
	}
	frame, err := dataset.ReadFile(di.File(contract.DataFile))
	if err != nil {
		return fmt.Errorf("stage %q: %w", env.StageID, err)
	}
	res, err := evaluation.EvaluateExtraction(frame)
	if err != nil {
		return fmt.Errorf("stage %q: no model connected, and %w", env.StageID, err)
	}
	if err := dataset.WriteJSON(env.Out(contract.MetricsFile), res); err != nil {
		return fmt.Errorf("stage %q: %w", env.StageID, err)
	}
	for name, fr := range res.Fields {
		env.SetMetric("extract_"+name+"_accuracy", fr.Accuracy)
		if fr.F1 != nil {
			env.SetMetric("extract_"+name+"_f1", *fr.F1)
		}
		if fr.MAE != nil {
			env.SetMetric("extract_"+name+"_mae", *fr.MAE)
		}
	}
	env.SetMetric("extract_mean_accuracy", res.MeanAccuracy)
	return nil
}
