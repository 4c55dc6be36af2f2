"""The ``pixelrnn`` command: ``train``, ``eval``, ``sample`` and ``bench`` over the library functions.

User mistakes (a missing file, a corrupt checkpoint, an unknown name, an out-of-range value) end with one
line on stderr, ``pixelrnn: error: ...``, and exit status 2; an interrupted training run exits with 130
after saving its checkpoint.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import torch

from pixelrnn import __version__
from pixelrnn.config import (
    CELLS,
    CONDITIONINGS,
    DATASETS,
    OPTIMIZERS,
    RECURRENT_LAYERS,
    SCHEDULES,
    DataConfig,
    TrainConfig,
)
from pixelrnn.errors import PixelRNNError
from pixelrnn.models import MODELS, PRESETS, training_defaults
from pixelrnn.runtime import is_main_process

# flag → ModelConfig field, for the architecture overrides of `train`
MODEL_FLAGS = {"hidden_channels": "hidden_channels", "layers": "num_layers", "kernel_size": "kernel_size",
               "first_kernel_size": "first_kernel_size", "output_channels": "output_channels",
               "subsample_factor": "subsample_factor", "num_mixtures": "num_mixtures"}
TRAIN_FIELDS = ("epochs", "max_steps", "batch_size", "eval_batch_size", "optimizer", "lr", "weight_decay", "ema_decay",
                "schedule", "lr_decay", "grad_clip", "grad_accum", "sample_every", "num_samples", "log_every",
                "seed", "device")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"pixelrnn: error: {message} (see pixelrnn {self.prog.split()[-1]} --help)\n")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pixelrnn", description="Pixel-level autoregressive image models with exact likelihoods.")
    parser.add_argument("--version", action="version", version=f"pixelrnn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_train(commands.add_parser("train", help="train a model; writes a run folder"))
    _add_eval(commands.add_parser("eval", help="exact test NLL (nats/image) and bits/dim of a checkpoint"))
    _add_sample(commands.add_parser("sample", help="draw images from a checkpoint into a PNG grid and .npz"))
    _add_complete(commands.add_parser("complete", help="keep the top of an image, sample the rest (a grid PNG)"))
    _add_classify(commands.add_parser("classify", help="likelihood classification: argmax_y log p(x|y) + log p(y)"))
    _add_bench(commands.add_parser("bench", help="images/second of training steps and evaluation, random images"))
    return parser


def _image_shape(text: str) -> tuple[int, int, int]:
    try:
        shape = tuple(int(size) for size in text.lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"expected C×H×W such as 3x32x32, got {text!r}")
    return shape


def _add_complete(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="checkpoint file, or a run folder (its last.pt)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", help="a PNG of the model's size and channels (0..255, rescaled to its levels)")
    source.add_argument("--test-index", type=int, help="test image K of the checkpoint's data set")
    keep = parser.add_mutually_exclusive_group(required=True)
    keep.add_argument("--keep-rows", type=int, help="keep the top R rows")
    keep.add_argument("--keep-pixels", type=int, help="keep the first N pixels in raster order")
    parser.add_argument("-n", "--num-samples", type=_positive_int, default=8)
    parser.add_argument("--class", dest="class_label", type=int, help="conditional models: complete as class K")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--sampler", choices=("auto", "fast", "plain"), default="auto")
    parser.add_argument("--out", default="completions.png", help="PNG grid: original, occluded, completions")
    parser.add_argument("--device", default="auto")


def _add_classify(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a class-conditional checkpoint, or its run folder (its last.pt)")
    parser.add_argument("--split", choices=("test", "valid", "train"), default="test")
    parser.add_argument("--batch-size", type=_positive_int, default=256)
    parser.add_argument("--device", default="auto")
    _add_data_flags(parser, default=None)


def _add_bench(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", action="append", required=True,
                        help=f"model or preset, repeatable: {', '.join([*MODELS, *PRESETS])}")
    parser.add_argument("--image-shape", type=_image_shape, default=(3, 32, 32), help="C×H×W (default 3x32x32)")
    parser.add_argument("--levels", type=int, default=256, help="intensity levels (default 256; 2: binary)")
    parser.add_argument("--batch-size", type=_positive_int, default=16)
    parser.add_argument("--repeats", type=_positive_int, default=3, help="timed repetitions (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed repetitions first (default 1)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", help="append one JSON line per model to this file")


def _add_data_flags(parser: argparse.ArgumentParser, default: str | None) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("--data", choices=DATASETS, default=default, help=f"data set (default: {default})")
    group.add_argument("--data-path", "--data-dir", dest="data_path",
                       help="folder of the official files, image folder, or .npz file")
    group.add_argument("--binarize", choices=("fixed", "dynamic"), default="fixed",
                       help="binarized_mnist: the standard fixed .amat split, or dynamic from MNIST")
    group.add_argument("--valid-fraction", type=float, default=0.1, help="share of train held out (default 0.1)")
    group.add_argument("--data-seed", type=int, default=0, help="seed of the validation split")
    group.add_argument("--no-download", action="store_true", help="never download missing files")
    group.add_argument("--max-train-images", type=_positive_int, help="use only the first N training images")
    group.add_argument("--max-test-images", type=_positive_int, help="use only the first N test images")


def _add_train(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", default="runs/default", help="output folder (default: runs/default)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --run-dir from last.pt")
    _add_data_flags(parser, default="digits")
    parser.add_argument("--hflip", action="store_true", help="random horizontal flips of training images")
    model = parser.add_argument_group("model")
    model.add_argument("--model", default="pixelcnn-small",
                       help=f"model or preset: {', '.join([*MODELS, *PRESETS])} (default: pixelcnn-small)")
    model.add_argument("--conditional", action="store_true", help="condition on the data set's class labels")
    for flag in MODEL_FLAGS:
        model.add_argument(f"--{flag.replace('_', '-')}", type=_positive_int, help="override the preset")
    model.add_argument("--recurrent-layer", choices=RECURRENT_LAYERS, help="PixelRNN layer (override the preset)")
    model.add_argument("--cell", choices=CELLS, help="PixelRNN recurrent cell (override the preset)")
    model.add_argument("--skip-connections", action="store_true", default=None,
                       help="PixelRNN: learnable skip connections from every layer to the output")
    model.add_argument("--conditioning", choices=CONDITIONINGS,
                       help="with --conditional: how the label enters each layer (default: the preset's, or embedding)")
    model.add_argument("--dropout", type=float, help="PixelCNN++: dropout inside every block (override the preset)")
    opt = parser.add_argument_group("training (defaults: see TrainConfig)")
    for name in ("epochs", "max_steps", "batch_size", "eval_batch_size", "grad_accum", "num_samples", "log_every"):
        opt.add_argument(f"--{name.replace('_', '-')}", type=_positive_int)
    opt.add_argument("--sample-every", type=int, help="sample grid every N epochs (0: never)")
    opt.add_argument("--optimizer", choices=OPTIMIZERS)
    opt.add_argument("--schedule", choices=SCHEDULES)
    for name in ("lr", "weight_decay", "lr_decay", "grad_clip"):
        opt.add_argument(f"--{name.replace('_', '-')}", type=_non_negative_float)
    opt.add_argument("--ema-decay", type=float,
                     help="evaluate and sample a moving average of the weights with this decay (0: off)")
    opt.add_argument("--seed", type=int)
    opt.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: auto)")


def _add_eval(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="checkpoint file, or a run folder (its last.pt)")
    parser.add_argument("--split", choices=("test", "valid", "train"), default="test")
    parser.add_argument("--batch-size", type=_positive_int, default=256)
    parser.add_argument("--device", default="auto")
    _add_data_flags(parser, default=None)


def _add_sample(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="checkpoint file, or a run folder (its last.pt)")
    parser.add_argument("-n", "--num-images", type=_positive_int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--sampler", choices=("auto", "fast", "plain"), default="auto",
                        help="fast: incremental (not PixelCNN++ yet); plain: a pass per sub-pixel (default: auto)")
    labels = parser.add_mutually_exclusive_group()
    labels.add_argument("--class", dest="class_label", type=int, help="conditional models: every image of class K")
    labels.add_argument("--per-class", type=_positive_int,
                        help="conditional models: N images of every class, one grid row per class (ignores -n)")
    parser.add_argument("--out", default="samples.png", help="PNG grid; the integer images go beside it as .npz")
    parser.add_argument("--device", default="auto")


def _data_config(args: argparse.Namespace) -> DataConfig:
    return DataConfig(name=args.data, path=args.data_path, binarize=args.binarize,
                      valid_fraction=args.valid_fraction, seed=args.data_seed, download=not args.no_download,
                      hflip=getattr(args, "hflip", False), max_train_images=args.max_train_images,
                      max_test_images=args.max_test_images)


def _given(args: argparse.Namespace, names) -> dict[str, Any]:
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def run_train(args: argparse.Namespace) -> int:
    from pixelrnn.likelihood import uniform_bits_per_dim
    from pixelrnn.training import train

    train_values = _given(args, TRAIN_FIELDS)
    model_overrides = {field: getattr(args, flag) for flag, field in MODEL_FLAGS.items()
                       if getattr(args, flag) is not None}
    model_overrides.update(_given(args, ("recurrent_layer", "cell", "skip_connections", "conditioning", "dropout")))
    if args.resume:
        result = train(args.run_dir, resume=True, train_overrides=train_values)
    else:
        data = _data_config(args)
        data.validate()
        config = TrainConfig(**{**training_defaults(args.model), **train_values})
        result = train(args.run_dir, data=data, model=args.model, model_overrides=model_overrides, config=config,
                       conditional=args.conditional)
    if result.interrupted:
        print(f"interrupted at step {result.steps}; checkpoint saved to {result.run_dir / 'last.pt'} "
              f"(continue with: pixelrnn train --run-dir {result.run_dir} --resume)", file=sys.stderr)
        return 130
    if not is_main_process():
        return 0
    if result.test is not None:
        levels = _levels_of(result.run_dir)
        print(f"test NLL: {result.test.nats_per_image:.3f} nats/image, {result.test.bits_per_dim:.4f} bits/dim "
              f"over {result.test.num_images} images (uniform model: {uniform_bits_per_dim(levels):.3f} bits/dim)")
    print(f"run folder: {result.run_dir}")
    return 0


def _levels_of(run_dir: Path) -> int:
    from pixelrnn.checkpoint import load_checkpoint

    return int(load_checkpoint(run_dir / "last.pt")["model_config"]["num_levels"])


def run_eval(args: argparse.Namespace) -> int:
    from pixelrnn.evaluate import evaluate

    data = _data_config(args) if args.data else None
    evaluation = evaluate(args.checkpoint, split=args.split, data=data, batch_size=args.batch_size,
                          device=args.device)
    result = evaluation.result
    if not is_main_process():
        return 0
    print(f"{evaluation.data_name} {evaluation.split}: {result.nats_per_image:.4f} nats/image, "
          f"{result.bits_per_dim:.4f} bits/dim over {result.num_images} images "
          f"(uniform model: {evaluation.uniform_bits_per_dim:.3f} bits/dim)")
    return 0


def run_sample(args: argparse.Namespace) -> int:
    from pixelrnn.plots import save_image_grid, save_images_npz
    from pixelrnn.sample import sample

    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise PixelRNNError(f"--out must name a .png file, got {out}")
    labels, columns, count = _sample_labels(args)
    images, num_levels = sample(args.checkpoint, count, seed=args.seed, temperature=args.temperature,
                                labels=labels, device=args.device, progress=sys.stderr.isatty(), sampler=args.sampler)
    save_image_grid(images, num_levels, out, columns=columns)
    npz = save_images_npz(images, out.with_suffix(".npz"), labels=labels)
    print(f"wrote {len(images)} samples to {out} and {npz}")
    return 0


def run_bench(args: argparse.Namespace) -> int:
    from pixelrnn.bench import benchmark, machine_description
    from pixelrnn.models import build_model, model_config

    for model in args.model:  # every model is built once before the first (long) measurement
        build_model(model_config(model, args.image_shape, args.levels))
    print(f"machine: {machine_description(args.device)}")
    print("| model | image | batch | parameters | train images/s | eval images/s | peak memory (MiB) |\n"
          "|---|---|---|---|---|---|---|")
    for model in args.model:
        result = benchmark(model, args.image_shape, args.levels, args.batch_size, args.repeats, args.warmup,
                           args.device)
        shape = "×".join(str(size) for size in result.image_shape)
        print(f"| {model} | {shape}, {result.num_levels} levels | {result.batch_size} | {result.parameters:,} | "
              f"{result.train_images_per_second:.3g} | {result.eval_images_per_second:.3g} | "
              f"{result.peak_memory_mib:,.0f} |", flush=True)
        if args.json:
            with open(args.json, "a") as handle:
                handle.write(json.dumps({**result.to_dict(), "machine": machine_description(args.device)}) + "\n")
    return 0


def _sample_labels(args: argparse.Namespace) -> tuple[torch.Tensor | None, int | None, int]:
    """(labels or None, grid columns or None, number of images) for ``--class`` / ``--per-class``."""
    if args.class_label is None and args.per_class is None:
        return None, None, args.num_images
    from pixelrnn.checkpoint import load_checkpoint

    num_classes = int(load_checkpoint(args.checkpoint)["model_config"]["num_classes"])
    if num_classes == 0:
        raise PixelRNNError("the model is unconditional: --class and --per-class need a --conditional model")
    if args.per_class is not None:
        return torch.arange(num_classes).repeat_interleave(args.per_class), args.per_class, \
            num_classes * args.per_class
    if not 0 <= args.class_label < num_classes:
        raise PixelRNNError(f"--class must be in [0, {num_classes - 1}], got {args.class_label}")
    return torch.full((args.num_images,), args.class_label, dtype=torch.long), None, args.num_images


def run_complete(args: argparse.Namespace) -> int:
    from pixelrnn.checkpoint import load_checkpoint
    from pixelrnn.complete import complete, dataset_test_image, image_from_png, known_prefix
    from pixelrnn.plots import save_image_grid, save_images_npz

    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise PixelRNNError(f"--out must name a .png file, got {out}")
    checkpoint = load_checkpoint(args.checkpoint)
    config = checkpoint["model_config"]
    shape = (config["image_channels"], config["image_height"], config["image_width"])
    image = (image_from_png(args.image, shape, config["num_levels"]) if args.image
             else dataset_test_image(checkpoint, args.test_index))
    known = known_prefix(image, args.keep_rows, args.keep_pixels)
    grid, num_levels = complete(args.checkpoint, image, known, args.num_samples, seed=args.seed,
                                temperature=args.temperature, label=args.class_label, device=args.device,
                                sampler=args.sampler)
    save_image_grid(grid, num_levels, out, columns=len(grid))
    npz = save_images_npz(grid, out.with_suffix(".npz"))
    print(f"wrote the original, the occluded input and {args.num_samples} completions to {out} and {npz}")
    return 0


def run_classify(args: argparse.Namespace) -> int:
    from pixelrnn.classify import classify

    data = _data_config(args) if args.data else None
    result = classify(args.checkpoint, split=args.split, data=data, batch_size=args.batch_size, device=args.device)
    total = int(result.confusion.sum())
    print(f"{result.data_name} {result.split}: accuracy {result.accuracy:.4f} "
          f"({int(result.confusion.diagonal().sum())}/{total}); marginal log p(x): "
          f"{result.marginal_bits_per_dim:.4f} bits/dim")
    print("confusion matrix (rows: true class, columns: predicted):")
    for row in result.confusion.tolist():
        print("  " + " ".join(f"{count:5d}" for count in row))
    print("bits/dim of log p(x | true class), per class: " +
          ", ".join(f"{k}: {bits:.4f}" for k, bits in enumerate(result.bits_per_dim_per_class.tolist())))
    return 0


COMMANDS = {"train": run_train, "eval": run_eval, "sample": run_sample, "complete": run_complete,
            "classify": run_classify, "bench": run_bench}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pixelrnn`` console script; returns the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except PixelRNNError as error:
        print(f"pixelrnn: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pixelrnn: interrupted", file=sys.stderr)
        return 130
