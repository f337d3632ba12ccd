#!/bin/sh
# EDF read throughput: io/edf vs MNE-Python read_raw_edf(preload=True) on the same 200 MB file.
# Needs Debian python3-mne for the peer. Usage: bench/edf/run.sh [extra flags for edfbench]
set -e
cd "$(dirname "$0")/../.."
GOEXPERIMENT=simd go run ./bench/edf -mb 200 "$@"
