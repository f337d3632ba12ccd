package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/pipelines"
	"github.com/biopipe/biopipe/workflows"
)

// runWorkflow is `biopipe run WORKFLOW.yaml`: every point of the sweep in one work dir, then
// the results table (printed, and written with the report under workflows/<name>/).
func runWorkflow(cmd *cobra.Command, v *viper.Viper, file string) error {
	if len(v.GetStringSlice("set")) > 0 || len(v.GetStringSlice("force")) > 0 && v.GetStringSlice("force")[0] != "*" {
		return usageError{fmt.Errorf("%s is a workflow file: --set and --force STAGE apply to pipeline files (put overrides in its sweep)", file)}
	}
	w, err := workflows.Load(file, contract.Default)
	if err != nil {
		return err
	}
	opts := workflows.Options{
		WorkDir: v.GetString("workdir"), Jobs: v.GetInt("jobs"), Backend: v.GetString("backend"),
		Force:   len(v.GetStringSlice("force")) > 0,
		Command: "biopipe " + strings.Join(os.Args[1:], " "),
		Log:     newLogger(v.GetString("log-level"), v.GetBool("quiet")),
	}
	if !v.GetBool("quiet") {
		opts.Progress = newPointProgress(cmd.ErrOrStderr())
	}
	if opts.WorkDir == "" {
		opts.WorkDir = workflows.DefaultWorkDir(file)
	}
	// A sweep's points share the lock of their one process; Slurm array tasks (--point)
	// share the work dir with each other.
	mode := pipelines.LockExclusive
	if v.GetInt("point") != 0 {
		mode = pipelines.LockShared
	}
	unlock, err := lockWorkDir(cmd, v, opts.WorkDir, mode)
	if err != nil {
		return err
	}
	defer unlock()
	if n := v.GetInt("point"); n != 0 {
		pr, err := workflows.RunPoint(cmd.Context(), w, n, opts)
		if pr != nil {
			fmt.Fprintf(cmd.OutOrStdout(), "workflow %s point %d/%d: %s %s\n", w.Name, n, len(w.Points()), pr.Status, pr.RunID)
		}
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "workflow %s: %d points of %s in %s\n", w.Name, len(w.Points()), w.Pipeline, opts.WorkDir)
	rec, err := workflows.Run(cmd.Context(), w, opts)
	if rec != nil {
		for _, p := range rec.Points {
			fmt.Fprintf(cmd.OutOrStdout(), "  point %d/%d  %-8s %s  %s\n", p.Index+1, len(rec.Points), p.Status, p.RunID, w.Label(w.Points()[p.Index]))
		}
	}
	if err != nil {
		return err
	}
	return printTable(cmd, w, opts.WorkDir)
}

func printTable(cmd *cobra.Command, w *workflows.Workflow, workDir string) error {
	rec, err := workflows.ReadRecord(workDir, w.Name)
	if err != nil {
		return err
	}
	t, err := workflows.BuildTable(w, rec)
	if err != nil {
		return err
	}
	dir := workflows.Dir(workDir, w.Name)
	fmt.Fprintf(cmd.OutOrStdout(), "\n%s\ntable: %s/{%s,%s,%s}  report: %s/%s/report.html\n", t.Markdown(), dir,
		workflows.TableMD, workflows.TableTeX, workflows.TableCSV, dir, workflows.ReportDir)
	return nil
}

// newPointProgress prints "points done/total" after each point.
func newPointProgress(w interface{ Write([]byte) (int, error) }) contract.ProgressFunc {
	return func(desc string, total int) contract.Progress {
		return &pointProgress{w: w, desc: desc, total: total}
	}
}

type pointProgress struct {
	w           interface{ Write([]byte) (int, error) }
	desc        string
	done, total int
}

func (p *pointProgress) Add(n int) {
	p.done += n
	fmt.Fprintf(p.w, "progress %s: %d/%d\n", p.desc, p.done, p.total)
}
func (p *pointProgress) Close() {}
