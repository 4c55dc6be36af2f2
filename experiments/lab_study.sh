#!/usr/bin/env bash
# The MNIST lab's study on real binarized MNIST (the fixed Larochelle split: 50,000 / 10,000 / 10,000 images),
# made with pixelrnn's own commands: sweep → compare. Every point is trained by one budget and scored by its
# exact test NLL over all 10,000 test images (nats/image); docs/reproduction.md shows the reports.
#   layers:  the lab's PixelCNN (7×7 mask A into 64 maps, then N plain 7×7 mask-B layers) with N = 1, 3, 5
#   kernel:  its mask-B kernel 3×3 and 5×5 (7×7 is the layers study's N = 5 point)
#   cell:    LSTM against GRU in the Table 4 Row LSTM (7 layers, h = 16)
# Usage: experiments/lab_study.sh [STUDY...]   STUDY: layers, kernel, cell (default all)
# Runs go to $RUNS (default ~/pixelrnn-runs/lab-study), the reports to $OUT (default reproduction/lab-study).
# Re-running it skips finished points and resumes an interrupted one (pixelrnn sweep), then rebuilds the reports.
set -euo pipefail
PIXELRNN=${PIXELRNN:-pixelrnn}
DATA=${DATA:-../shared/data/binarized_mnist.npz}
RUNS=${RUNS:-$HOME/pixelrnn-runs/lab-study}
OUT=${OUT:-reproduction/lab-study}
# the budget of every point: one epoch over the first 20,000 training images (one validation pass, then the test)
read -r -a BUDGET <<< "${BUDGET:---max-train-images 20000 --epochs 1}"
RECIPE=(--data binarized_mnist --data-path "$DATA" --optimizer adam --lr 0.001 --schedule cosine --batch-size 32
        --grad-clip 1 --sample-every 1 --seed 0 --device cpu "${BUDGET[@]}")

layers() {
    $PIXELRNN sweep "${RECIPE[@]}" --model pixelcnn-lab --grid model.layers=1,3,5 --sweep-dir "$RUNS/layers"
    $PIXELRNN compare "$RUNS/layers" --out "$OUT/layers"
}

kernel() {
    $PIXELRNN sweep "${RECIPE[@]}" --model pixelcnn-lab --grid model.kernel_size=3,5 --sweep-dir "$RUNS/kernel"
    $PIXELRNN compare "$RUNS/kernel" "$RUNS"/layers/*layers=5* --out "$OUT/kernel"
}

cell() {
    $PIXELRNN sweep "${RECIPE[@]}" --model row-lstm-mnist --grid model.cell=lstm,gru --sweep-dir "$RUNS/cell"
    $PIXELRNN compare "$RUNS/cell" --out "$OUT/cell"
}

studies=("$@")
[ ${#studies[@]} -gt 0 ] || studies=(layers kernel cell)
for study in "${studies[@]}"; do "$study"; done
