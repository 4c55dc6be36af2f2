"""``pixelrnn heatmap``: its flags and what it prints (see :mod:`pixelrnn.heatmap`)."""

from __future__ import annotations

import argparse
import math

from pixelrnn.cli.common import CHECKPOINT_HELP, add_stored_data_path, checkpoint_argument, png_labels
from pixelrnn.errors import ConfigError

HELP = "bits per pixel of images under a model (a PNG)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=checkpoint_argument, help=CHECKPOINT_HELP)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", nargs="+", help="PNGs of the model's size and levels")
    source.add_argument("--test-index", type=int, nargs="+", help="test images of the checkpoint's data set")
    add_stored_data_path(parser, "with --test-index")
    parser.add_argument("--class", dest="class_label", type=int,
                        help="class-conditional models with --image: score as class K")
    parser.add_argument("--out", default="heatmap.png", help="the PNG to write (default: heatmap.png)")


def run(args: argparse.Namespace) -> int:
    from pixelrnn.checkpoint import load_checkpoint, model_from_checkpoint
    from pixelrnn.heatmap import save_heatmap, subpixel_nats

    checkpoint = load_checkpoint(args.checkpoint)
    model = model_from_checkpoint(checkpoint, "cpu")
    images, labels, names = _images(args, checkpoint, model.config)
    nats = subpixel_nats(model, images, labels)  # (N, C, H, W) float64
    save_heatmap(images, nats, model.config.num_levels, args.out, names)
    dims = images[0].numel()
    for name, total in zip(names, nats.sum(dim=(1, 2, 3)).tolist(), strict=True):
        bits = total / math.log(2)
        print(f"{name}: −log2 p(x) = {bits:.2f} bits, {bits / dims:.4f} bits/dim")
    print(f"wrote {args.out}")
    return 0


def _images(args: argparse.Namespace, checkpoint: dict, config) -> tuple:
    """(levels (N, C, H, W), labels (N,) or None, captions) of --image or --test-index."""
    import torch

    from pixelrnn.compress import read_png_inputs, split_images

    if args.image:
        images, names = read_png_inputs(args.image, config.num_levels)
        return images, png_labels(args.class_label, config.num_classes, len(images)), names
    all_images, all_labels = split_images(checkpoint, "test", None, args.data_path)
    bad = [index for index in args.test_index if not 0 <= index < len(all_images)]
    if bad:
        raise ConfigError(f"--test-index must be in [0, {len(all_images) - 1}], got {bad[0]}")
    index = torch.tensor(args.test_index)
    labels = all_labels[index] if config.num_classes else None
    return all_images[index], labels, [f"test image {i}" for i in args.test_index]
