"""``pixelrnn classify``: likelihood classification with a class-conditional checkpoint."""

from __future__ import annotations

import argparse

from pixelrnn.cli.common import add_eval_flags, evaluation_data_config, record_result

HELP = "likelihood classification: argmax_y log p(x|y) + log p(y)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_eval_flags(parser,
                   checkpoint_help="a class-conditional checkpoint, its run folder, an export or a pretrained name")


def run(args: argparse.Namespace) -> int:
    from pixelrnn.classify import classify

    data = evaluation_data_config(args, args.checkpoint)
    result = classify(args.checkpoint, split=args.split, data=data, batch_size=args.batch_size, device=args.device)
    total = int(result.confusion.sum())
    record_result(args.checkpoint, "classify", {"accuracy": result.accuracy, "num_images": total,
                                          "marginal_bits_per_dim": result.marginal_bits_per_dim,
                                          "data_name": result.data_name, "split": result.split})
    print(f"{result.data_name} {result.split}: accuracy {result.accuracy:.4f} "
          f"({int(result.confusion.diagonal().sum())}/{total}); marginal log p(x): "
          f"{result.marginal_bits_per_dim:.4f} bits/dim")
    print("confusion matrix (rows: true class, columns: predicted):")
    for row in result.confusion.tolist():
        print("  " + " ".join(f"{count:5d}" for count in row))
    print("bits/dim of log p(x | true class), per class: " +
          ", ".join(f"{k}: {bits:.4f}" for k, bits in enumerate(result.bits_per_dim_per_class.tolist())))
    return 0
