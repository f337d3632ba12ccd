package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/biopipe/biopipe/contract"
)

func newStagesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stages [KIND]",
		Short: "List the stage kinds, or document one (generated from its config declaration)",
		Example: `  biopipe stages
  biopipe stages train`,
		Args: cobra.MaximumNArgs(1),
	}
	asJSON := cmd.Flags().Bool("json", false, "machine-readable output")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		w := cmd.OutOrStdout()
		if len(args) == 1 {
			k, err := contract.Default.Get(args[0])
			if err != nil {
				return usageError{err}
			}
			if *asJSON {
				return json.NewEncoder(w).Encode(kindJSON(k))
			}
			contract.WriteDocs(w, k)
			return nil
		}
		if *asJSON {
			var all []any
			contract.Default.Walk(func(k *contract.Kind) { all = append(all, kindJSON(k)) })
			return json.NewEncoder(w).Encode(all)
		}
		contract.Default.Walk(func(k *contract.Kind) { fmt.Fprintf(w, "%-24s %s\n", k.Name, k.Doc) })
		return nil
	}
	return cmd
}

func kindJSON(k *contract.Kind) map[string]any {
	return map[string]any{"name": k.Name, "doc": k.Doc, "version": k.Version, "inputs": k.Inputs, "output": k.Output, "fields": k.Fields}
}
