package main

import (
	"fmt"
	"github.com/biopipe/biopipe/manifest"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/biopipe/biopipe/pipelines"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print biopipe's version, Go version and key module versions",
		Example: "  biopipe version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "biopipe %s (%s, %s/%s)\n", pipelines.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			mods := manifest.BuildModules()
			for _, m := range []string{"github.com/gomlx/gomlx", "github.com/gomlx/compute", "github.com/apache/arrow-go/v18", "github.com/suyashkumar/dicom"} {
				if v, ok := mods[m]; ok {
					fmt.Fprintf(w, "  %s %s\n", m, v)
				}
			}
			return nil
		},
	}
}
