// Command biopipe runs declarative biomedical deep-learning pipelines.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/biopipe/biopipe/pipelines"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // a run (or another command) failed
	exitUsage  = 2 // a bad pipeline file or bad usage
	// An interrupted run exits with 128 + the signal's number: 130 (SIGINT), 143 (SIGTERM).
)

// usageError marks errors that exit with code 2.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// signalError is the cause of the command's context when a signal stopped it.
type signalError struct{ sig syscall.Signal }

func (e signalError) Error() string { return "interrupted by " + signalName(e.sig) }

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}

func main() {
	// Past a file-size limit (ulimit -f) a write fails with EFBIG, reported with its path,
	// instead of the signal killing the process.
	signal.Ignore(syscall.SIGXFSZ)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	handleSignals(cancel)
	stopProfile, err := startProfile()
	if err != nil {
		os.Exit(exitCode(usageError{err}))
	}
	root := newRootCmd()
	err = root.ExecuteContext(ctx)
	stopProfile()
	os.Exit(exitCode(err))
}

// handleSignals turns the first SIGINT or SIGTERM into a cancelled context: a run stops at
// its next step, saves a checkpoint and marks its manifest interrupted. A second one exits
// at once; every artifact, checkpoint and manifest is written to a temporary name and
// renamed, so nothing half-written is ever trusted.
func handleSignals(cancel context.CancelCauseFunc) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := (<-sigs).(syscall.Signal)
		fmt.Fprintf(os.Stderr, "\n%s: stopping at the next step and saving a checkpoint (press Ctrl-C again to stop at once)\n", signalName(s))
		cancel(signalError{s})
		s2 := (<-sigs).(syscall.Signal)
		fmt.Fprintf(os.Stderr, "%s again: stopped at once; run the same command again to resume from the last checkpoint\n", signalName(s2))
		os.Exit(128 + int(s2))
	}()
}

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(os.Stderr, "error:", err)
	var se pipelines.SpecErrors
	var ue usageError
	var sig signalError
	switch {
	case errors.As(err, &se), errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &sig):
		if errors.Is(err, pipelines.ErrInterrupted) {
			fmt.Fprintf(os.Stderr, "to resume (finished stages are cached, training continues from its last checkpoint): %s\n", resumeCommand())
		}
		return 128 + int(sig.sig)
	}
	return exitFailed
}

// resumeCommand is the command line that started this process, quoted for a shell.
func resumeCommand() string {
	parts := []string{"biopipe"}
	for _, a := range os.Args[1:] {
		if a == "" || strings.ContainsAny(a, " \t\n'\"$`\\|&;<>()*?[]{}!#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}
