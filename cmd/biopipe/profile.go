package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// envCPUProfile names the environment variable that, when set to a file path, makes any
// biopipe command write a CPU profile of its whole run there (`go tool pprof biopipe FILE`).
// It is a developer aid for finding where training time goes; it is not a flag so that it
// can profile any command, and a pipeline's manifest never depends on it.
const envCPUProfile = "BIOPIPE_CPUPROFILE"

// startProfile starts the CPU profile named by $BIOPIPE_CPUPROFILE, if set, and returns the
// function that stops it and closes the file (a no-op when there is no profile).
func startProfile() (stop func(), err error) {
	path := os.Getenv(envCPUProfile)
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envCPUProfile, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s=%s: %w", envCPUProfile, path, err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "%s=%s: %v\n", envCPUProfile, path, err)
		}
	}, nil
}
