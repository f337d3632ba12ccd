package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/internal/complete"
	"github.com/biopipe/biopipe/stages/train"
)

func newStagesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stages [KIND]",
		Short: "List the stage kinds, or document one (generated from its config declaration)",
		Example: `  biopipe stages
  biopipe stages train
  biopipe stages train --model cnn   # only the cnn family's fields`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: complete.KindArgs(contract.Default),
	}
	asJSON := cmd.Flags().Bool("json", false, "machine-readable output")
	model := cmd.Flags().String("model", "", "with KIND train: document only this model family's fields")
	_ = cmd.RegisterFlagCompletionFunc("model", complete.Models)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		w := cmd.OutOrStdout()
		if *model != "" && (len(args) != 1 || args[0] != train.KindName) {
			return usageError{fmt.Errorf("--model %s: documents the %s stage's fields; use: biopipe stages %s --model %s", *model, train.KindName, train.KindName, *model)}
		}
		if len(args) == 1 {
			k, err := contract.Default.Get(args[0])
			if err != nil {
				return usageError{err}
			}
			if *model != "" {
				if k, err = train.KindFor(contract.Default, *model); err != nil {
					return usageError{fmt.Errorf("--model: %w", err)}
				}
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
