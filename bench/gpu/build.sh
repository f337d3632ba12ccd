#!/bin/sh
# bench/gpu/build.sh: build the GPU benchmark bundle here (needs Go and gcc; no GPU): bench/train
# (biopipe's side, built with -tags xla so it takes -backend xla:cuda) and bench/all (the driver),
# with bench/train/torch_train.py (the PyTorch side), run.sh and README.md, packed into one
# compressed tarball for a GPU machine that has no Go. Fails if the tarball is 64 MiB or more.
#
# Usage: bench/gpu/build.sh [OUT]      (default bench/out/biopipe-gpu-bench.tar.gz)
# Then, on the GPU machine: tar xzf biopipe-gpu-bench.tar.gz && biopipe-gpu-bench/run.sh
set -eu
cd "$(dirname "$0")/../.."
OUT=${1:-bench/out/biopipe-gpu-bench.tar.gz}
LIMIT=$((64 * 1024 * 1024))
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
D=$STAGE/biopipe-gpu-bench
mkdir -p "$D" "$(dirname "$OUT")"
# -s -w: smaller binaries. CGO is needed by go-xla's PJRT
# binding; the binaries then need the target's glibc to be at least the build machine's.
export GOEXPERIMENT=simd CGO_ENABLED=1
go build -tags xla -ldflags='-s -w' -o "$D/train" ./bench/train
go build -ldflags='-s -w' -o "$D/all" ./bench/all
cp bench/train/torch_train.py bench/gpu/run.sh bench/gpu/README.md "$D/"
chmod +x "$D/run.sh" "$D/torch_train.py"
{
	echo "commit $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)')"
	echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) with $(go version)"
	echo "glibc $(ldd --version 2>/dev/null | head -1 | awk '{print $NF}')"
} >"$D/BUILD"
tar -C "$STAGE" -czf "$OUT" biopipe-gpu-bench
size=$(wc -c <"$OUT")
echo "$OUT: $((size / 1024)) KiB (limit 65536 KiB); contents:"
tar -tvzf "$OUT"
if [ "$size" -ge "$LIMIT" ]; then
	echo "bench/gpu/build.sh: $OUT is $size bytes, over the 64 MiB limit" >&2
	exit 1
fi
