package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/biopipe/biopipe/workflows"
)

// errJobsFailed exits 1 when a job of the submission failed.
var errJobsFailed = errors.New("a Slurm job failed")

func newStatusCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status [SUBMISSION]",
		Short: "Follow the Slurm jobs of a submission (default: the latest): state, what a failure means, the log tail",
		Long: `Asks Slurm about every job of a biopipe submission (squeue/scontrol; no accounting storage needed)
and maps its states to what to do: TIMEOUT and OUT_OF_MEMORY name the resources to raise,
NODE_FAIL says to resubmit, a job that waits for a failed one says so. Failed jobs show the
tail of their log. Exit 1 when a job failed.`,
		Example: "  biopipe status --workdir /shared/bp\n  biopipe status 20261130-1400-breast-cancer-mlp --workdir /shared/bp",
		Args:    cobra.MaximumNArgs(1),
	}
	cmd.Flags().String("workdir", ".biopipe", "the shared work dir the submission used")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		v := newViper(cmd)
		id := ""
		if len(args) == 1 {
			id = args[0]
		}
		sub, err := workflows.ReadSubmission(v.GetString("workdir"), id)
		if err != nil {
			return err
		}
		states, err := sub.Status(cmd.Context())
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		fmt.Fprintf(out, "submission %s (%s %s), scripts and logs in %s\n", sub.ID, sub.Kind, sub.Name, sub.Dir)
		bad := false
		for _, s := range states {
			fmt.Fprintf(out, "  %-10s %-14s %-14s %s\n", s.Job, s.ID, s.State, s.Message)
			if s.LogTail != "" {
				fmt.Fprintf(out, "      log tail:\n        %s\n", strings.ReplaceAll(s.LogTail, "\n", "\n        "))
			}
			switch s.State {
			case "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "CANCELLED", "PREEMPTED", "BOOT_FAIL", "DEADLINE":
				bad = true
			}
		}
		if bad {
			return errJobsFailed
		}
		return nil
	}
	return cmd
}
