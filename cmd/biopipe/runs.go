package main

import (
	"encoding/json"
	"fmt"
	"github.com/biopipe/biopipe/manifest"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/biopipe/biopipe/pipelines"
)

func workdirFlag(cmd *cobra.Command) {
	cmd.Flags().String("workdir", "", "work dir (default: .biopipe, or beside --pipeline FILE)")
	cmd.Flags().String("pipeline", "", "pipeline file whose default work dir to use")
}

func resolveWorkdir(cmd *cobra.Command) string {
	v := newViper(cmd)
	if wd := v.GetString("workdir"); wd != "" {
		return wd
	}
	if p := v.GetString("pipeline"); p != "" {
		return pipelines.DefaultWorkDir(p)
	}
	return ".biopipe"
}

func newRunsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "runs",
		Short:   "List the runs in a work dir, newest first (--schedule: the schedule history)",
		Example: "  biopipe runs --workdir configs/.biopipe\n  biopipe runs --schedule --pipeline nightly.yaml",
		Args:    cobra.NoArgs,
	}
	workdirFlag(cmd)
	asJSON := cmd.Flags().Bool("json", false, "machine-readable output")
	sched := cmd.Flags().Bool("schedule", false, "the schedule history: every scheduled run and skipped overlap (biopipe schedule)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if *sched {
			return printScheduleHistory(cmd.OutOrStdout(), resolveWorkdir(cmd), *asJSON)
		}
		runs, err := manifest.List(resolveWorkdir(cmd))
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		if *asJSON {
			type row struct {
				ID, Pipeline, Status string
				Start                string
				Duration             float64
				CacheHits, Stages    int
			}
			var out []row
			for _, m := range runs {
				out = append(out, row{m.RunID, m.Pipeline, m.Status, m.Start.Format("2006-01-02T15:04:05Z"), m.DurationS, m.CacheHits, m.StageCount})
			}
			return json.NewEncoder(w).Encode(out)
		}
		if len(runs) == 0 {
			fmt.Fprintf(w, "no runs in %s (a run's work dir is .biopipe beside its pipeline file unless --workdir was given: try --pipeline FILE or --workdir DIR)\n", resolveWorkdir(cmd))
		}
		for _, m := range runs {
			fmt.Fprintf(w, "%-28s %-24s %-7s %s  %6.1fs  %d/%d cached\n", m.RunID, m.Pipeline, m.Status, m.Start.Format("2006-01-02 15:04:05"), m.DurationS, m.CacheHits, m.StageCount)
		}
		return nil
	}
	return cmd
}

func newShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show [RUN]",
		Short: "Show a run's stages, artifacts and metrics (default: latest)",
		Example: `  biopipe show --workdir configs/.biopipe
  biopipe show 20261125-2301 --json`,
		Args: cobra.MaximumNArgs(1),
	}
	workdirFlag(cmd)
	asJSON := cmd.Flags().Bool("json", false, "print the whole manifest")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id := ""
		if len(args) == 1 {
			id = args[0]
		}
		dir, err := manifest.Find(resolveWorkdir(cmd), id)
		if err != nil {
			return err
		}
		m, err := manifest.Read(dir)
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		if *asJSON {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(m)
		}
		fmt.Fprintf(w, "pipeline %s (%s)\nspec %s\nbackend %s, seed %d, biopipe %s, %s\n", m.Pipeline, m.File, m.SpecHash[:12], m.Backend, m.Seed, m.Biopipe, m.GoVersion)
		printSummary(w, m)
		for _, s := range m.Stages {
			if s.Artifact != nil {
				fmt.Fprintf(w, "  artifact %-12s %s  sha256:%s\n", s.ID, s.Artifact.Dir, s.Artifact.Digest[:16])
			}
		}
		if _, err := filepath.Abs(dir); err == nil {
			fmt.Fprintf(w, "run folder: %s\n", dir)
		}
		return nil
	}
	return cmd
}
