"""``pixelrnn eval``: the exact NLL of a checkpoint on a split."""

from __future__ import annotations

import argparse
import sys

from pixelrnn.cli.common import add_eval_flags, evaluation_data_config
from pixelrnn.runtime import is_main_process

HELP = "exact test NLL (nats/image) and bits/dim of a checkpoint"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_eval_flags(parser)


def run(args: argparse.Namespace) -> int:
    from pixelrnn.evaluate import evaluate

    data = evaluation_data_config(args, args.checkpoint)
    evaluation = evaluate(args.checkpoint, split=args.split, data=data, batch_size=args.batch_size,
                          device=args.device)
    result = evaluation.result
    if not is_main_process():
        return 0
    print(f"{evaluation.data_name} {evaluation.split}: {result.nats_per_image:.4f} nats/image, "
          f"{result.bits_per_dim:.4f} bits/dim over {result.num_images} images "
          f"(uniform model: {evaluation.uniform_bits_per_dim:.3f} bits/dim)")
    if evaluation.partial_note:
        print(evaluation.partial_note, file=sys.stderr)
    return 0
