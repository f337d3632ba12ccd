package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/workflows"
)

func newScheduleCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule FILE...",
		Short: "Run pipelines and workflows on their schedule: lines (cron) until SIGTERM",
		Long: `Each FILE (a pipeline or a workflow) carries a cron line, e.g. schedule: "0 3 * * *", with an
optional time zone (schedule: "CRON_TZ=Europe/Berlin 0 3 * * *") or a leading seconds field.
A file never runs twice at once: a run still going when the next is due is skipped and logged.
Every run and skip is appended to WORKDIR/schedule/history.jsonl (biopipe runs --schedule shows
it). SIGTERM or Ctrl-C stops cleanly: no new run starts, a running one is cancelled (its
finished stages stay cached) and recorded. A plain cron or systemd timer line calling
biopipe run works as well: runs are idempotent and cache-aware.`,
		Example: "  biopipe schedule nightly.yaml lr-study.yaml\n  biopipe schedule nightly.yaml --workdir /data/bp",
		Args:    cobra.MinimumNArgs(1),
	}
	cmd.Flags().String("workdir", "", "work dir for every file (default: .biopipe beside each file)")
	cmd.Flags().String("log-level", "info", "debug | info | warn | error")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		v := newViper(cmd)
		files, err := workflows.LoadScheduled(args, v.GetString("workdir"), contract.Default)
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		log := newLogger(v.GetString("log-level"), false)
		for _, f := range files {
			fmt.Fprintf(cmd.OutOrStdout(), "scheduled %s: %q (history: %s)\n", f.File, f.Schedule, workflows.HistoryFile(f.WorkDir))
		}
		sc := &workflows.Scheduler{Files: files, Log: log, Reg: contract.Default}
		if err := sc.Start(ctx); err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), "schedule stopped")
		return nil
	}
	return cmd
}

// printScheduleHistory is `biopipe runs --schedule`.
func printScheduleHistory(w io.Writer, workDir string, asJSON bool) error {
	h, err := workflows.ReadHistory(workDir)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(w).Encode(h)
	}
	if len(h) == 0 {
		fmt.Fprintf(w, "no schedule history in %s (biopipe schedule FILE writes %s)\n", workDir, workflows.HistoryFile(workDir))
	}
	for _, e := range h {
		line := fmt.Sprintf("%s  %-9s %-28s %s", e.Due.Format("2006-01-02 15:04:05Z"), e.Status, e.RunID, e.File)
		if !e.End.IsZero() {
			line += fmt.Sprintf("  %.1fs", e.End.Sub(e.Start).Seconds())
		}
		if e.Message != "" {
			line += "  (" + e.Message + ")"
		}
		fmt.Fprintln(w, line)
	}
	return nil
}
