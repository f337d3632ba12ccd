#!/bin/sh
# run.sh: biopipe on GoMLX's XLA backend with JAX's CUDA PJRT plugin (xla:cuda) against the same
# networks in PyTorch CUDA, on the same card, in one run. Runs from the unpacked bundle that
# bench/gpu/build.sh makes (prebuilt binaries: no Go needed here).
#
# Needs: an NVIDIA GPU and driver; a Python whose PyTorch has CUDA; JAX's CUDA PJRT plugin in
# that Python's site-packages (pip install "jax[cuda13]" or "jax[cuda12]", or just
# jax-cuda13-pjrt / jax-cuda12-pjrt with the nvidia-* libraries): it ships
# site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so. Nothing is downloaded.
#
# Usage: ./run.sh [--dry-run] [ROUNDS]
#   PYTHON        the Python with PyTorch CUDA and the plugin (default: python3 on PATH)
#   PJRT_PLUGIN_LIBRARY_PATH  when set, used as is (a folder holding xla_cuda_plugin.so or
#                 pjrt_c_api_cuda_plugin.so); otherwise found under site-packages/jax_plugins/*/
#   SITE_PACKAGES ":"-separated folders to search instead of the Python's site-packages
#   MODELS, PREDICT  comma-separated benchmarks (default mlp,cnn,lstm,cnn1d for both)
#   BENCH_STEPS   timed training steps per model (default: each model's, see bench/README.md)
#   --dry-run     find the plugin, print the environment and the command, run nothing
# Prints the same lines as `make bench` (model, biopipe/s, pytorch/s, ratio) and writes
# results-gpu.json next to this script.
set -eu
cd "$(dirname "$0")"
DRY=0
if [ "${1:-}" = "--dry-run" ]; then
	DRY=1
	shift
fi
ROUNDS=${1:-3}
PY=${PYTHON:-python3}
die() {
	echo "run.sh: $*" >&2
	exit 1
}

# The plugin: PJRT_PLUGIN_LIBRARY_PATH as given, or site-packages/jax_plugins/xla_cuda*/.
if [ -z "${PJRT_PLUGIN_LIBRARY_PATH:-}" ]; then
	if [ -z "${SITE_PACKAGES:-}" ]; then
		command -v "$PY" >/dev/null 2>&1 || die "no $PY on PATH: set PYTHON to the Python with PyTorch CUDA and JAX's CUDA plugin"
		SITE_PACKAGES=$("$PY" -c 'import site, sys; print(":".join(site.getsitepackages() + [site.getusersitepackages()] + sys.path))')
	fi
	plugin=""
	IFS=:
	for sp in $SITE_PACKAGES; do
		[ -n "$sp" ] || continue
		# Newest CUDA first: xla_cuda13 sorts after xla_cuda12.
		plugin=$(ls -d "$sp"/jax_plugins/xla_cuda*/xla_cuda_plugin.so 2>/dev/null | sort -r | head -n 1)
		[ -z "$plugin" ] || break
	done
	unset IFS
	[ -n "$plugin" ] || die "no JAX CUDA PJRT plugin (jax_plugins/xla_cuda*/xla_cuda_plugin.so) under $SITE_PACKAGES: pip install \"jax[cuda13]\" (or jax-cuda13-pjrt / jax-cuda12-pjrt) into $PY's environment, or set PJRT_PLUGIN_LIBRARY_PATH to the folder holding the plugin"
	PJRT_PLUGIN_LIBRARY_PATH=$(dirname "$plugin")
	# XLA compiles kernels with ptxas and libdevice: point it at the CUDA toolkit the nvidia-*
	# wheels install beside the plugin (site-packages/nvidia/cu13 or nvidia/cuda_nvcc).
	sp=$(dirname "$(dirname "$PJRT_PLUGIN_LIBRARY_PATH")")
	for d in "$sp/nvidia/cu13" "$sp/nvidia/cuda_nvcc"; do
		if [ -z "${XLA_FLAGS:-}" ] && [ -d "$d" ]; then
			XLA_FLAGS="--xla_gpu_cuda_data_dir=$d"
			export XLA_FLAGS
		fi
	done
fi
export PJRT_PLUGIN_LIBRARY_PATH

set -- ./all -train-bin ./train -torch-script ./torch_train.py -python "$PY" \
	-backend xla:cuda -device cuda -csv=false -rounds "$ROUNDS" \
	-models "${MODELS:-mlp,cnn,lstm,cnn1d}" -predict "${PREDICT:-mlp,cnn,lstm,cnn1d}" \
	-out results-gpu.json
echo "PJRT_PLUGIN_LIBRARY_PATH=$PJRT_PLUGIN_LIBRARY_PATH"
echo "XLA_FLAGS=${XLA_FLAGS:-}"
echo "command: $*"
[ "$DRY" = 0 ] || exit 0

[ -x ./all ] && [ -x ./train ] || die "./all and ./train missing: run this from the bundle bench/gpu/build.sh makes"
"$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' ||
	die "$PY: PyTorch without CUDA (torch.cuda.is_available() is false)"
if command -v nvidia-smi >/dev/null 2>&1; then
	nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
fi
cat BUILD 2>/dev/null || true
exec "$@"
