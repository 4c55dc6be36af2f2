#!/usr/bin/env bash
# Speed and peak memory of every model family at the papers' presets and the small presets: train steps and
# evaluation, images/second, random images. One model per process, so that the CPU peak-memory column
# (ru_maxrss) belongs to that model alone. Results go to docs/benchmarks.md with the machine line that
# `pixelrnn bench` prints. Usage: benchmarks/models.sh [--device cuda]   (env: PIXELRNN, OUT, QUICK=1)
set -euo pipefail
PIXELRNN=${PIXELRNN:-pixelrnn}
OUT=${OUT:-benchmarks/results.jsonl}

bench() {  # bench SHAPE LEVELS BATCH REPEATS WARMUP MODEL [extra flags...]
    local shape=$1 levels=$2 batch=$3 repeats=$4 warmup=$5 model=$6
    shift 6
    $PIXELRNN bench --json "$OUT" --image-shape "$shape" --levels "$levels" --batch-size "$batch" \
        --repeats "$repeats" --warmup "$warmup" --model "$model" "$@" | tail -n 1
}

echo "| model | image | batch | parameters | train images/s | eval images/s | peak memory (MiB) |"
echo "|---|---|---|---|---|---|---|"
# CIFAR-sized images, batch 16: the papers' presets (one timed repetition for the two largest on a CPU) ...
for model in pixelcnn-cifar10 row-lstm-cifar10 diagonal-bilstm-cifar10; do
    bench 3x32x32 256 16 2 1 "$model" "$@"
done
for model in gated-pixelcnn-imagenet pixelcnn-pp-cifar10; do
    bench 3x32x32 256 16 1 0 "$model" "$@"
done
# ... and the small presets at the same size
for model in pixelcnn-small row-lstm-small diagonal-bilstm-small multiscale-pixelrnn-small gated-pixelcnn-small \
             pixelcnn-pp-small; do
    bench 3x32x32 256 16 3 1 "$model" "$@"
done
# binarized-MNIST presets
for model in pixelcnn-mnist row-lstm-mnist diagonal-bilstm-mnist; do
    bench 1x28x28 2 16 3 1 "$model" "$@"
done
