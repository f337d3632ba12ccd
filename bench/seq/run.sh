#!/bin/sh
# bench/seq/run.sh: sequence-model training throughput on configs/eeg-lstm.yaml's shapes,
# biopipe's lstm and cnn1d families on GoMLX's pure-Go backend vs the same networks in
# PyTorch CPU, measured in one run on this machine with the same thread count, ratios printed.
#
# Usage: bench/seq/run.sh [THREADS] [STEPS] [ROUNDS] [MODELS]
#   THREADS defaults to the number of CPUs; GOMAXPROCS and torch.set_num_threads get it.
#   ROUNDS (default 3) alternates Go and PyTorch runs and keeps each side's best round.
#   MODELS defaults to "lstm cnn1d lstm-raw" (see bench/seq/main.go).
# Needs: Go with GOEXPERIMENT=simd support (Go >= 1.26 on amd64), Debian python3-torch.
set -eu
cd "$(dirname "$0")/../.."
THREADS=${1:-$(nproc)}
STEPS=${2:-60}
ROUNDS=${3:-3}
MODELS=${4:-"lstm cnn1d lstm-raw"}
PY=/usr/bin/python3
# PyTorch runs with its default OpenMP wait policy unless OMP_WAIT_POLICY is set (PASSIVE is
# fairer to it on an oversubscribed machine; see bench/README.md).
if ! "$PY" -c 'import torch' 2>/dev/null; then
	echo "bench/seq: PyTorch missing: apt-get install -y python3-torch" >&2
	exit 1
fi
BIN=$(mktemp -d)/seqbench
trap 'rm -rf "$(dirname "$BIN")"' EXIT
GOEXPERIMENT=simd go build -o "$BIN" ./bench/seq

field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }
best() { tr ' ' '\n' | sort -g | tail -1; }

summary=""
for m in $MODELS; do
	go_wall="" go_cpu="" pt_wall="" pt_cpu=""
	i=0
	while [ "$i" -lt "$ROUNDS" ]; do
		g=$(GOMAXPROCS=$THREADS "$BIN" -model "$m" -steps "$STEPS")
		p=$("$PY" bench/seq/torch_seq.py "$m" "$THREADS" 32 "$STEPS")
		echo "$g"
		echo "$p"
		go_wall="$go_wall $(echo "$g" | field examples_per_s)"
		go_cpu="$go_cpu $(echo "$g" | field examples_per_cpu_s)"
		pt_wall="$pt_wall $(echo "$p" | field examples_per_s)"
		pt_cpu="$pt_cpu $(echo "$p" | field examples_per_cpu_s)"
		i=$((i + 1))
	done
	line=$(awk -v m="$m" -v th="$THREADS" -v gw="$(echo $go_wall | best)" -v pw="$(echo $pt_wall | best)" \
		-v gc="$(echo $go_cpu | best)" -v pc="$(echo $pt_cpu | best)" 'BEGIN {
		printf "model=%s threads=%d best of rounds: gomlx-go %.1f ex/s, pytorch-cpu %.1f ex/s, ratio %.2fx; per CPU-s: %.1f vs %.1f, ratio %.2fx",
			m, th, gw, pw, gw / pw, gc, pc, gc / pc }')
	summary="$summary$line
"
done
printf "%s" "$summary"
