#!/usr/bin/env bash
# DICOM ingest benchmark: biopipe io/dicom vs pydicom (Debian python3-pydicom) on the same
# corpus of N CT slices (SIZE x SIZE, signed 16-bit, rescale intercept -1024):
# parse + decode + rescale (+ the mean of each image, as a checksum both sides print).
# Runs alternate between the two readers ROUNDS times and the best time of each is kept,
# so that load from other processes on the machine affects both alike.
# Usage (from the repository root): bench/dicom/run.sh [N_FILES=1000] [SIZE=512] [ROUNDS=3]
set -euo pipefail
N=${1:-1000}
SIZE=${2:-512}
ROUNDS=${3:-3}
DIR=${BENCH_DIR:-/tmp/biopipe-dicom-bench-$N-$SIZE}
CPUS=$(nproc)
export GOEXPERIMENT=simd
go build -o /tmp/biopipe-dicom-bench ./bench/dicom
if [ ! -d "$DIR" ] || [ "$(ls "$DIR" | wc -l)" -ne "$N" ]; then
  rm -rf "$DIR"
  /tmp/biopipe-dicom-bench -gen "$N" -size "$SIZE" -dir "$DIR" -repeat 1 > /dev/null
fi
cat "$DIR"/*.dcm > /dev/null   # warm the page cache for both readers
echo "machine: $CPUS CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(go version | cut -d' ' -f3), corpus $DIR ($N files, ${SIZE}x${SIZE})"
rate() { sed -E 's/.* ([0-9.]+) files\/s.*/\1/' <<<"$1" | head -1; }
best() { awk -v a="$1" -v b="$2" 'BEGIN{print (a>b)?a:b}'; }
g1=0; gN=0; p1=0; pN=0; gc=1e9; pc=1e9
cpu() { sed -nE 's/.*cpu ([0-9.]+) ms\/file.*/\1/p' <<<"$1"; }
low() { awk -v a="$1" -v b="$2" 'BEGIN{print (a<b)?a:b}'; }
for r in $(seq "$ROUNDS"); do
  l=$(/tmp/biopipe-dicom-bench -dir "$DIR" -workers 1 -repeat 2); echo "$l"; g1=$(best "$g1" "$(rate "$l")"); gc=$(low "$gc" "$(cpu "$l")")
  l=$(/usr/bin/python3 bench/dicom/pydicom_ingest.py "$DIR" 1 2); echo "$l"; p1=$(best "$p1" "$(rate "$l")"); pc=$(low "$pc" "$(cpu "$l")")
  if [ "$CPUS" -gt 1 ]; then
    l=$(/tmp/biopipe-dicom-bench -dir "$DIR" -workers "$CPUS" -repeat 2); echo "$l"; gN=$(best "$gN" "$(rate "$l")")
    l=$(/usr/bin/python3 bench/dicom/pydicom_ingest.py "$DIR" "$CPUS" 2); echo "$l"; pN=$(best "$pN" "$(rate "$l")")
  fi
done
/tmp/biopipe-dicom-bench -dir "$DIR" -workers "$CPUS" -repeat 1 -stage 2>/dev/null | tail -1
echo "best files/s: biopipe 1 worker $g1, pydicom 1 process $p1"
awk -v a="$g1" -v b="$p1" 'BEGIN{printf "RATIO biopipe/pydicom, 1 worker vs 1 process: %.1fx\n", a/b}'
echo "best CPU time per file: biopipe $gc ms, pydicom $pc ms"
awk -v a="$gc" -v b="$pc" 'BEGIN{printf "RATIO biopipe/pydicom, CPU time per file (robust to machine load): %.1fx\n", b/a}'
if [ "$CPUS" -gt 1 ]; then
  echo "best files/s: biopipe $CPUS workers $gN, pydicom $CPUS processes $pN"
  awk -v a="$gN" -v b="$pN" -v c="$CPUS" 'BEGIN{printf "RATIO biopipe/pydicom, %d workers vs %d processes: %.1fx\n", c, c, a/b}'
  awk -v a="$gN" -v b="$p1" -v c="$CPUS" 'BEGIN{printf "RATIO biopipe %d workers vs a pydicom loop: %.1fx\n", c, a/b}'
fi
