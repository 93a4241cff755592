#!/usr/bin/env bash
# The prepared GPU run of issue 24 (item 6): on a machine with one NVIDIA GPU and a stock PyTorch image (torch and
# einops; no Ray, decord, MLflow or Optuna), per paper model at the papers' clip size, training samples/s and peak
# GPU memory for eager fp32, bf16, bf16 + channels-last and + torch.compile, and the largest batch that fits (eager
# fp32 and bf16 + channels-last). Each part has its own time limit, so the whole stays under ~9 minutes and a slow
# part leaves the others' tables (train_throughput.py prints a model's row as soon as it is measured).
#
#   OUT=DIR bash benchmarks/gpu_check.sh    # tables to stdout and DIR/*.md (default DIR: a new temporary folder)
#   PYTHON=.venv/bin/python bash benchmarks/gpu_check.sh --size tiny --num-frames 8 --crop-size 32 \
#     --max-batch-limit 8 --steps 1 --warmup 1                                   # a CPU dry run
#
# Arguments are appended to every train_throughput.py call (a later flag wins). Not run by the tests or CI.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PYTHON=${PYTHON:-python}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT" || exit 1
MODELS=${MODELS:-mfst_large,derecouple,rpe_stdt,ctn,epam_net}
# MFST, De+Recouple and EPAM-Net train on 32 frames, short side 256, crop 224; models whose config fixes their clip
# (RPE-STDT, CTN, EPAM-Net's X3D stream) use their own.
PAPER=(--size paper --num-frames 32 --crop-size 224 --batch-size 8 --warmup 3 --steps 10)

(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || echo "no nvidia-smi") | tee "$OUT/gpu.txt"
"$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$OUT/gpu.txt"

echo "## eager paths, peak memory, largest batch (limit 300 s)"
timeout 300 "$PYTHON" benchmarks/train_throughput.py --models "$MODELS" --paths fp32,bf16,bf16+cl \
  --max-batch fp32,bf16+cl --max-batch-limit 256 "${PAPER[@]}" "$@" | tee "$OUT/eager.md"
echo "exit ${PIPESTATUS[0]}"

echo "## torch.compile (limit 240 s; the warm-up steps compile)"
timeout 240 "$PYTHON" benchmarks/train_throughput.py --models "$MODELS" --paths fp32,bf16+cl+c \
  "${PAPER[@]}" "$@" | tee "$OUT/compile.md"
echo "exit ${PIPESTATUS[0]}"
echo "tables in $OUT"
