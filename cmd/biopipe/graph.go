package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/biopipe/biopipe/internal/complete"
)

func newGraphCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "graph FILE",
		Short: "Print the pipeline's DAG as Graphviz DOT or Mermaid",
		Example: `  biopipe graph configs/quickstart.yaml | dot -Tpng > dag.png
  biopipe graph configs/quickstart.yaml --format mermaid`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: complete.PipelineFile,
	}
	format := cmd.Flags().String("format", "dot", "dot | mermaid")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"dot", "mermaid"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		plan, err := loadPlan(args[0], nil)
		if err != nil {
			return err
		}
		switch *format {
		case "dot":
			fmt.Fprint(cmd.OutOrStdout(), plan.DOT())
		case "mermaid":
			fmt.Fprint(cmd.OutOrStdout(), plan.Mermaid())
		default:
			return usageError{fmt.Errorf("--format %q: want dot or mermaid", *format)}
		}
		return nil
	}
	return cmd
}
