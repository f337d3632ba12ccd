package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/biopipe/biopipe/pipelines"
)

// newCacheCmd is `biopipe cache verify`: a full check of the artifact store.
func newCacheCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Check the artifact store of a work dir",
		Args:  cobra.NoArgs,
	}
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Hash every artifact in the store against its entry; move corrupt ones to quarantine/ (the next run recomputes them)",
		Example: `  biopipe cache verify --workdir configs/.biopipe
  biopipe cache verify --pipeline pipeline.yaml`,
		Args: cobra.NoArgs,
	}
	workdirFlag(verify)
	lockFlags(verify.Flags())
	verify.RunE = func(cmd *cobra.Command, args []string) error {
		wd := resolveWorkdir(cmd)
		unlock, err := lockWorkDir(cmd, newViper(cmd), wd, pipelines.LockExclusive)
		if err != nil {
			return err
		}
		defer unlock()
		rep, err := (&pipelines.FSCache{Root: filepath.Join(wd, "store")}).Verify()
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		for i, c := range rep.Corrupt {
			fmt.Fprintf(w, "corrupt: %v\n  moved to %s\n", c, rep.Quarantined[i])
		}
		fmt.Fprintf(w, "checked %d artifacts (%s) in %s: %d corrupt\n", rep.Checked, humanBytes(rep.Bytes), wd, len(rep.Corrupt))
		if len(rep.Corrupt) > 0 {
			return fmt.Errorf("%d corrupt artifacts moved to %s (the next run computes them again)", len(rep.Corrupt), filepath.Join(wd, "quarantine"))
		}
		return nil
	}
	cmd.AddCommand(verify)
	return cmd
}

// newGCCmd is `biopipe gc`: remove what no kept run references.
func newGCCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Remove artifacts, resume states and temporaries that no kept run references, and print what it freed",
		Example: `  biopipe gc --workdir configs/.biopipe              # keep every run, drop unreferenced artifacts
  biopipe gc --keep-runs 5 --pipeline pipeline.yaml  # keep the 5 newest runs and what they use
  biopipe gc --keep-runs 0 --drop-resume             # remove everything, unfinished trainings too`,
		Args: cobra.NoArgs,
	}
	workdirFlag(cmd)
	lockFlags(cmd.Flags())
	cmd.Flags().Int("keep-runs", -1, "keep only the N newest runs (their folders and artifacts); default: every run")
	cmd.Flags().Bool("drop-resume", false, "also remove the resume states of unfinished trainings (a killed or interrupted run's); by default they are kept so that the next run resumes")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		v := newViper(cmd)
		wd := resolveWorkdir(cmd)
		keep := v.GetInt("keep-runs")
		if cmd.Flags().Changed("keep-runs") && keep < 0 {
			return usageError{fmt.Errorf("--keep-runs must be >= 0, got %d", keep)}
		}
		unlock, err := lockWorkDir(cmd, v, wd, pipelines.LockExclusive)
		if err != nil {
			return err
		}
		defer unlock()
		rep, err := (&pipelines.FSCache{Root: filepath.Join(wd, "store")}).GC(wd, pipelines.GCOptions{KeepRuns: keep, DropResume: v.GetBool("drop-resume")})
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "removed %d runs, %d artifacts, %d resume states, %d temporaries from %s: freed %s\n",
			rep.Runs, rep.Artifacts, rep.States, rep.Temporaries, wd, humanBytes(rep.Freed))
		if rep.KeptStates > 0 {
			fmt.Fprintf(cmd.OutOrStdout(), "kept %d resume states of unfinished trainings (%s): the next biopipe run resumes them; --drop-resume removes them\n",
				rep.KeptStates, humanBytes(rep.KeptBytes))
		}
		return nil
	}
	return cmd
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
