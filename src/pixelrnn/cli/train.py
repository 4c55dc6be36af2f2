"""``pixelrnn train``: a new run from flags or a paper recipe, or ``--resume``."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pixelrnn.cli.common import (
    TRAIN_FIELDS,
    add_training_flags,
    data_config_of,
    data_fields_given,
    given_fields,
    model_fields_given,
)
from pixelrnn.config import DataConfig, TrainConfig
from pixelrnn.errors import PixelRNNError
from pixelrnn.models import training_defaults
from pixelrnn.runtime import is_main_process

if TYPE_CHECKING:
    from pixelrnn.training.records import TrainResult

HELP = "train a model; writes a run folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", default="runs/default", help="output folder (default: runs/default)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --run-dir from last.pt")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the run that --run-dir holds (without it, a trained run folder is refused)")
    parser.add_argument("--recipe", help="train a paper row as the paper did (see `pixelrnn recipes`); the flags "
                                         "given win over its settings, e.g. --data-path, --epochs, --device "
                                         "(default: none)")
    add_training_flags(parser)


def run(args: argparse.Namespace) -> int:
    from pixelrnn.likelihood import uniform_bits_per_dim
    from pixelrnn.train import train

    train_values = given_fields(args, TRAIN_FIELDS)
    model_overrides = model_fields_given(args)
    if args.resume:
        if args.overwrite:
            raise PixelRNNError("--resume continues the run in --run-dir and --overwrite replaces it: give one")
        result = train(args.run_dir, resume=True, train_overrides=train_values)
    else:
        model, data, model_overrides, config, conditional = _train_settings(args, model_overrides, train_values)
        result = train(args.run_dir, data=data, model=model, model_overrides=model_overrides, config=config,
                       conditional=conditional, overwrite=args.overwrite)
    if result.interrupted:
        _report_stop(result)
        return 128 + (result.signal_number or 2)
    if not is_main_process():
        return 0
    if result.already_ended:
        _report_already_ended(result)
    if result.test is not None:
        levels = _levels_of(result.run_dir)
        print(f"test NLL: {result.test.nats_per_image:.3f} nats/image, {result.test.bits_per_dim:.4f} bits/dim "
              f"over {result.test.num_images} images (uniform model: {uniform_bits_per_dim(levels):.3f} bits/dim)")
    if result.valid_split == "test" and result.best_valid_bits_per_dim is not None:
        print(f"validated on the test split (no validation images): best.pt has the lowest test bits/dim, "
              f"{result.best_valid_bits_per_dim:.4f}")
    print(f"run folder: {result.run_dir}")
    return 0


def _train_settings(args: argparse.Namespace, model_overrides: dict[str, Any],
                    train_values: dict[str, Any]) -> tuple[str, DataConfig, dict[str, Any], TrainConfig, bool]:
    """(model or preset, data, model overrides, training config, conditional) of a new run: from the flags, or
    from ``--recipe`` with the flags given winning over it (its settings are printed first)."""
    if not args.recipe:
        data = data_config_of(args)
        data.validate()
        model = args.model or "pixelcnn-small"
        config = TrainConfig(**{**training_defaults(model), **train_values})
        return model, data, model_overrides, config, args.conditional
    from pixelrnn.training.recipes import describe, get_recipe, recipe_settings

    recipe = get_recipe(args.recipe)
    if args.model is not None or args.data is not None:
        raise PixelRNNError(f"--recipe {recipe.name} sets the model and the data set: drop --model and --data "
                            "(architecture flags such as --layers still apply)")
    data, overrides, config = recipe_settings(recipe, data_fields_given(args), model_overrides, train_values)
    if is_main_process():
        print(describe(recipe), flush=True)
    return recipe.model, data, overrides, config, args.conditional or recipe.conditional


def _report_stop(result: TrainResult) -> None:
    """One line on stderr: where the stopped run was saved and how to continue it."""
    if not is_main_process():
        return
    name = signal.Signals(result.signal_number or 2).name
    saved = (f"checkpoint saved at step {result.steps}" if result.saved else
             f"a second {name} stopped it inside a step: the previous checkpoint is kept")
    print(f"stopped by {name}; {saved} in {result.run_dir / 'last.pt'} (continue with: pixelrnn train --run-dir "
          f"{result.run_dir} --resume)", file=sys.stderr)


def _report_already_ended(result: TrainResult) -> None:
    """One line on stderr: a resumed run that had nothing left to do, and how to train it further."""
    limit = (f"--max-steps {result.max_steps}" if result.max_steps is not None and result.steps >= result.max_steps
             else f"--epochs {result.epochs}")
    more = f"--max-steps {2 * result.steps}" if limit.startswith("--max") else f"--epochs {2 * result.epochs}"
    print(f"pixelrnn: nothing to do: the run in {result.run_dir} already ended at step {result.steps} ({limit}) "
          f"and was tested; nothing was trained or appended to metrics.jsonl. To train on, raise the limit: "
          f"pixelrnn train --run-dir {result.run_dir} --resume {more}", file=sys.stderr)


def _levels_of(run_dir: Path) -> int:
    from pixelrnn.checkpoint import load_checkpoint

    return int(load_checkpoint(run_dir / "last.pt")["model_config"]["num_levels"])
