package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/internal/complete"
	"github.com/biopipe/biopipe/pipelines"
)

func newValidateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a pipeline file without running it, against the headers of its data; every problem is listed with file:line:col",
		Example: `  biopipe validate configs/quickstart.yaml
  biopipe validate pipeline.yaml --set stages.train.with.epochs=5`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: complete.PipelineFile,
	}
	cmd.Flags().StringArray("set", nil, "override a value: PATH=VALUE (repeatable)")
	_ = cmd.RegisterFlagCompletionFunc("set", complete.Set(contract.Default))
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		v := newViper(cmd)
		plan, err := loadPlan(args[0], v.GetStringSlice("set"))
		if err != nil {
			return err
		}
		// column, channel and sample-id names against the data's headers (headers only)
		if err := pipelines.CheckHeaders(cmd.Context(), plan); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d stages: ", args[0], len(plan.Order))
		for i, ps := range plan.Order {
			if i > 0 {
				fmt.Fprint(cmd.OutOrStdout(), " -> ")
			}
			fmt.Fprint(cmd.OutOrStdout(), ps.Spec.ID)
		}
		fmt.Fprintln(cmd.OutOrStdout(), ")")
		return nil
	}
	return cmd
}
