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
    print(f"confusion matrix of the {total} {result.split} images (rows: true class, columns: predicted class):")
    for line in confusion_table(result.confusion.tolist()):
        print("  " + line)
    print("bits/dim of log p(x | true class), per class: " + ", ".join(
        f"{k}: {bits:.4f}" if count else f"{k}: no {result.split} images"
        for k, (bits, count) in enumerate(zip(result.bits_per_dim_per_class.tolist(),
                                              result.confusion.sum(dim=1).tolist(), strict=True))))
    return 0


def confusion_table(confusion: list[list[int]]) -> list[str]:
    """The rows of a K×K confusion matrix under a header of predicted classes, each row led by its true class and
    ended by its number of images; right-aligned columns."""
    width = max(5, *(len(str(count)) + 1 for row in confusion for count in row))
    label = "true \\ predicted"
    header = label + "".join(f"{k:>{width}}" for k in range(len(confusion))) + f"{'images':>{width + 3}}"
    rows = [f"{k:>{len(label)}}" + "".join(f"{count:>{width}}" for count in row) + f"{sum(row):>{width + 3}}"
            for k, row in enumerate(confusion)]
    return [header, *rows]
