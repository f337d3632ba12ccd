package main

import (
	"github.com/spf13/cobra"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/workflows"
)

func newTableCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "table WORKFLOW",
		Short: "Re-print a workflow's results table from its finished runs (and rewrite table.md/.tex/.csv and the report)",
		Long: `Reads workflows/<name>/workflow.json in the work dir, checks every point's manifest against
the digest recorded when it ran, and rebuilds the table: one row per group_by setting, each
metric's mean, sd, t interval across seeds and the runs' bootstrap interval.`,
		Example: "  biopipe table configs/quickstart-sweep.yaml\n  biopipe table lr-study.yaml --workdir /scratch/bp",
		Args:    cobra.ExactArgs(1),
	}
	cmd.Flags().String("workdir", "", "work dir of the workflow's runs (default: .biopipe beside WORKFLOW)")
	cmd.Flags().Bool("collect", false, "assemble the record from points run one by one (the last job of a Slurm submission)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		v := newViper(cmd)
		w, err := workflows.Load(args[0], contract.Default)
		if err != nil {
			return err
		}
		wd := v.GetString("workdir")
		if wd == "" {
			wd = workflows.DefaultWorkDir(args[0])
		}
		if v.GetBool("collect") {
			if _, err := workflows.Collect(w, wd, "slurm"); err != nil {
				return err
			}
			return printTable(cmd, w, wd)
		}
		rec, err := workflows.ReadRecord(wd, w.Name)
		if err != nil {
			return err
		}
		if _, err := workflows.WriteResults(w, rec, workflows.Dir(wd, w.Name)); err != nil {
			return err
		}
		return printTable(cmd, w, wd)
	}
	return cmd
}
