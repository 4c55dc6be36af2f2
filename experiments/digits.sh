#!/usr/bin/env bash
# The studies of docs/experiments.md on the 8×8 digits (1,350 train / 150 valid / 297 test images, 17 levels),
# made with pixelrnn's own commands: sweep → fid / classify → compare. Every run: one training recipe, 3 seeds.
# Usage: experiments/digits.sh [STUDY...]   STUDY: layers-cell, layers-kernel, families, conditioning (default all)
# Runs go to $RUNS (default runs/studies), the reports to $OUT (default docs/experiments). Re-running it skips
# finished runs (pixelrnn sweep resumes) but measures FID and accuracy again.
set -euo pipefail
PIXELRNN=${PIXELRNN:-pixelrnn}
PYTHON=${PYTHON:-python}
RUNS=${RUNS:-runs/studies}
OUT=${OUT:-docs/experiments}
RECIPE=(--data digits --epochs 30 --batch-size 32 --optimizer adam --lr 0.003 --schedule exponential
        --lr-decay 0.9995 --grad-clip 0 --ema-decay 0 --sample-every 10 --grid train.seed=0,1,2)
CLASSIFIER="$RUNS/fid-classifier-digits.pt"  # one feature network for every FID, trained on first use

measure() {  # FID of 1,000 samples against the 297 test images; accuracy for class-conditional runs
    for run in "$1"/*/; do
        $PIXELRNN fid "$run" -n 1000 --features classifier --feature-weights "$CLASSIFIER" --seed 0
        if grep -q '"num_classes": [1-9]' "$run/config.json"; then $PIXELRNN classify "$run"; fi
    done
}

fid_floor() {  # what a perfect sampler would score: 1,000 training images in place of the samples
    $PYTHON - "$CLASSIFIER" <<'PY'
import sys, torch
from pixelrnn.config import DataConfig
from pixelrnn.data import load_dataset
from pixelrnn.experiments.feature_classifier import load_classifier, to_unit_range
from pixelrnn.experiments.fid import frechet_distance
digits = load_dataset(DataConfig(name="digits"))
network = load_classifier(sys.argv[1], torch.device("cpu"))[0]
value = frechet_distance(to_unit_range(digits.test.images, 17), to_unit_range(digits.train.images[:1000], 17), network)
print(f"FID of 1,000 training images against the 297 test images: {value:.2f}")
PY
}

sweep() {  # sweep FOLDER FLAGS...: a seeded sweep, then its measurements
    local folder="$RUNS/$1"; shift
    $PIXELRNN sweep "${RECIPE[@]}" --sweep-dir "$folder" "$@"
    measure "$folder"
}

layers_cell() {  # (a) number of layers × recurrent unit, Row LSTM
    sweep layers-cell --model row-lstm-small --grid model.layers=1,2,4 --grid model.cell=lstm,gru
    $PIXELRNN compare "$RUNS/layers-cell" --mean-over train.seed --out "$OUT/layers-cell"
}

layers_kernel() {  # (a) number of layers × kernel size of the mask-B convolutions, PixelCNN
    sweep layers-kernel --model pixelcnn-small --grid model.layers=2,4,8 --grid model.kernel_size=3,5,7
    $PIXELRNN compare "$RUNS/layers-kernel" --mean-over train.seed --out "$OUT/layers-kernel"
}

families() {  # (b) every family at about 20K parameters
    sweep families/pixelcnn --model pixelcnn-small --layers 6
    sweep families/row-lstm --model row-lstm-small
    sweep families/diagonal-bilstm --model diagonal-bilstm-small
    sweep families/gated-pixelcnn --model gated-pixelcnn-small
    sweep families/multiscale --model multiscale-pixelrnn-small --hidden-channels 10
    sweep families/pixelcnn-pp --model pixelcnn-pp-small --hidden-channels 6
    $PIXELRNN compare "$RUNS"/families/* --mean-over train.seed --out "$OUT/families"
    fid_floor
}

conditioning() {  # (c) the three ways a class label enters the model, against the unconditional runs of (b)
    for model in gated-pixelcnn row-lstm; do
        sweep "conditioning/$model" --model "$model-small" --conditional \
            --grid model.conditioning=embedding,onehot,film
    done
    $PIXELRNN compare "$RUNS"/conditioning/* "$RUNS"/families/gated-pixelcnn "$RUNS"/families/row-lstm \
        --mean-over train.seed --out "$OUT/conditioning"
}

studies=("$@")
[ ${#studies[@]} -gt 0 ] || studies=(families conditioning layers-cell layers-kernel)
for study in "${studies[@]}"; do "${study//-/_}"; done
