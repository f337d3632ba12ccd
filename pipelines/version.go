package pipelines

import "runtime"

// Version is biopipe's version, set at build time with -ldflags "-X .../pipelines.Version=...".
var Version = "0.1.0-dev"

func goVersion() string { return runtime.Version() }
