package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"golang.org/x/term"

	"github.com/biopipe/biopipe/pipelines"
)

// lockFlags adds --wait and --no-wait: what a command does when another biopipe process
// holds its work dir.
func lockFlags(f *pflag.FlagSet) {
	f.Bool("wait", false, "when another biopipe process holds the work dir, wait for it (default on a terminal)")
	f.Bool("no-wait", false, "when another biopipe process holds the work dir, fail at once naming it (default off a terminal)")
}

// lockWorkDir takes the work dir lock for the command (see pipelines.LockWorkDir): it
// waits, saying who holds it, with --wait or on a terminal, and fails at once otherwise.
func lockWorkDir(cmd *cobra.Command, v *viper.Viper, wd string, mode pipelines.LockMode) (func(), error) {
	if v.GetBool("wait") && v.GetBool("no-wait") {
		return nil, usageError{fmt.Errorf("--wait and --no-wait contradict each other")}
	}
	wait := term.IsTerminal(int(os.Stderr.Fd()))
	if v.GetBool("wait") {
		wait = true
	}
	if v.GetBool("no-wait") {
		wait = false
	}
	command := "biopipe " + strings.Join(os.Args[1:], " ")
	return pipelines.LockWorkDir(cmd.Context(), wd, mode, wait, command, func(hs []pipelines.Holder) {
		who := "another biopipe process"
		if len(hs) > 0 {
			var parts []string
			for _, h := range hs {
				parts = append(parts, h.String())
			}
			who = strings.Join(parts, "; ")
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "work dir %s is in use by %s; waiting (Ctrl-C to give up, --no-wait to fail instead)\n", wd, who)
	})
}
