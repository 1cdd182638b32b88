#!/usr/bin/env bash
# The GPU slice of the CPU rerun (scripts/gpu_slice.py) on a borrowed GPU machine.
#
#   bash scripts/gpu_slice.sh prepare   # here: BreastMNIST and the timm wheel into .gpu/ (git-ignored)
#   bash scripts/gpu_slice.sh run       # there, through the device tool, carrying .gpu
#
# "run" needs only what the GPU machine's Python already has (torch, pandas, SciPy, PyYAML,
# nvidia-ml-py) plus the carried timm, pinned as here so the models are the same code. Its
# rows, the derived study file, nvidia-smi's view of the GPU and the log land under $OUT;
# copy studies/*.yml into data/studies/ and results/<study>/ into data/results/. A second
# "run" (the same .gpu, plus the first call's results copied to .gpu/results) goes on where
# the first stopped: set RESULTS_FROM=.gpu/results. DEADLINE_S (480) bounds the call; DEVICE and
# SLICE_ARGS (options of gpu_slice.py) let a machine without a GPU check the route:
#   OUT=/tmp/out DEVICE=cpu SLICE_ARGS="--models 1 --epochs 1 --study gpu-check" bash scripts/gpu_slice.sh run
set -euo pipefail
cd "$(dirname "$0")/.."
TIMM_VERSION=1.0.31
case "${1:-}" in
prepare)
  mkdir -p .gpu/data/medmnist .gpu/whl
  exclude="$(git rev-parse --git-path info/exclude)"
  mkdir -p "$(dirname "$exclude")"
  grep -qxF '/.gpu/' "$exclude" 2>/dev/null || echo '/.gpu/' >> "$exclude"
  # the checksum-verified copy pepr resolves (PEPR_DATA_DIR, cache or download)
  cp "$(.venv/bin/python -c 'from pepr import datasets; info = datasets.get_dataset_info("breastmnist"); print(datasets.resolve_image_file(info.files[28]))')" .gpu/data/medmnist/
  .venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp -d .gpu/whl "timm==${TIMM_VERSION}"
  du -sh .gpu
  ;;
run)
  export PYTHONUNBUFFERED=1 PEPR_DATA_DIR="$PWD/.gpu/data"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .gpu/whl/*.whl
  export PYTHONPATH=/tmp/site
  nvidia-smi --query-gpu=name,memory.total,driver_version,power.limit --format=csv > "$OUT/gpu.csv" || true
  mkdir -p "$OUT/results"
  if [ -n "${RESULTS_FROM:-}" ]; then cp -r "$RESULTS_FROM"/. "$OUT/results/"; fi
  python3 scripts/gpu_slice.py --results-dir "$OUT/results" --studies-dir "$OUT/studies" \
    --deadline-s "${DEADLINE_S:-480}" --device "${DEVICE:-cuda}" ${SLICE_ARGS:-} 2>&1 | tee "$OUT/log.txt"
  find "$OUT" -name '*.lock' -delete  # the results store's lock files; only the tables come back
  ;;
*)
  echo "usage: bash scripts/gpu_slice.sh prepare|run" >&2
  exit 2
  ;;
esac
