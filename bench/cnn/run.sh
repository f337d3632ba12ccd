#!/bin/sh
# bench/cnn/run.sh: CNN training throughput, biopipe's GoMLX pure-Go backend vs PyTorch CPU,
# measured in one run on this machine with the same thread count, ratio printed.
#
# Network (both sides): conv3x3(16,same)-relu-maxpool2-conv3x3(32,same)-relu-maxpool2-dense(10),
# 28x28x1 inputs, batch 64, Adam(1e-3), softmax cross-entropy, synthetic data.
#
# Usage: bench/cnn/run.sh [THREADS] [STEPS] [ROUNDS]
#   THREADS defaults to the number of CPUs; GOMAXPROCS and torch.set_num_threads get it.
#   ROUNDS (default 3) alternates Go and PyTorch runs and keeps each side's best round,
#   which damps the noise of a shared machine.
#   IMPL=fastconv times the layer-level network instead of biopipe's cnn family (default).
#   CONVGENERAL=1 also measures the plain ConvGeneral build (slow: few steps).
# Needs: Go with GOEXPERIMENT=simd support (Go >= 1.26 on amd64), Debian python3-torch.
set -eu
cd "$(dirname "$0")/../.."
THREADS=${1:-$(nproc)}
STEPS=${2:-60}
ROUNDS=${3:-3}
PY=/usr/bin/python3
# PyTorch runs with its default OpenMP wait policy unless OMP_WAIT_POLICY is set (PASSIVE is
# fairer to it on an oversubscribed machine; see bench/README.md).
if ! "$PY" -c 'import torch' 2>/dev/null; then
	echo "bench/cnn: PyTorch missing: apt-get install -y python3-torch" >&2
	exit 1
fi
BIN=$(mktemp -d)/cnnbench
trap 'rm -rf "$(dirname "$BIN")"' EXIT
GOEXPERIMENT=simd go build -o "$BIN" ./bench/cnn

field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }
best() { sort -g | tail -1; }

go_wall="" go_cpu="" pt_wall="" pt_cpu=""
i=0
while [ "$i" -lt "$ROUNDS" ]; do
	g=$(GOMAXPROCS=$THREADS "$BIN" -impl "${IMPL:-family}" -steps "$STEPS")
	p=$("$PY" bench/cnn/torch_cnn.py "$THREADS" 64 "$STEPS")
	echo "$g"
	echo "$p"
	go_wall="$go_wall $(echo "$g" | field images_per_s)"
	go_cpu="$go_cpu $(echo "$g" | field images_per_cpu_s)"
	pt_wall="$pt_wall $(echo "$p" | field images_per_s)"
	pt_cpu="$pt_cpu $(echo "$p" | field images_per_cpu_s)"
	i=$((i + 1))
done
if [ "${CONVGENERAL:-0}" = 1 ]; then
	GOMAXPROCS=$THREADS "$BIN" -impl convgeneral -steps 3 -warmup 1
fi
gw=$(echo $go_wall | tr ' ' '\n' | best)
gc=$(echo $go_cpu | tr ' ' '\n' | best)
pw=$(echo $pt_wall | tr ' ' '\n' | best)
pc=$(echo $pt_cpu | tr ' ' '\n' | best)
awk -v gw="$gw" -v pw="$pw" -v gc="$gc" -v pc="$pc" -v th="$THREADS" 'BEGIN {
	printf "threads=%d best of rounds: gomlx-go %.1f images/s, pytorch-cpu %.1f images/s, ratio %.2fx\n", th, gw, pw, gw / pw
	printf "threads=%d per CPU-second:   gomlx-go %.1f images/cpu-s, pytorch-cpu %.1f images/cpu-s, ratio %.2fx\n", th, gc, pc, gc / pc
}'
