#!/usr/bin/env bash
# The GPU rows in one call on a machine with a CUDA GPU: `pixelrnn bench` of the paper presets at batch 64 (issue
# 13's targets on one H100/H200: Row LSTM ≥ 1,000 training images/s, Diagonal BiLSTM ≥ 400, PixelCNN++ ≥ 500) in
# bfloat16, float32 and bfloat16 with --compile, then, given a CIFAR-10 .npz, a short bfloat16 training of each of
# the papers' CIFAR-10 recipes (--max-steps, tested on the first test images): the images/s and the bits/dim that
# the time allows (docs/reproduction.md).
#
# Usage: benchmarks/gpu_rows.sh OUT [CIFAR10_NPZ] [STEPS]
#   OUT: folder for what comes back (at most 8 files: machine.txt, bench.md, bench.jsonl, train.txt and one
#   metrics file per recipe); the run folders go to $RUNS (default /tmp/gpu-rows-runs).
#   CIFAR10_NPZ: the data set's .npz (x_train, y_train, x_test, y_test), or, where the data must be copied to the GPU
#   machine with the repository and 170 MB is too much, a subset of it (then the bits/dim are of that subset):
#     python -c "import numpy as n; d=n.load('../shared/data/cifar10.npz'); n.savez('gpu-data/cifar10-10k.npz',
#       x_train=d['x_train'][:10000], y_train=d['y_train'][:10000], x_test=d['x_test'][:1000], y_test=d['y_test'][:1000])"
# env: PYTHON (default python3), DEVICE (cuda), BATCH (64), PRESETS, RECIPES, TRAIN_EXTRA (more train arguments),
# BENCH_EXTRA (more bench arguments), REPEATS (5).
# Every step runs even if an earlier one fails; each failure is written to the output and to the exit status.
set -uo pipefail
out=${1:?usage: benchmarks/gpu_rows.sh OUT [CIFAR10_NPZ] [STEPS]}
data=${2:-}; steps=${3:-300}
here=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}; DEVICE=${DEVICE:-cuda}; BATCH=${BATCH:-64}; REPEATS=${REPEATS:-5}
PRESETS=${PRESETS:-"row-lstm-cifar10 diagonal-bilstm-cifar10 pixelcnn-pp-cifar10"}
RECIPES=${RECIPES:-"pixelrnn/table5/pixelcnn pixelrnn/table5/row-lstm pixelrnn/table5/diagonal-bilstm pixelcnn-pp/cifar10"}
RUNS=${RUNS:-/tmp/gpu-rows-runs}
read -r -a train_extra <<< "${TRAIN_EXTRA:-}"; read -r -a bench_extra <<< "${BENCH_EXTRA:-}"
export PYTHONPATH=$here/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
mkdir -p "$out" "$RUNS"
failures=0
{
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
    "$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
} > "$out/machine.txt" 2>&1

models=(); for preset in $PRESETS; do models+=(--model "$preset"); done
for variant in "--precision bf16" "--precision fp32" "--precision bf16 --compile"; do
    read -r -a flags <<< "$variant"
    echo "## bench ${variant}" >> "$out/bench.md"
    "$PYTHON" -m pixelrnn bench "${models[@]}" --device "$DEVICE" --batch-size "$BATCH" --repeats "$REPEATS" \
        --warmup 2 --mfu "${flags[@]}" "${bench_extra[@]}" --json "$out/bench.jsonl" >> "$out/bench.md" 2>&1 \
        || { echo "FAILED: bench ${variant}" >> "$out/bench.md"; failures=$((failures + 1)); }
done

if [ -n "$data" ]; then
    for recipe in $RECIPES; do
        name=${recipe//\//-}
        echo "## $recipe: $steps steps" >> "$out/train.txt"
        "$PYTHON" -m pixelrnn train --recipe "$recipe" --data-path "$data" --device "$DEVICE" --precision bf16 \
            --max-steps "$steps" --sample-every 0 --run-dir "$RUNS/$name" "${train_extra[@]}" \
            > "$RUNS/$name.log" 2>&1 || { echo "FAILED: train $recipe" >> "$out/train.txt"; failures=$((failures + 1)); }
        tail -n 4 "$RUNS/$name.log" >> "$out/train.txt"
        [ -f "$RUNS/$name/metrics.jsonl" ] && cp "$RUNS/$name/metrics.jsonl" "$out/$name.jsonl"
    done
fi
echo "failures: $failures" >> "$out/machine.txt"
exit "$((failures > 0))"
