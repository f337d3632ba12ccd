package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/internal/complete"
	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/pipelines"
	"github.com/biopipe/biopipe/plots"
	"github.com/biopipe/biopipe/stages/train"
)

func newLRFindCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lr-find FILE",
		Short: "Learning-rate range test for a train stage: loss against a growing learning rate, plotted (PNG)",
		Long: `Runs the pipeline's stages upstream of a train stage (from cache when unchanged), then trains
that stage's model from its initial weights for --steps mini-batches while the learning rate grows
geometrically from --min to --max, recording the loss at each step (Smith 2017; fastai's lr_find).
It stops early when the smoothed loss exceeds four times its minimum, draws the loss against the
learning rate on a log axis (--out, PNG) and prints the suggested rate: where the smoothed loss
falls fastest. Nothing is cached and the model is not kept.`,
		Example: `  biopipe lr-find configs/quickstart.yaml
  biopipe lr-find pipeline.yaml --stage train_mlp --min 1e-6 --max 1 --steps 200 --out lr.png`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: complete.PipelineFile,
	}
	f := cmd.Flags()
	f.String("stage", "", "the train stage (default: the pipeline's only train stage)")
	f.Float64("min", 1e-7, "smallest learning rate")
	f.Float64("max", 10, "largest learning rate")
	f.Int("steps", 100, "mini-batches (one learning rate each)")
	f.String("out", "lr_find.png", "the plot (PNG)")
	f.String("workdir", "", "work dir of the upstream stages' artifacts (default: .biopipe beside FILE)")
	f.StringArray("set", nil, "override a value: PATH=VALUE (repeatable)")
	lockFlags(f)
	f.BoolP("quiet", "q", false, "only warnings and errors")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		v := newViper(cmd)
		plan, err := loadPlan(args[0], v.GetStringSlice("set"))
		if err != nil {
			return err
		}
		ps, err := trainStage(plan, v.GetString("stage"))
		if err != nil {
			return usageError{err}
		}
		log := newLogger("warn", v.GetBool("quiet"))
		opts := pipelines.Options{WorkDir: v.GetString("workdir"), Log: log, Only: ps.Spec.Inputs,
			Command: "biopipe " + strings.Join(os.Args[1:], " ")}
		if opts.WorkDir == "" {
			opts.WorkDir = pipelines.DefaultWorkDir(plan.Source.File)
		}
		unlock, err := lockWorkDir(cmd, v, opts.WorkDir, pipelines.LockExclusive)
		if err != nil {
			return err
		}
		defer unlock()
		m, err := pipelines.Run(cmd.Context(), plan, opts)
		if err != nil {
			return fmt.Errorf("upstream of stage %q: %w", ps.Spec.ID, err)
		}
		env := contract.NewEnv(nil)
		env.StageID, env.Kind, env.Config, env.Seed, env.Backend, env.Log = ps.Spec.ID, ps.Spec.Kind, ps.Config, plan.Spec.Seed, plan.Spec.Backend, log
		for _, b := range ps.Ports {
			for _, rec := range m.Stages {
				if rec.ID == b.From && rec.Artifact != nil {
					env.Inputs = append(env.Inputs, contract.Input{StageID: b.From, Kind: rec.Kind, Type: rec.Artifact.Type, Port: b.Port, Dir: rec.Artifact.Dir})
				}
			}
		}
		rt := models.RangeTest{MinLR: v.GetFloat64("min"), MaxLR: v.GetFloat64("max"), Steps: v.GetInt("steps")}
		res, err := train.FindLR(cmd.Context(), ps.Config, env, rt)
		if err != nil {
			return fmt.Errorf("stage %q: %w", ps.Spec.ID, err)
		}
		var lr, loss, sm []float64
		for _, p := range res.Points {
			lr, loss, sm = append(lr, p.LR), append(loss, p.Loss), append(sm, p.Smoothed)
		}
		png, err := plots.LRFinder(lr, loss, sm, res.Steepest)
		if err != nil {
			return err
		}
		out := v.GetString("out")
		if err := os.WriteFile(out, png, 0o644); err != nil {
			return err
		}
		abs, _ := filepath.Abs(out)
		w := cmd.OutOrStdout()
		fmt.Fprintf(w, "stage %s: %d steps from %.3g to %.3g", ps.Spec.ID, len(res.Points), lr[0], lr[len(lr)-1])
		if res.Diverged {
			fmt.Fprint(w, " (stopped: the loss diverged)")
		}
		fmt.Fprintf(w, "\nsteepest descent at lr %.3g; lowest smoothed loss at lr %.3g (a tenth of it: %.3g)\n", res.Steepest, res.MinLoss, res.MinLoss/10)
		fmt.Fprintf(w, "suggested learning_rate: %.3g   (set it with --set stages.%s.with.optimizer.learning_rate=%.3g)\nplot: %s\n", res.Steepest, ps.Spec.ID, res.Steepest, abs)
		return nil
	}
	return cmd
}

// trainStage finds the named train stage, or the only one.
func trainStage(plan *pipelines.Plan, id string) (*pipelines.PlannedStage, error) {
	var ids []string
	for _, ps := range plan.Order {
		if ps.Spec.Kind == train.KindName {
			ids = append(ids, ps.Spec.ID)
		}
	}
	if id == "" {
		if len(ids) != 1 {
			return nil, fmt.Errorf("the pipeline has %d train stages (%s): choose one with --stage", len(ids), strings.Join(ids, ", "))
		}
		id = ids[0]
	}
	ps := plan.Stage(id)
	if ps == nil || ps.Spec.Kind != train.KindName {
		return nil, fmt.Errorf("--stage %s: not a train stage (train stages: %s)", id, strings.Join(ids, ", "))
	}
	return ps, nil
}
