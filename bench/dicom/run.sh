#!/usr/bin/env bash
# DICOM ingest benchmark: biopipe io/dicom vs pydicom (Debian python3-pydicom) on the same
# 1,000-file corpus (512x512 signed 16-bit CT slices with rescale), parse + decode + rescale.
# Usage: bench/dicom/run.sh [N_FILES] [SIZE]     (from the repository root)
set -euo pipefail
N=${1:-1000}
SIZE=${2:-512}
DIR=${BENCH_DIR:-/tmp/biopipe-dicom-bench-$N-$SIZE}
CPUS=$(nproc)
export GOEXPERIMENT=simd
go build -o /tmp/biopipe-dicom-bench ./bench/dicom
if [ ! -d "$DIR" ] || [ "$(ls "$DIR" | wc -l)" -ne "$N" ]; then
  rm -rf "$DIR"
  /tmp/biopipe-dicom-bench -gen "$N" -size "$SIZE" -dir "$DIR" -repeat 1 > /dev/null
fi
cat "$DIR"/*.dcm > /dev/null   # warm the page cache for both readers
echo "machine: $CPUS CPUs, $(go version | cut -d' ' -f3), corpus $DIR ($N files, ${SIZE}x${SIZE})"
go1=$(/tmp/biopipe-dicom-bench -dir "$DIR" -workers 1)
goN=$(/tmp/biopipe-dicom-bench -dir "$DIR" -workers "$CPUS" -stage)
py1=$(/usr/bin/python3 bench/dicom/pydicom_ingest.py "$DIR" 1)
pyN=$(/usr/bin/python3 bench/dicom/pydicom_ingest.py "$DIR" "$CPUS")
echo "$go1"; echo "$goN"; echo "$py1"; echo "$pyN"
rate() { sed -E 's/.* ([0-9.]+) files\/s.*/\1/' <<<"$1" | head -1; }
r1=$(rate "$go1"); rN=$(rate "$goN"); p1=$(rate "$py1"); pN=$(rate "$pyN")
awk -v a="$r1" -v b="$p1" 'BEGIN{printf "ratio, 1 worker vs 1 process:        %.1fx\n", a/b}'
awk -v a="$rN" -v b="$pN" -v c="$CPUS" 'BEGIN{printf "ratio, %d workers vs %d processes:    %.1fx\n", c, c, a/b}'
awk -v a="$rN" -v b="$p1" -v c="$CPUS" 'BEGIN{printf "ratio, %d workers vs pydicom loop:    %.1fx\n", c, a/b}'
