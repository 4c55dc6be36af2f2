"""The ``pixelrnn`` command line: its parser and entry point; :mod:`pixelrnn.cli.commands` runs each subcommand.

User mistakes (a missing file, a corrupt checkpoint, an unknown name, an out-of-range value) end with one
line on stderr, ``pixelrnn: error: ...``, and exit status 2; an interrupted training run exits with 130
after saving its checkpoint.
"""

from __future__ import annotations

import argparse
import logging
import sys

from pixelrnn._version import __version__
from pixelrnn.cli.commands import COMMANDS, MODEL_FLAGS
from pixelrnn.cli.compress import add_compress_arguments, add_decompress_arguments
from pixelrnn.cli.heatmap import add_heatmap_arguments
from pixelrnn.config import (
    BINARIZATIONS,
    CELLS,
    CONDITIONINGS,
    DATASETS,
    OPTIMIZERS,
    PRECISIONS,
    RECURRENT_LAYERS,
    SCHEDULES,
    TRACKERS,
    WANDB_MODES,
)
from pixelrnn.errors import PixelRNNError
from pixelrnn.evaluate import SPLITS
from pixelrnn.models import MODELS, PRESETS
from pixelrnn.sample import SAMPLERS


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
    _add_recipes(commands.add_parser("recipes", help="the paper rows that `train --recipe` reproduces"))
    _add_sweep(commands.add_parser("sweep", help="train every point of a grid over config fields (resumable)"))
    _add_eval(commands.add_parser("eval", help="exact test NLL (nats/image) and bits/dim of a checkpoint"))
    _add_sample(commands.add_parser("sample", help="draw images from a checkpoint into a PNG grid and .npz"))
    _add_complete(commands.add_parser("complete", help="keep the top of an image, sample the rest (a grid PNG)"))
    export = commands.add_parser("export", help="a checkpoint as config.json + model.safetensors + model card")
    export.add_argument("checkpoint", help="checkpoint file, or a run folder (its last.pt)")
    export.add_argument("directory", help="output folder (created; files in it are replaced)")
    compare = commands.add_parser("compare", help="runs side by side: table (Markdown, CSV), curves, samples")
    compare.add_argument("runs", nargs="+", help="run folders, or folders of runs (a sweep)")
    compare.add_argument("--out", default="comparison", help="output folder (default: comparison)")
    compare.add_argument("--mean-over", metavar="FIELD",
                         help="one row per setting, mean ± sd over the runs that differ only in FIELD "
                         "(e.g. train.seed)")
    _add_eval(commands.add_parser("classify", help="likelihood classification: argmax_y log p(x|y) + log p(y)"),
              checkpoint_help="a class-conditional checkpoint, or its run folder (its last.pt)")
    _add_bench(commands.add_parser("bench", help="images/second of training steps and evaluation, random images"))
    _add_fid(commands.add_parser("fid", help="Fréchet distance between a checkpoint's samples and a data split"))
    add_compress_arguments(commands.add_parser("compress", help="lossless compression of images with a model"))
    add_decompress_arguments(commands.add_parser("decompress", help="the images of a pixelrnn compress archive"))
    add_heatmap_arguments(commands.add_parser("heatmap", help="bits per pixel of images under a model (a PNG)"))
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
    parser.add_argument("--sampler", choices=SAMPLERS, default="auto")
    parser.add_argument("--out", default="completions.png", help="PNG grid: original, occluded, completions")
    parser.add_argument("--device", default="auto")


def _add_bench(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", action="append", required=True,
                        help=f"model or preset, repeatable: {', '.join([*MODELS, *PRESETS])}")
    parser.add_argument("--image-shape", type=_image_shape, default=(3, 32, 32), help="C×H×W (default 3x32x32)")
    parser.add_argument("--levels", type=int, default=256, help="intensity levels (default 256; 2: binary)")
    parser.add_argument("--batch-size", type=_positive_int, default=16)
    parser.add_argument("--repeats", type=_positive_int, default=3,
                        help="timed repetitions; the median is reported (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed repetitions first (default 1)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="bf16: forward passes under bfloat16 autocast (default fp32)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model first")
    parser.add_argument("--channels-last", action="store_true", help="weights in channels-last memory order")
    parser.add_argument("--sample", action="store_true",
                        help="also time the fast sampler drawing one batch (models that have one)")
    parser.add_argument("--json", help="append one JSON line per model to this file")


def _add_data_flags(parser: argparse.ArgumentParser, default: str | None) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("--data", choices=DATASETS, help=f"data set (default: {default or 'the checkpoint’s'})")
    group.add_argument("--data-path", "--data-dir", dest="data_path",
                       help="folder of the official files, image folder, or .npz file")
    group.add_argument("--binarize", choices=BINARIZATIONS,
                       help="binarized_mnist: fixed (the Larochelle split, PixelRNN's Table 4; the default), dynamic "
                            "(MNIST redrawn every epoch: not comparable with fixed) or once (MNIST drawn once)")
    group.add_argument("--valid-fraction", type=float, help="share of train held out (default 0.1)")
    group.add_argument("--data-seed", type=int, help="seed of the validation split (default 0)")
    group.add_argument("--no-download", action="store_true", help="never download missing files")
    group.add_argument("--max-train-images", type=_positive_int, help="use only the first N training images")
    group.add_argument("--max-test-images", type=_positive_int, help="use only the first N test images")


def _add_train(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", default="runs/default", help="output folder (default: runs/default)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --run-dir from last.pt")
    parser.add_argument("--recipe", help="train a paper row as the paper did (see `pixelrnn recipes`); the flags "
                                         "given win over its settings, e.g. --data-path, --epochs, --device")
    _add_training_flags(parser)


def _add_recipes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="show every setting of this recipe (default: list them all)")


def _add_training_flags(parser: argparse.ArgumentParser) -> None:
    """The data, model and optimisation flags of ``train``, shared by ``sweep``."""
    _add_data_flags(parser, default="digits")
    parser.add_argument("--hflip", action="store_true", help="random horizontal flips of training images")
    model = parser.add_argument_group("model")
    model.add_argument("--model",
                       help=f"model or preset: {', '.join([*MODELS, *PRESETS])} (default: pixelcnn-small)")
    model.add_argument("--conditional", action="store_true", help="condition on the data set's class labels")
    for flag in MODEL_FLAGS:
        model.add_argument(f"--{flag.replace('_', '-')}", type=_positive_int, help="override the preset")
    model.add_argument("--recurrent-layer", choices=RECURRENT_LAYERS, help="PixelRNN layer (override the preset)")
    model.add_argument("--cell", choices=CELLS, help="PixelRNN recurrent cell (override the preset)")
    model.add_argument("--skip-connections", action=argparse.BooleanOptionalAction,
                       help="PixelCNN, PixelRNN: learnable connections from every layer to the output (paper presets: "
                            "on)")
    model.add_argument("--residual-connections", action=argparse.BooleanOptionalAction,
                       help="PixelCNN, PixelRNN: residual connections (default on; off: Table 2's ablation)")
    model.add_argument("--learned-initial-state", action=argparse.BooleanOptionalAction,
                       help="PixelRNN: learn the initial recurrent state (paper presets: on; else zeros)")
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
    opt.add_argument("--precision", choices=PRECISIONS,
                     help="bf16: the training forward pass under bfloat16 autocast (evaluation stays exact, fp32)")
    opt.add_argument("--compile", action="store_true", default=None, help="torch.compile the training forward pass")
    opt.add_argument("--channels-last", action="store_true", default=None,
                     help="weights and convolution activations in channels-last memory order")
    opt.add_argument("--seed", type=int)
    opt.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: auto)")
    track = parser.add_argument_group("experiment tracking (see docs/tracking.md)")
    track.add_argument("--log", action="append", choices=TRACKERS,
                       help="also send metrics, sample grids and config to this tracker (repeatable)")
    track.add_argument("--wandb-project", help="wandb project (default: pixelrnn)")
    track.add_argument("--wandb-mode", choices=WANDB_MODES,
                       help="offline: no network, upload later with `wandb sync` (default: offline)")


def _add_sweep(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML sweep file: [sweep], [grid], [model], [train], [data] (flags win)")
    parser.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                        help="a swept setting, repeatable: model.<field> (or flag name, e.g. model.layers), "
                             "train.<field>, data.<field>, or model=<models or presets>")
    parser.add_argument("--sweep-dir", help="folder of sweep.json, sweep.db and one run folder per point "
                                            "(default: runs/sweep)")
    parser.add_argument("--storage", help="Optuna storage URL, e.g. a database shared by several machines "
                                          "(default: sqlite:///<sweep-dir>/sweep.db)")
    parser.add_argument("--study-name", help="Optuna study name (default: the sweep folder's name)")
    parser.add_argument("--workers", type=_positive_int, help="local processes training points at once (default 1)")
    _add_training_flags(parser)
    # a flag left out stays None, so that it does not override the --config file
    parser.set_defaults(**{action.dest: None for action in parser._actions if action.dest not in ("help", "grid")})


def _add_eval(parser: argparse.ArgumentParser,
              checkpoint_help: str = "checkpoint file, or a run folder (its last.pt)") -> None:
    """Flags of ``eval`` and of ``classify``, which reads the same split of the same data."""
    parser.add_argument("checkpoint", help=checkpoint_help)
    parser.add_argument("--split", choices=SPLITS, default="test")
    parser.add_argument("--batch-size", type=_positive_int, default=256)
    parser.add_argument("--device", default="auto")
    _add_data_flags(parser, default=None)


def _add_fid(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="checkpoint file, or a run folder (its last.pt)")
    parser.add_argument("-n", "--num-samples", type=_positive_int, required=True,
                        help="images to draw from the model (compare FIDs at equal N only)")
    parser.add_argument("--features", choices=("inception", "classifier"),
                        help="feature network (default: inception for 3-channel 256-level images, else classifier)")
    parser.add_argument("--feature-weights", help="inception: pytorch-fid's pt_inception-2015-12-05-6726825d.pth; "
                        "classifier: its file, trained and saved there when missing "
                        "(default: fid-classifier-<data>.pt next to the checkpoint)")
    parser.add_argument("--split", choices=SPLITS, default="test", help="reference split (default: test)")
    parser.add_argument("--batch-size", type=_positive_int, default=100)
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampler")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    _add_data_flags(parser, default=None)


def _add_sample(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="checkpoint file, or a run folder (its last.pt)")
    parser.add_argument("-n", "--num-images", type=_positive_int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--sampler", choices=SAMPLERS, default="auto",
                        help="fast: incremental, every model; plain: a pass per sub-pixel (default: auto = fast)")
    labels = parser.add_mutually_exclusive_group()
    labels.add_argument("--class", dest="class_label", type=int, help="conditional models: every image of class K")
    labels.add_argument("--per-class", type=_positive_int,
                        help="conditional models: N images of every class, one grid row per class (ignores -n)")
    parser.add_argument("--out", default="samples.png", help="PNG grid; the integer images go beside it as .npz")
    parser.add_argument("--device", default="auto")


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
