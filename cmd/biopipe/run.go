package main

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/internal/complete"
	"github.com/biopipe/biopipe/manifest"
	"github.com/biopipe/biopipe/pipelines"
	"github.com/biopipe/biopipe/workflows"
)

func newRunCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Run a pipeline (every stage whose inputs or config changed, the rest from cache) or a workflow's sweep",
		Example: `  biopipe run configs/quickstart.yaml
  biopipe run pipeline.yaml --set stages.train.with.epochs=5 --workdir /scratch/bp
  biopipe run pipeline.yaml --force=train      # re-run one stage (--force alone: every stage)
  BIOPIPE_VAR_DATA=other.csv biopipe run pipeline.yaml
  biopipe run configs/quickstart-sweep.yaml --jobs 2   # a workflow: every point of its sweep, then its table`,
		Args: func(cmd *cobra.Command, args []string) error {
			// --force takes its stage ids after "=": "--force train" leaves train as an argument.
			if len(args) == 2 && cmd.Flags().Changed("force") {
				if ids, _ := cmd.Flags().GetStringSlice("force"); len(ids) == 1 && ids[0] == "*" {
					return fmt.Errorf("--force %s: write --force=%s to re-run stage %s (--force alone re-runs every stage)", args[1], args[1], args[1])
				}
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		ValidArgsFunction: complete.PipelineFile,
	}
	f := cmd.Flags()
	f.String("workdir", "", "work dir holding the artifact store and runs/ (default: .biopipe beside FILE)")
	f.Int("jobs", 2, "independent stages run at the same time (a workflow: points at the same time)")
	f.StringSlice("force", nil, "re-run these stage ids even when cached: --force=train,eval (--force alone: all)")
	f.Lookup("force").NoOptDefVal = "*"
	f.Bool("keep-going", false, "quarantine corrupt input files and go on, listing them in the report")
	f.String("backend", "", "override the pipeline's backend: go | xla:cpu | xla:cuda (also GOMLX_BACKEND)")
	f.StringArray("set", nil, "override a value: PATH=VALUE, e.g. stages.train.with.epochs=5 (repeatable)")
	_ = cmd.RegisterFlagCompletionFunc("force", complete.Force)
	_ = cmd.RegisterFlagCompletionFunc("set", complete.Set(contract.Default))
	_ = cmd.RegisterFlagCompletionFunc("backend", cobra.FixedCompletions(pipelines.Backends, cobra.ShellCompDirectiveNoFileComp))
	f.StringSlice("only", nil, "run only these stages and their upstream stages (a Slurm stage job)")
	f.Int("point", 0, "a workflow: run only this point of the sweep (1-based; a Slurm array task)")
	lockFlags(f)
	f.Bool("paranoid", false, "hash every file of every cached artifact in full before trusting it (default: large files by size and a sampled hash)")
	f.BoolP("quiet", "q", false, "only warnings and errors")
	f.String("log-level", "info", "debug | info | warn | error")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		v := newViper(cmd)
		if workflows.IsWorkflow(args[0]) {
			return runWorkflow(cmd, v, args[0])
		}
		plan, err := loadPlan(args[0], v.GetStringSlice("set"))
		if err != nil {
			return err
		}
		backend := v.GetString("backend")
		if backend == "" {
			backend = os.Getenv("GOMLX_BACKEND")
		}
		if backend != "" && !slices.Contains(pipelines.Backends, backend) {
			return usageError{fmt.Errorf("--backend %q is not one of %s", backend, strings.Join(pipelines.Backends, ", "))}
		}
		opts := pipelines.Options{
			WorkDir:   v.GetString("workdir"),
			Jobs:      v.GetInt("jobs"),
			KeepGoing: v.GetBool("keep-going"),
			Backend:   backend,
			Command:   "biopipe " + strings.Join(os.Args[1:], " "),
			Log:       newLogger(v.GetString("log-level"), v.GetBool("quiet")),
			Progress:  newProgress(os.Stderr, v.GetBool("quiet")),
			Only:      v.GetStringSlice("only"),
			Paranoid:  v.GetBool("paranoid"),
		}
		for _, s := range v.GetStringSlice("force") {
			if s == "*" {
				opts.Force = true
			} else if plan.Stage(s) == nil {
				return usageError{fmt.Errorf("--force %s: no such stage", s)}
			} else {
				opts.ForceStages = append(opts.ForceStages, s)
			}
		}
		if opts.WorkDir == "" {
			opts.WorkDir = pipelines.DefaultWorkDir(plan.Source.File)
		}
		// A Slurm stage job (--only) shares the work dir with the submission's other jobs.
		mode := pipelines.LockExclusive
		if len(opts.Only) > 0 {
			mode = pipelines.LockShared
		}
		unlock, err := lockWorkDir(cmd, v, opts.WorkDir, mode)
		if err != nil {
			return err
		}
		defer unlock()
		m, runErr := pipelines.Run(cmd.Context(), plan, opts)
		if m != nil {
			printSummary(cmd.OutOrStdout(), m)
		}
		return runErr
	}
	return cmd
}

// loadPlan loads, overrides and validates a pipeline file against the default registry.
func loadPlan(file string, sets []string) (*pipelines.Plan, error) {
	var ovs []pipelines.Override
	envOvs, err := pipelines.EnvOverrides(os.Environ())
	if err != nil {
		return nil, usageError{err}
	}
	ovs = append(ovs, envOvs...)
	for _, s := range sets {
		o, err := pipelines.ParseOverride(s, "--set "+s)
		if err != nil {
			return nil, usageError{err}
		}
		ovs = append(ovs, o)
	}
	src, err := pipelines.Load(file, ovs)
	if err != nil {
		if _, ok := err.(pipelines.SpecErrors); ok {
			return nil, err
		}
		return nil, usageError{err}
	}
	return pipelines.Validate(src, contract.Default)
}

func printSummary(w interface{ Write([]byte) (int, error) }, m *manifest.Manifest) {
	fmt.Fprintf(w, "run %s  %s  (%d stages, %d cached, %.2fs)\n", m.RunID, m.Status, m.StageCount, m.CacheHits, m.DurationS)
	for _, s := range m.Stages {
		line := fmt.Sprintf("  %-14s %-22s %-8s %6.2fs", s.ID, s.Kind, s.Status, s.DurationS)
		if s.Status == "skipped" && s.Error != "" {
			// A failed stage's own error is printed once, after the table.
			line += "  " + s.Error
		}
		fmt.Fprintln(w, line)
	}
	for _, id := range slices.Sorted(maps.Keys(m.Metrics)) {
		if mm, ok := m.Metrics[id].(map[string]any); ok {
			var parts []string
			for _, k := range slices.Sorted(maps.Keys(mm)) {
				if f, ok := mm[k].(float64); ok {
					parts = append(parts, fmt.Sprintf("%s=%.4f", k, f))
				}
			}
			if len(parts) > 0 {
				fmt.Fprintf(w, "  metrics[%s]: %s\n", id, strings.Join(parts, " "))
			}
		}
	}
	fmt.Fprintf(w, "manifest: %s/runs/%s/manifest.json\n", m.WorkDir, m.RunID)
}
