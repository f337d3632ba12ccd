#!/bin/sh
# Dense expression matrix read: io/expr (parallel TSV parse into a dataset.Frame tensor column)
# vs pandas.read_csv on the same 20,000 genes x 2,000 samples TSV (~300 MB), in the same run.
# Needs Debian python3-pandas for the peer. Usage: bench/expr/run.sh [flags of bench/expr]
set -e
cd "$(dirname "$0")/../.."
GOEXPERIMENT=simd go run ./bench/expr -genes 20000 -samples 2000 "$@"
