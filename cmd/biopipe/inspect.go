package main

import (
	"github.com/spf13/cobra"

	"github.com/biopipe/biopipe/io/inspect"
)

func newInspectCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inspect FILE",
		Short: "A quick look at a data file (table, DICOM, EDF, expression matrix, FASTA/FASTQ, NIfTI)",
		Example: `  biopipe inspect testdata/ehr/breast_cancer.csv
  biopipe inspect scan.dcm --json
  biopipe inspect counts.tsv --as expression   # a dense matrix: shape, ids, per-sample sums, zeros
  biopipe inspect reads.fq.gz                  # count, lengths, alphabet, GC content, mean quality`,
		Args: cobra.ExactArgs(1),
	}
	asJSON := cmd.Flags().Bool("json", false, "machine-readable output")
	as := cmd.Flags().String("as", "", "read the file as this format instead of guessing: table, expression, dicom, edf, sequence, nifti")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var in *inspect.Inspector
		var err error
		if *as != "" {
			if in, err = inspect.Named(*as); err != nil {
				return usageError{err}
			}
		} else if in, err = inspect.Find(args[0]); err != nil {
			return err
		}
		v, err := in.Inspect(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if *asJSON || in.Text == nil {
			return inspect.WriteJSON(cmd.OutOrStdout(), v)
		}
		return in.Text(cmd.OutOrStdout(), v)
	}
	return cmd
}
