#!/usr/bin/env bash
# One CUDA check of llmr, under 8 minutes on one GPU (scripts/gpu_check.py says what it
# checks): bf16 scoring throughput and its fraction of the GPU's bf16 peak, evaluation of a
# few prompts, a few bf16 reward and retriever training steps, and a 2-process torchrun
# distillation step on the one GPU (gloo; GPU_CHECK_NCCL=1 for nccl, which needs 2 GPUs), and
# throughput at the paper's model shapes (LLaMA-7B scoring, BERT-base training).
#   scripts/gpu_check.sh [out_dir]      # default out_dir: gpu_check/
# Without CUDA it says so and exits 0: nothing is checked.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${1:-gpu_check}
if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo "gpu_check: no CUDA device; skipped (nothing was checked)"
  exit 0
fi
mkdir -p "$OUT"
timeout 200 "$PY" scripts/gpu_check.py --json "$OUT/single.json"
timeout 150 "$PY" scripts/gpu_check.py --paper-shapes --json "$OUT/paper_shapes.json"
timeout 90 "$PY" -m torch.distributed.run --standalone --nproc_per_node 2 \
  scripts/gpu_check.py --distributed --json "$OUT/distributed.json"
echo "gpu_check: all checks passed; results in $OUT/"
