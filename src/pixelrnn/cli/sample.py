"""``pixelrnn sample``: images drawn from a checkpoint into a PNG grid and an .npz."""

from __future__ import annotations

import argparse
import sys

import torch

from pixelrnn.cli.common import CHECKPOINT_HELP, checkpoint_argument, png_path, positive_int
from pixelrnn.errors import PixelRNNError
from pixelrnn.sampling import SAMPLERS

HELP = "draw images from a checkpoint into a PNG grid and .npz"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=checkpoint_argument, help=CHECKPOINT_HELP)
    parser.add_argument("-n", "--num-images", type=positive_int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--sampler", choices=SAMPLERS, default="auto",
                        help="fast: incremental, every model; plain: a pass per sub-pixel (default: auto = fast)")
    labels = parser.add_mutually_exclusive_group()
    labels.add_argument("--class", dest="class_label", type=int, help="conditional models: every image of class K")
    labels.add_argument("--per-class", type=positive_int,
                        help="conditional models: N images of every class, one grid row per class (ignores -n)")
    parser.add_argument("--out", default="samples.png", help="PNG grid; the integer images go beside it as .npz")
    parser.add_argument("--device", default="auto")


def run(args: argparse.Namespace) -> int:
    from pixelrnn.plots import save_image_grid, save_images_npz
    from pixelrnn.sample import sample

    out = png_path(args.out)
    from pixelrnn.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(args.checkpoint)  # read once, for the labels and for the model
    labels, columns, count = _sample_labels(args, int(checkpoint["model_config"]["num_classes"]))
    images, num_levels = sample(checkpoint, count, seed=args.seed, temperature=args.temperature,
                                labels=labels, device=args.device, progress=sys.stderr.isatty(), sampler=args.sampler)
    rows = [f"class {k}" for k in range(len(images) // columns)] if args.per_class else None
    save_image_grid(images, num_levels, out, columns=columns, row_labels=rows)
    npz = save_images_npz(images, out.with_suffix(".npz"), labels=labels)
    print(f"wrote {len(images)} samples to {out} and {npz}")
    return 0


def _sample_labels(args: argparse.Namespace, num_classes: int) -> tuple[torch.Tensor | None, int | None, int]:
    """(labels or None, grid columns or None, number of images) for ``--class`` / ``--per-class``."""
    if args.class_label is None and args.per_class is None:
        return None, None, args.num_images
    if num_classes == 0:
        raise PixelRNNError("the model is unconditional: --class and --per-class need a --conditional model")
    if args.per_class is not None:
        return torch.arange(num_classes).repeat_interleave(args.per_class), args.per_class, \
            num_classes * args.per_class
    if not 0 <= args.class_label < num_classes:
        raise PixelRNNError(f"--class must be in [0, {num_classes - 1}], got {args.class_label}")
    return torch.full((args.num_images,), args.class_label, dtype=torch.long), None, args.num_images
