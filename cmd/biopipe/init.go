package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/biopipe/biopipe/internal/scaffold"
)

func newInitCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "init --template NAME DIR",
		Short: "Start a project from a template: commented pipeline.yaml, README, sample data that runs at once",
		Example: `  biopipe init --list
  biopipe init --template tabular-ehr my-project && cd my-project && biopipe run pipeline.yaml`,
		Args: cobra.MaximumNArgs(1),
	}
	f := cmd.Flags()
	list := f.Bool("list", false, "list the templates, one line each")
	tmpl := f.StringP("template", "t", "", "the template to start from (see --list)")
	_ = cmd.RegisterFlagCompletionFunc("template", func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		var out []cobra.Completion
		for _, t := range scaffold.Templates() {
			if strings.HasPrefix(t.Name, toComplete) {
				out = append(out, cobra.CompletionWithDesc(t.Name, t.Summary))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	})
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		w := cmd.OutOrStdout()
		if *list {
			for _, t := range scaffold.Templates() {
				fmt.Fprintf(w, "%-16s %s\n", t.Name, t.Summary)
			}
			return nil
		}
		if *tmpl == "" || len(args) != 1 {
			return usageError{fmt.Errorf("want --template NAME DIR (templates: biopipe init --list)\n\n%s", cmd.UsageString())}
		}
		if _, err := scaffold.Get(*tmpl); err != nil {
			return usageError{err}
		}
		dir := args[0]
		written, err := scaffold.Write(*tmpl, dir)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "wrote %s (%d files) from template %s\n\n", dir, len(written), *tmpl)
		fmt.Fprintf(w, "  cd %s\n  biopipe run pipeline.yaml        # then open %s\n\n",
			dir, filepath.Join(".biopipe", "runs", "latest", "report.html"))
		fmt.Fprintf(w, "README.md says what each stage does and what to change first.\n")
		return nil
	}
	return cmd
}
