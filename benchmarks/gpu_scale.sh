#!/usr/bin/env bash
# The GPU measurements of issue 16, as one prepared script for a lent GPU (one H100 or H200): stage 1 of a ~1B
# DeepSeek-V3-shaped model (tokens/s and model FLOPs utilisation), then a random checkpoint of DeepSeek-V2-Lite's
# shape and size (15.7 B parameters, bf16) for stage 1 (with and without gradient checkpointing) and the evaluation
# (batched against one example at a time). Everything is written under ${OUT:-gpu-scale}/.
#   bash benchmarks/gpu_scale.sh            # ~10 minutes on one H100
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-scale}
mkdir -p "$out"
py=${PYTHON:-.venv/bin/python}
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$out/gpu.txt"
$py benchmarks/bench_train.py --shape deepseek-v3-1b --threads 0 --steps 30 --batch-size 8 --max-length 512 \
    2>&1 | grep -v Warning | tee "$out/train-v3-1b.txt"
$py benchmarks/bench_train.py --shape deepseek-v2-lite --threads 0 --steps 10 --batch-size 4 --max-length 512 \
    --options gradient_checkpointing 2>&1 | grep -v Warning | tee "$out/train-v2-lite.txt"
$py benchmarks/bench_eval.py --shape deepseek-v2-lite --threads 0 --steps 5 --per-task 10 \
    2>&1 | grep -v Warning | tee "$out/eval-v2-lite.txt"
