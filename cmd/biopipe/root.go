package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	_ "github.com/biopipe/biopipe/stages/all" // register every stage kind
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "biopipe",
		Short: "Reproducible biomedical deep-learning pipelines from one YAML file",
		Long: `biopipe turns one declarative pipeline.yaml into a reproducible experiment: ingest DICOM
images, EHR tables, expression matrices or neural recordings; prepare them; train a GoMLX model;
evaluate it with confidence intervals; and write a report.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Example:       "  biopipe run configs/quickstart.yaml\n  biopipe stages train",
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newRunCmd(), newValidateCmd(), newStagesCmd(), newGraphCmd(), newRunsCmd(),
		newShowCmd(), newInspectCmd(), newVersionCmd(), newReportCmd(), newTableCmd(), newInitCmd(), newDocsCmd(),
		newWeightsCmd(), newVerifyCmd(), newSubmitCmd(), newStatusCmd(), newScheduleCmd(), newCacheCmd(), newGCCmd(), newLRFindCmd())
	for _, c := range root.Commands() {
		c.Args = wrapArgs(c.Args)
	}
	return root
}

func wrapArgs(a cobra.PositionalArgs) cobra.PositionalArgs {
	if a == nil {
		return nil
	}
	return func(cmd *cobra.Command, args []string) error {
		if err := a(cmd, args); err != nil {
			return usageError{fmt.Errorf("%w\n\n%s", err, cmd.UsageString())}
		}
		return nil
	}
}

// newViper returns a command's own viper, reading BIOPIPE_* environment variables and bound
// to the command's flags (flag > environment > default).
func newViper(cmd *cobra.Command) *viper.Viper {
	v := viper.New()
	v.SetEnvPrefix("BIOPIPE")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		_ = v.BindPFlag(f.Name, f)
	})
	return v
}

func newLogger(level string, quiet bool) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	if quiet {
		l = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
