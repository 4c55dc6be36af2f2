"""Flag groups and argument types shared by several subcommands, and the helpers that turn the flags
given into config fields (a flag left out is not a field given)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from pathlib import Path
from typing import Any

import torch

from pixelrnn.config import (
    BINARIZATIONS,
    DATASETS,
    FLAG_NAMES,
    OPTIMIZERS,
    PRECISIONS,
    SCHEDULES,
    TRACKERS,
    WANDB_MODES,
    DataConfig,
    ModelConfig,
    TrainConfig,
)
from pixelrnn.data import SPLITS
from pixelrnn.errors import ConfigError, PixelRNNError
from pixelrnn.models import DATA_FIELDS, MODELS, PRESETS, field_users


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        command = self.prog.split()[-1]
        hint = "pixelrnn --help" if command == "pixelrnn" else f"pixelrnn {command} --help"
        self.exit(2, f"pixelrnn: error: {message} (see {hint})\n")


CHECKPOINT_HELP = "checkpoint file, run folder (its last.pt), exported model, or pretrained name (pixelrnn pretrained)"


def checkpoint_argument(text: str) -> str:
    """A checkpoint argument as the path to read: a pretrained model's name becomes its folder."""
    from pixelrnn.pretrained import resolve

    return str(resolve(text))


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def image_shape(text: str) -> tuple[int, int, int]:
    try:
        shape = tuple(int(size) for size in text.lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"expected C×H×W such as 3x32x32, got {text!r}")
    return shape


def model_flags() -> dict[str, str]:
    """argparse destination → ModelConfig field of every architecture flag of ``train`` and ``sweep``
    (``layers`` → ``num_layers``): each field but the name and those the data set gives, the registered
    families' own fields included."""
    names = FLAG_NAMES[ModelConfig]
    return {names.get(field.name, field.name).replace("-", "_"): field.name
            for field in dataclasses.fields(ModelConfig) if field.name != "name" and field.name not in DATA_FIELDS}


def add_model_flags(group: argparse._ArgumentGroup) -> None:
    """One flag per architecture field, from the field's type and metadata: ``--x/--no-x`` for a bool, the
    choices of a str, a positive int or a float; the help names the families that read it, and the default."""
    fields, hints = ModelConfig.__dataclass_fields__, typing.get_type_hints(ModelConfig)
    for dest, name in model_flags().items():
        field, kind = fields[name], hints[name]
        users = field_users(name)
        readers = "" if set(users) == set(MODELS) else f"{', '.join(users)}: "
        default = {True: "on", False: "off"}.get(field.default, field.default) if kind is bool else field.default
        help_text = f"{readers}{field.metadata.get('help', '')} (default: the preset's, else {default})"
        flag = f"--{dest.replace('_', '-')}"
        if kind is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, help=help_text)
        elif field.metadata.get("choices"):
            group.add_argument(flag, choices=field.metadata["choices"], help=help_text)
        else:
            group.add_argument(flag, type=positive_int if kind is int else float, help=help_text)


TRAIN_FIELDS = ("epochs", "max_steps", "batch_size", "eval_batch_size", "optimizer", "lr", "weight_decay", "ema_decay",
                "adam_beta1", "adam_beta2", "init_batch_size",
                "schedule", "lr_decay", "grad_clip", "grad_accum", "sample_every", "num_samples", "log_every",
                "seed", "device", "precision", "compile", "channels_last", "log", "wandb_project", "wandb_mode",
                "checkpoint_every", "checkpoint_minutes")


# argparse destination → DataConfig field, from the config's flag names (``--data-path`` → ``path``)
DATA_FLAGS = {FLAG_NAMES[DataConfig].get(field, field).replace("-", "_"): field for field in
              ("name", "path", "binarize", "valid_fraction", "seed", "max_train_images", "max_test_images",
               "classes")}


def add_data_flags(parser: argparse.ArgumentParser, default: str | None) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("--data", choices=DATASETS, help=f"data set (default: {default or 'the checkpoint’s'})")
    group.add_argument("--data-path", "--data-dir", dest="data_path",
                       help="folder of the official files, image folder, or .npz file (default: "
                            "~/.cache/pixelrnn/<data set>, downloaded there if missing; digits: in the package)")
    group.add_argument("--binarize", choices=BINARIZATIONS,
                       help="binarized_mnist: fixed (the Larochelle split, PixelRNN's Table 4; the default), dynamic "
                            "(MNIST redrawn every epoch: not comparable with fixed) or once (MNIST drawn once)")
    group.add_argument("--valid-fraction", type=float,
                       help="share of train held out (default 0.1; 0: train on all of it, validate on test)")
    group.add_argument("--data-seed", type=int, help="seed of the validation split (default 0)")
    group.add_argument("--no-download", action="store_true", help="never download missing files")
    group.add_argument("--max-train-images", type=positive_int,
                       help="use only the first N training images, in file order (default: all)")
    group.add_argument("--max-test-images", type=positive_int,
                       help="use only the first N test images, in file order, and at most N validation images "
                            "(default: all); a test NLL over a part is not the paper's number: a warning says so")
    group.add_argument("--classes", type=int, nargs="+", action="extend", metavar="LABEL",
                       help="keep only the images of these labels, relabelled 0 … K-1 in this order (e.g. "
                            "--classes 0 1 2 3: CIFAR-10's first four classes; default: every image)")


# help and type of the optimisation flags; the default shown is TrainConfig's (a preset's own win over it)
_TRAIN_FLAG_HELP: dict[str, tuple[Any, str]] = {
    "epochs": (positive_int, "passes over the training split"),
    "max_steps": (positive_int, "stop after N optimizer steps, even inside an epoch"),
    "batch_size": (positive_int, "images per optimizer step, per process"),
    "eval_batch_size": (positive_int, "images per forward pass of validation and test"),
    "grad_accum": (positive_int, "split each batch into N micro-batches, accumulating gradients"),
    "num_samples": (positive_int, "images in each sample grid"),
    "log_every": (positive_int, "a train line in metrics.jsonl every N steps"),
    "init_batch_size": (positive_int, "training images of a weight-normalised model's data-dependent init"),
    "sample_every": (int, "sample grid every N epochs (0: never)"),
    "checkpoint_every": (int, "also save last.pt every N steps inside an epoch (0: only at an epoch's end)"),
    "checkpoint_minutes": (non_negative_float, "also save last.pt inside an epoch after this many minutes since "
                                               "the last save (0: off)"),
    "lr": (non_negative_float, "learning rate"),
    "weight_decay": (non_negative_float, "weight decay"),
    "lr_decay": (non_negative_float, "exponential schedule: the rate's factor per step"),
    "grad_clip": (non_negative_float, "clip the global gradient norm to this (0: off)"),
    "adam_beta1": (float, "Adam/AdamW β₁ in (0, 1)"),
    "adam_beta2": (float, "Adam/AdamW β₂ in (0, 1)"),
    "ema_decay": (float, "evaluate and sample a moving average of the weights with this decay (0: off)"),
    "seed": (int, "base seed; each process uses seed · world size + rank"),
    "device": (str, "auto, cpu, cuda or cuda:N"),
}


def _train_default(name: str) -> str:
    value = TrainConfig.__dataclass_fields__[name].default
    return "none" if value is None else str(value)


def add_training_flags(parser: argparse.ArgumentParser) -> None:
    """The data, model and optimisation flags of ``train``, shared by ``sweep``."""
    add_data_flags(parser, default="digits")
    parser.add_argument("--hflip", action="store_true", help="random horizontal flips of training images")
    model = parser.add_argument_group("model")
    model.add_argument("--model",
                       help=f"model or preset: {', '.join([*MODELS, *PRESETS])} (default: pixelcnn-small)")
    model.add_argument("--conditional", action="store_true", help="condition on the data set's class labels")
    add_model_flags(model)
    opt = parser.add_argument_group("training", "A preset brings its own defaults where its paper sets them (e.g. "
                                                "RMSProp for the PixelRNN presets); the defaults below hold otherwise.")
    for name, (kind, text) in _TRAIN_FLAG_HELP.items():
        opt.add_argument(f"--{name.replace('_', '-')}", type=kind, help=f"{text} (default: {_train_default(name)})")
    for name, choices, text in (("optimizer", OPTIMIZERS, "optimizer"),
                                ("schedule", SCHEDULES, "learning-rate schedule; plateau halves the rate when "
                                                        "validation stalls"),
                                ("precision", PRECISIONS, "bf16: the training forward pass under bfloat16 "
                                                          "autocast (evaluation stays exact, fp32)")):
        opt.add_argument(f"--{name}", choices=choices, help=f"{text} (default: {_train_default(name)})")
    opt.add_argument("--compile", action="store_true", default=None, help="torch.compile the training forward pass")
    opt.add_argument("--channels-last", action="store_true", default=None,
                     help="weights and convolution activations in channels-last memory order")
    track = parser.add_argument_group("experiment tracking (see docs/tracking.md)")
    track.add_argument("--log", action="append", choices=TRACKERS,
                       help="also send metrics, sample grids and config to this tracker (repeatable; default: none)")
    track.add_argument("--wandb-project", help="wandb project (default: pixelrnn)")
    track.add_argument("--wandb-mode", choices=WANDB_MODES,
                       help="offline: no network, upload later with `wandb sync` (default: offline)")


def add_eval_flags(parser: argparse.ArgumentParser, checkpoint_help: str = CHECKPOINT_HELP) -> None:
    """Flags of ``eval`` and of ``classify``, which reads the same split of the same data."""
    parser.add_argument("checkpoint", type=checkpoint_argument, help=checkpoint_help)
    parser.add_argument("--split", choices=SPLITS, default="test")
    parser.add_argument("--batch-size", type=positive_int, default=256)
    parser.add_argument("--device", default="auto")
    add_data_flags(parser, default=None)


def data_fields_given(args: argparse.Namespace) -> dict[str, Any]:
    """DataConfig fields given on the command line (flags left out are not in it)."""
    fields = {field: getattr(args, flag) for flag, field in DATA_FLAGS.items() if getattr(args, flag) is not None}
    fields.update({"download": False} if args.no_download else {})
    return fields | ({"hflip": True} if getattr(args, "hflip", False) else {})


def data_config_of(args: argparse.Namespace, default: str = "digits") -> DataConfig:
    return DataConfig(**{"name": default, **data_fields_given(args)})


def evaluation_data_config(args: argparse.Namespace, checkpoint: str) -> DataConfig | None:
    """The data of ``eval`` / ``classify`` / ``fid``: ``--data`` and its flags; or, with data flags but no
    ``--data`` (``--max-test-images 100``), the checkpoint's stored data set with those flags applied; or None
    (the checkpoint's data set as stored)."""
    if args.data:
        return data_config_of(args)
    given = data_fields_given(args)
    if not given:
        return None
    import dataclasses

    from pixelrnn.checkpoint import load_checkpoint
    from pixelrnn.evaluate import stored_data_config

    return dataclasses.replace(stored_data_config(load_checkpoint(checkpoint)), **given)


def given_fields(args: argparse.Namespace, names) -> dict[str, Any]:
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def model_fields_given(args: argparse.Namespace) -> dict[str, Any]:
    """ModelConfig fields given as architecture flags (``--layers 3`` → ``num_layers``)."""
    return {field: getattr(args, dest) for dest, field in model_flags().items() if getattr(args, dest) is not None}


def record_result(checkpoint: str, kind: str, measurement: dict[str, Any]) -> None:
    """Keep a ``fid`` / ``classify`` result in the checkpoint's run folder, for ``pixelrnn compare``."""
    from pixelrnn.run_folder import record_evaluation

    path = record_evaluation(checkpoint, kind, measurement)
    if path is not None:
        print(f"recorded in {path}", file=sys.stderr)


def png_path(text: str) -> Path:
    """The ``--out`` path of a PNG picture; PixelRNNError unless it ends in ``.png``."""
    out = Path(text)
    if out.suffix.lower() != ".png":
        raise PixelRNNError(f"--out must name a .png file, got {out}")
    return out


def png_labels(class_label: int | None, num_classes: int, count: int) -> torch.Tensor | None:
    """Labels of ``count`` PNG inputs: None for an unconditional model, else ``--class K`` for every image."""
    if not num_classes:
        if class_label is not None:
            raise ConfigError("the model is unconditional: drop --class")
        return None
    if class_label is None or not 0 <= class_label < num_classes:
        raise ConfigError(f"the model is class-conditional: give --class K with K in [0, {num_classes - 1}]")
    return torch.full((count,), class_label, dtype=torch.long)


def add_stored_data_path(parser: argparse.ArgumentParser, when: str) -> None:
    """``--data-path``: where the checkpoint's own data set lies on this machine (a pretrained model's, say)."""
    parser.add_argument("--data-path", help=f"{when}: where the checkpoint's data set lies here (its files or a "
                                            ".npz), e.g. for a pretrained model")
