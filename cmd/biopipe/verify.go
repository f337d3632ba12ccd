package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/manifest"
	"github.com/biopipe/biopipe/workflows"
)

// errVerifyFailed exits 1 after verify has printed what differs.
var errVerifyFailed = errors.New("verify: the run does not reproduce")

func newVerifyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify [RUN]",
		Short: "Re-execute a finished run from its manifest in a scratch work dir and compare every artifact digest",
		Long: `Reads runs/<RUN>/manifest.json (default: the latest run), checks that the run's stored artifacts
and the input files its stages read are unchanged, re-executes the resolved spec with the same seed
and backend in a scratch work dir, and compares every artifact digest. Exit 0 when all agree; exit 1
naming each artifact and stage that differs (a changed input file is named as such). Relative input
paths resolve against the run's recorded working directory.`,
		Example: "  biopipe verify --workdir configs/.biopipe\n  biopipe verify 20261130-1329 --pipeline configs/quickstart.yaml --keep",
		Args:    cobra.MaximumNArgs(1),
	}
	workdirFlag(cmd)
	cmd.Flags().Bool("keep", false, "keep the scratch work dir and print its path")
	cmd.Flags().String("scratch", "", "scratch work dir (default: a temporary folder)")
	cmd.Flags().BoolP("quiet", "q", false, "only warnings and errors")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		v := newViper(cmd)
		id := ""
		if len(args) == 1 {
			id = args[0]
		}
		dir, err := manifest.Find(resolveWorkdir(cmd), id)
		if err != nil {
			return err
		}
		if dir, err = absPath(dir); err != nil {
			return err
		}
		m, err := manifest.Read(dir)
		if err != nil {
			return err
		}
		if m.Cwd != "" {
			if cwd, _ := os.Getwd(); cwd != m.Cwd {
				if err := os.Chdir(m.Cwd); err != nil {
					return fmt.Errorf("verify: the run's working directory %s: %w (relative input paths resolve against it)", m.Cwd, err)
				}
			}
		}
		out := cmd.OutOrStdout()
		fmt.Fprintf(out, "verify %s: re-executing %d stages of %s (seed %d, backend %s)\n", m.RunID, len(m.Stages), m.File, m.Seed, m.Backend)
		res, err := workflows.Verify(cmd.Context(), dir, contract.Default, workflows.VerifyOptions{
			Scratch: v.GetString("scratch"), Keep: v.GetBool("keep"), Log: newLogger("warn", v.GetBool("quiet")),
		})
		if err != nil {
			return err
		}
		for _, n := range res.Notes {
			fmt.Fprintln(out, "note:", n)
		}
		if res.Scratch != "" && (v.GetBool("keep") || v.GetString("scratch") != "") {
			fmt.Fprintln(out, "scratch work dir:", res.Scratch)
		}
		if res.OK() {
			fmt.Fprintf(out, "ok: all %d artifacts reproduce bit for bit\n", res.Compared)
			return nil
		}
		for _, d := range res.Diffs {
			fmt.Fprintf(out, "DIFFERS %s\n", d)
		}
		return fmt.Errorf("%w: %d differences", errVerifyFailed, len(res.Diffs))
	}
	return cmd
}

func absPath(p string) (string, error) { return filepath.Abs(p) }
