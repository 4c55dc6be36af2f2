#!/usr/bin/env bash
# Eager float32 vs channels-last weights vs torch.compile, in one run (batch 16, random images), one process per
# case (peak memory per case). Usage: benchmarks/formats.sh [--device cuda] [extra bench flags]
set -euo pipefail
PIXELRNN=${PIXELRNN:-pixelrnn}
OUT=${OUT:-benchmarks/results.jsonl}
MODELS=${MODELS:-"pixelcnn-small row-lstm-small diagonal-bilstm-small gated-pixelcnn-small pixelcnn-pp-small pixelcnn-cifar10 pixelcnn-pp-cifar10"}
echo "| model | variant | train images/s | eval images/s | peak memory (MiB) |"
echo "|---|---|---|---|---|"
for model in $MODELS; do
    for variant in eager --channels-last --compile; do
        flags=$([ "$variant" = eager ] && echo "" || echo "$variant")
        # shellcheck disable=SC2086
        $PIXELRNN bench --json "$OUT" --image-shape 3x32x32 --levels 256 --batch-size 16 --repeats 3 --warmup 2 \
            --model "$model" $flags "$@" | tail -n 1 |
            awk -F'|' -v v="$variant" '{printf "|%s| %s |%s|%s|%s|\n", $2, v, $6, $7, $9}'
    done
done
