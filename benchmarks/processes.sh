#!/usr/bin/env bash
# Training on a CPU's cores: one process with a thread per core against `torchrun` with one single-thread process
# per core (DistributedDataParallel over gloo), the same images per step. Real `pixelrnn train` runs, cut short by
# --max-steps, alternated twice; prints each run's epoch line (training images/s over the run's steps, the first
# step included, all processes counted). Usage: benchmarks/processes.sh [CORES] [BATCH] (the global batch; each
# process gets BATCH / CORES). env: PYTHON, DATA (default ../shared/data/binarized_mnist.npz), PRESETS, STEPS.
# Run it on a quiet machine: nothing else may use the cores.
set -euo pipefail
cores=${1:-2}; batch=${2:-64}
PYTHON=${PYTHON:-python}; STEPS=${STEPS:-40}
PRESETS=${PRESETS:-"diagonal-bilstm-mnist row-lstm-mnist pixelcnn-mnist"}
here=$(cd "$(dirname "$0")/.." && pwd)
DATA=${DATA:-$here/../shared/data/binarized_mnist.npz}
if (( batch % cores )); then echo "processes.sh: the batch ($batch) must divide by the cores ($cores)" >&2; exit 2; fi
runs=$(mktemp -d); trap 'rm -rf "$runs"' EXIT
common=(--data binarized_mnist --data-path "$DATA" --no-download --max-steps "$STEPS" --num-samples 1
        --max-test-images 64 --overwrite --device cpu)
lscpu | grep -m1 "Model name"; date -u +%Y-%m-%d
for model in $PRESETS; do
    for round in 1 2; do
        echo "$model, one process, $cores threads, batch $batch, round $round: $(
            OMP_NUM_THREADS=$cores MKL_NUM_THREADS=$cores $PYTHON -m pixelrnn train "${common[@]}" --model "$model" \
                --batch-size "$batch" --run-dir "$runs/one" 2>&1 | grep -m1 "cut short")"
        echo "$model, $cores processes, 1 thread each, batch $((batch / cores)) each, round $round: $(
            OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $PYTHON -m torch.distributed.run --nproc_per_node "$cores" \
                -m pixelrnn train "${common[@]}" --model "$model" --batch-size $((batch / cores)) \
                --run-dir "$runs/many" 2>&1 | grep -m1 "cut short")"
    done
done
