// Command biopipe runs declarative biomedical deep-learning pipelines.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"

	"github.com/biopipe/biopipe/pipelines"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // a run (or another command) failed
	exitUsage  = 2 // a bad pipeline file or bad usage
)

// usageError marks errors that exit with code 2.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	root := newRootCmd()
	err := root.ExecuteContext(ctx)
	os.Exit(exitCode(err))
}

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(os.Stderr, "error:", err)
	var se pipelines.SpecErrors
	var ue usageError
	switch {
	case errors.As(err, &se), errors.As(err, &ue):
		return exitUsage
	}
	return exitFailed
}
