// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

//go:build !unix

package ops

// processCPUTime is not measured on this platform: it returns false.
func processCPUTime() (int64, bool) { return 0, false }
