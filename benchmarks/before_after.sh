#!/usr/bin/env bash
# Training speed of the MNIST-size presets before and after a change, measured in one run on one machine:
# `pixelrnn bench` of an older checkout (its src/ folder) and of this one, alternating model by model so that
# both see the same machine state; this checkout also prints the MFU columns (FLOPs counted by FlopCounterMode,
# torch.mm limit measured in the same run). Usage: benchmarks/before_after.sh OLD_SRC [THREADS] [BATCH]
# (env: PYTHON, REPEATS, PRESETS, SHAPE, LEVELS, EXTRA: more bench arguments for both sides, e.g. "--precision bf16";
# default: the MNIST-size presets on 1x28x28 binary images, float32).
# Run it on a quiet machine: nothing else may use the cores. Each side keeps its own build of the native loops
# (TORCH_EXTENSIONS_DIR/before, /after), so that alternating does not rebuild them.
set -euo pipefail
old_src=$1; threads=${2:-2}; batch=${3:-64}
PYTHON=${PYTHON:-python}; REPEATS=${REPEATS:-3}; read -r -a both <<< "${EXTRA:-}"
PRESETS=${PRESETS:-"pixelcnn-mnist row-lstm-mnist diagonal-bilstm-mnist"}; SHAPE=${SHAPE:-1x28x28}; LEVELS=${LEVELS:-2}
here=$(cd "$(dirname "$0")/.." && pwd)
export OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
extensions=${TORCH_EXTENSIONS_DIR:-$HOME/.cache/torch_extensions}
lscpu | grep -m1 "Model name"; date -u +%Y-%m-%d
for model in $PRESETS; do
    for side in before after; do
        if [ "$side" = before ]; then src=$old_src; extra=(); else src=$here/src; extra=(--mfu); fi
        echo "$side: $(TORCH_EXTENSIONS_DIR=$extensions/$side PYTHONPATH=$src $PYTHON -m pixelrnn bench --model "$model" --image-shape "$SHAPE" --levels "$LEVELS" \
            --batch-size "$batch" --repeats "$REPEATS" --warmup 1 --device cpu "${both[@]}" "${extra[@]}" | tail -n 1)"
    done
done
