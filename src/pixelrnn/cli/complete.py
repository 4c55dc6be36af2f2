"""``pixelrnn complete``: keep the top of an image, sample the rest."""

from __future__ import annotations

import argparse

from pixelrnn.cli.common import CHECKPOINT_HELP, add_stored_data_path, checkpoint_argument, png_path, positive_int
from pixelrnn.sampling import SAMPLERS

HELP = "keep the top of an image, sample the rest (a grid PNG)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=checkpoint_argument, help=CHECKPOINT_HELP)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", help="a PNG of the model's size and channels (0..255, rescaled to its levels)")
    source.add_argument("--test-index", type=int, help="test image K of the checkpoint's data set")
    add_stored_data_path(parser, "with --test-index")
    keep = parser.add_mutually_exclusive_group(required=True)
    keep.add_argument("--keep-rows", type=int, help="keep the top R rows")
    keep.add_argument("--keep-pixels", type=int, help="keep the first N pixels in raster order")
    parser.add_argument("-n", "--num-samples", type=positive_int, default=8)
    parser.add_argument("--class", dest="class_label", type=int, help="conditional models: complete as class K")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--sampler", choices=SAMPLERS, default="auto")
    parser.add_argument("--out", default="completions.png", help="PNG grid: original, occluded, completions")
    parser.add_argument("--device", default="auto")


def run(args: argparse.Namespace) -> int:
    from pixelrnn.checkpoint import load_checkpoint
    from pixelrnn.complete import complete, dataset_test_image, image_from_png, known_prefix
    from pixelrnn.plots import save_image_grid, save_images_npz

    out = png_path(args.out)
    checkpoint = load_checkpoint(args.checkpoint)
    config = checkpoint["model_config"]
    shape = (config["image_channels"], config["image_height"], config["image_width"])
    image = (image_from_png(args.image, shape, config["num_levels"]) if args.image
             else dataset_test_image(checkpoint, args.test_index, args.data_path))
    known = known_prefix(image, args.keep_rows, args.keep_pixels)
    grid, num_levels = complete(checkpoint, image, known, args.num_samples, seed=args.seed,
                                temperature=args.temperature, label=args.class_label, device=args.device,
                                sampler=args.sampler)
    captions = ["original", "occluded", *(f"completion {k}" for k in range(1, len(grid) - 1))]
    save_image_grid(grid, num_levels, out, columns=len(grid), column_labels=captions)
    npz = save_images_npz(grid, out.with_suffix(".npz"))
    print(f"wrote the original, the occluded input and {args.num_samples} completions to {out} and {npz}")
    return 0
