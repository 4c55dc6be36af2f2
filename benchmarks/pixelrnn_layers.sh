#!/usr/bin/env bash
# Speed of the PixelRNN layers next to the PixelCNN: train steps and evaluation, images/second, at the paper's
# presets (CIFAR-10, binarized MNIST) and the small CPU presets. Random images; results go to docs/benchmarks.md
# with the machine line that `pixelrnn bench` prints. Usage: benchmarks/pixelrnn_layers.sh [--device cuda]
set -euo pipefail
PIXELRNN=${PIXELRNN:-pixelrnn}
OUT=${OUT:-benchmarks/results.jsonl}
$PIXELRNN bench --json "$OUT" --image-shape 3x32x32 --levels 256 --batch-size 16 --repeats 2 "$@" \
    --model row-lstm-cifar10 --model diagonal-bilstm-cifar10 --model pixelcnn-cifar10
$PIXELRNN bench --json "$OUT" --image-shape 1x28x28 --levels 2 --batch-size 16 "$@" \
    --model row-lstm-mnist --model diagonal-bilstm-mnist --model pixelcnn-mnist
$PIXELRNN bench --json "$OUT" --image-shape 1x8x8 --levels 17 --batch-size 32 "$@" \
    --model row-lstm-small --model diagonal-bilstm-small --model multiscale-pixelrnn-small --model pixelcnn-small
