#!/usr/bin/env bash
# float32 vs bfloat16 autocast, in one run, for the papers' CIFAR-10 presets (batch 16, random images).
# One model and precision per process (peak memory per case). Usage: benchmarks/precision.sh [--device cuda]
set -euo pipefail
PIXELRNN=${PIXELRNN:-pixelrnn}
OUT=${OUT:-benchmarks/results.jsonl}
echo "| model | precision | train images/s | eval images/s | peak memory (MiB) |"
echo "|---|---|---|---|---|"
for model in pixelcnn-cifar10 row-lstm-cifar10 diagonal-bilstm-cifar10 pixelcnn-pp-cifar10; do
    for precision in fp32 bf16; do
        $PIXELRNN bench --json "$OUT" --image-shape 3x32x32 --levels 256 --batch-size 16 --repeats 2 --warmup 1 \
            --precision "$precision" --model "$model" "$@" | tail -n 1 |
            awk -F'|' -v p="$precision" '{printf "|%s| %s |%s|%s|%s|\n", $2, p, $6, $7, $9}'
    done
done
