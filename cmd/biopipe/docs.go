package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/internal/docgen"
)

func newDocsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "docs",
		Short: "Write the reference docs (a page per stage kind, model family and template tutorial) from the declarations",
		Example: `  biopipe docs --out docs          # what make docs runs
  biopipe docs --out docs --check  # list stale pages, exit 1 if any`,
		Args: cobra.NoArgs,
	}
	out := cmd.Flags().String("out", "docs", "the docs folder")
	check := cmd.Flags().Bool("check", false, "only list the pages that differ from the declarations")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		pages, err := docgen.Generate(contract.Default)
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		if *check {
			stale, err := docgen.Stale(*out, pages)
			if err != nil {
				return err
			}
			if len(stale) > 0 {
				return fmt.Errorf("%s is stale (run `make docs` and commit the result):\n  %s", *out, strings.Join(stale, "\n  "))
			}
			fmt.Fprintf(w, "%s: %d generated pages, all current\n", *out, len(pages))
			return nil
		}
		changed, err := docgen.Write(*out, pages)
		if err != nil {
			return err
		}
		for _, c := range changed {
			fmt.Fprintf(w, "  %s\n", c)
		}
		fmt.Fprintf(w, "%s: %d generated pages, %d changed\n", *out, len(pages), len(changed))
		return nil
	}
	return cmd
}
