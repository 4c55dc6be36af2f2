"""``pixelrnn compress`` and ``pixelrnn decompress``: their flags and what they print (see :mod:`pixelrnn.compress`)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pixelrnn.cli.common import CHECKPOINT_HELP, add_stored_data_path, checkpoint_argument, png_labels
from pixelrnn.errors import ConfigError

HELP = "lossless compression of images with a model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=checkpoint_argument, help=CHECKPOINT_HELP)
    parser.add_argument("inputs", nargs="*", help="PNG files and folders of PNGs (or give --split)")
    parser.add_argument("--split", choices=("test", "valid", "train"),
                        help="compress this split of the checkpoint's data set instead")
    parser.add_argument("--max-images", type=int, help="with --split: only its first N images")
    add_stored_data_path(parser, "with --split")
    parser.add_argument("--class", dest="class_label", type=int,
                        help="class-conditional models with PNG inputs: code every image as class K")
    parser.add_argument("--out", required=True, help="the archive to write")
    parser.add_argument("--batch-size", type=int, default=64, help="images coded together (default 64)")
    parser.add_argument("--per-image", action="store_true", help="print a line per image")


def add_decompress_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="the checkpoint the archive was compressed with (or its run folder)")
    parser.add_argument("archive", help="a file written by pixelrnn compress")
    parser.add_argument("--out", required=True, help="a folder for the PNGs, or a .npz file")


def run(args: argparse.Namespace) -> int:
    from pixelrnn.checkpoint import load_checkpoint, model_from_checkpoint
    from pixelrnn.compress import baseline_sizes, compress_images

    checkpoint = load_checkpoint(args.checkpoint)
    model = model_from_checkpoint(checkpoint, "cpu")
    images, labels, names = _inputs(args, checkpoint, model.config)
    result = compress_images(model, images, labels, names, args.batch_size, progress=sys.stderr.isatty())
    Path(args.out).write_bytes(result.data)
    if args.per_image:
        print("| image | NLL, bits | coded, bits | coded, bits/dim |\n|---|---|---|---|")
        for index, (nll, coded) in enumerate(zip(result.nll_bits, result.ideal_bits, strict=True)):
            name = names[index] if names else str(index)
            print(f"| {name} | {nll:.1f} | {coded:.1f} | {coded / result.dims_per_image:.4f} |")
    shape = "×".join(map(str, model.config.image_shape))
    print(f"compressed {len(images)} images ({shape}, {model.config.num_levels} levels) into {args.out}: "
          f"{len(result.data):,} bytes")
    nll = result.nll_bits_per_dim
    print(f"  bits/dim: model NLL {nll:.4f}; coded stream {result.stream_bits_per_dim:.4f} "
          f"({100 * (result.stream_bits_per_dim / nll - 1):+.3f} %); whole file {result.bits_per_dim:.4f} "
          f"({100 * (result.bits_per_dim / nll - 1):+.3f} %, with {len(result.data) - result.stream_bytes} bytes "
          "of header, labels, names and checksum)")
    dims = len(images) * result.dims_per_image
    sizes = baseline_sizes(images, model.config.num_levels)
    print("  lossless baselines, bits/dim: " + ", ".join(f"{name.replace('_', ' ')} {8 * size / dims:.4f}"
                                                        for name, size in sizes.items()))
    print(f"  encoding: {len(images) / result.seconds:.3g} images/s (one CPU thread)")
    return 0


def run_decompress(args: argparse.Namespace) -> int:
    from pixelrnn.checkpoint import load_model
    from pixelrnn.compress import decompress_bytes, read_archive, write_images

    data = read_archive(args.archive)
    model = load_model(args.checkpoint, "cpu")
    start = time.perf_counter()
    images, labels, names = decompress_bytes(model, data, progress=sys.stderr.isatty())
    seconds = time.perf_counter() - start
    out = write_images(images, labels, names, model.config.num_levels, args.out)
    print(f"decompressed {len(images)} images to {out} ({len(images) / seconds:.3g} images/s, one CPU thread)")
    return 0


def _inputs(args: argparse.Namespace, checkpoint: dict, config) -> tuple:
    """(levels (N, C, H, W), labels (N,) or None, names) from the PNG inputs or the data set's split."""

    from pixelrnn.compress import read_png_inputs, split_images

    if bool(args.inputs) == bool(args.split):
        raise ConfigError("give PNG files or folders, or --split, but not both")
    if args.max_images is not None and (not args.split or args.max_images < 1):
        raise ConfigError("--max-images takes a positive number, with --split")
    if args.split:
        images, labels = split_images(checkpoint, args.split, args.max_images, args.data_path)
        return images, labels if config.num_classes else None, []
    images, names = read_png_inputs(args.inputs, config.num_levels)
    return images, png_labels(args.class_label, config.num_classes, len(images)), names
