#!/usr/bin/env bash
# Lossless compression with a trained model: coded size next to the model's exact NLL, PNG and WebP on the same
# images, and encode / decode images per second (the coder runs on one CPU thread). Default: the shipped Table 4
# PixelCNN on the first 1,000 binarized-MNIST test images. Usage:
#   benchmarks/compress.sh [MODEL] [DATA_NPZ] [IMAGES] [BATCH]    (env: PIXELRNN, PYTHON; run on a quiet machine)
set -euo pipefail
PIXELRNN=${PIXELRNN:-pixelrnn}
model=${1:-pixelcnn-binarized-mnist}; data=${2:-../shared/data/binarized_mnist.npz}
images=${3:-1000}; batch=${4:-100}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
lscpu | grep -m1 "Model name"; date -u +%Y-%m-%d
$PIXELRNN compress "$model" --split test --max-images "$images" --batch-size "$batch" --data-path "$data" \
    --out "$work/test.prnn"
$PIXELRNN decompress "$model" "$work/test.prnn" --out "$work/decoded.npz"
${PYTHON:-python} - "$work/decoded.npz" "$data" "$images" <<'PY'
import sys
import numpy as np
decoded = np.load(sys.argv[1])["images"]
original = np.load(sys.argv[2])["x_test"][: int(sys.argv[3])]
print(f"decoded images identical to the originals: {np.array_equal(decoded.reshape(original.shape), original)}")
PY
