// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

//go:build !unix

package fusedops

// cpuNanos is not measured on this platform: it returns 0.
func cpuNanos() int64 { return 0 }
