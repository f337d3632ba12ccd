package main

import (
	"fmt"
	"github.com/biopipe/biopipe/manifest"

	"github.com/spf13/cobra"

	"github.com/biopipe/biopipe/report"
)

func newReportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report [RUN]",
		Short: "Regenerate a finished run's report.md and report.html (default: latest run)",
		Long: `Rebuilds the report from the run's manifest and stored artifacts, without re-running any
stage. An earlier LLM draft is reused (its numbers checked again); the LLM is not called.`,
		Example: `  biopipe report --workdir configs/.biopipe
  biopipe report 20261125-2301 --pipeline configs/quickstart.yaml`,
		Args: cobra.MaximumNArgs(1),
	}
	workdirFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id := ""
		if len(args) == 1 {
			id = args[0]
		}
		wd := resolveWorkdir(cmd)
		dir, err := manifest.Find(wd, id)
		if err != nil {
			return err
		}
		html, err := report.Regenerate(cmd.Context(), dir, "")
		if err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), html)
		return nil
	}
	return cmd
}
