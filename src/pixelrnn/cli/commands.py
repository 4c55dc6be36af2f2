"""What each ``pixelrnn`` subcommand does with its parsed arguments; :mod:`pixelrnn.cli` builds the parser.

Every function takes the ``argparse.Namespace`` of its subcommand, prints its result on stdout (rank 0 only
under torchrun) and returns the exit status; errors are raised as :class:`~pixelrnn.errors.PixelRNNError` and
printed by :func:`pixelrnn.cli.main` as one line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

from pixelrnn.cli.compress import run_compress, run_decompress
from pixelrnn.cli.heatmap import run_heatmap
from pixelrnn.config import DataConfig, TrainConfig
from pixelrnn.errors import PixelRNNError
from pixelrnn.models import training_defaults
from pixelrnn.runtime import is_main_process

# flag → ModelConfig field, for the architecture overrides of `train`
MODEL_FLAGS = {"hidden_channels": "hidden_channels", "layers": "num_layers", "kernel_size": "kernel_size",
               "first_kernel_size": "first_kernel_size", "output_channels": "output_channels",
               "subsample_factor": "subsample_factor", "num_mixtures": "num_mixtures"}
TRAIN_FIELDS = ("epochs", "max_steps", "batch_size", "eval_batch_size", "optimizer", "lr", "weight_decay", "ema_decay",
                "schedule", "lr_decay", "grad_clip", "grad_accum", "sample_every", "num_samples", "log_every",
                "seed", "device", "precision", "compile", "channels_last", "log", "wandb_project", "wandb_mode")


DATA_FLAGS = {"data": "name", "data_path": "path", "binarize": "binarize", "valid_fraction": "valid_fraction",
              "data_seed": "seed", "max_train_images": "max_train_images", "max_test_images": "max_test_images"}


def _data_fields(args: argparse.Namespace) -> dict[str, Any]:
    """DataConfig fields given on the command line (flags left out are not in it)."""
    fields = {field: getattr(args, flag) for flag, field in DATA_FLAGS.items() if getattr(args, flag) is not None}
    fields.update({"download": False} if args.no_download else {})
    return fields | ({"hflip": True} if getattr(args, "hflip", False) else {})


def _data_config(args: argparse.Namespace, default: str = "digits") -> DataConfig:
    return DataConfig(**{"name": default, **_data_fields(args)})


def _given(args: argparse.Namespace, names) -> dict[str, Any]:
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _model_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """ModelConfig fields given as architecture flags (``--layers 3`` → ``num_layers``)."""
    overrides = {field: getattr(args, flag) for flag, field in MODEL_FLAGS.items() if getattr(args, flag) is not None}
    overrides.update(_given(args, ("recurrent_layer", "cell", "skip_connections", "residual_connections",
                                   "learned_initial_state", "conditioning", "dropout")))
    return overrides


def run_train(args: argparse.Namespace) -> int:
    from pixelrnn.likelihood import uniform_bits_per_dim
    from pixelrnn.train import train

    train_values = _given(args, TRAIN_FIELDS)
    model_overrides = _model_overrides(args)
    if args.resume:
        result = train(args.run_dir, resume=True, train_overrides=train_values)
    else:
        model, data, model_overrides, config = _train_settings(args, model_overrides, train_values)
        result = train(args.run_dir, data=data, model=model, model_overrides=model_overrides, config=config,
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


def _train_settings(args: argparse.Namespace, model_overrides: dict[str, Any],
                    train_values: dict[str, Any]) -> tuple[str, DataConfig, dict[str, Any], TrainConfig]:
    """(model or preset, data, model overrides, training config) of a new run: from the flags, or from
    ``--recipe`` with the flags given winning over it (its settings are printed first)."""
    if not args.recipe:
        data = _data_config(args)
        data.validate()
        model = args.model or "pixelcnn-small"
        return model, data, model_overrides, TrainConfig(**{**training_defaults(model), **train_values})
    from pixelrnn.training.recipes import describe, get_recipe, recipe_settings

    recipe = get_recipe(args.recipe)
    if args.model is not None or args.data is not None:
        raise PixelRNNError(f"--recipe {recipe.name} sets the model and the data set: drop --model and --data "
                            "(architecture flags such as --layers still apply)")
    data, overrides, config = recipe_settings(recipe, _data_fields(args), model_overrides, train_values)
    if is_main_process():
        print(describe(recipe), flush=True)
    return recipe.model, data, overrides, config


def run_recipes(args: argparse.Namespace) -> int:
    from pixelrnn.training.recipes import describe, get_recipe, table

    print(describe(get_recipe(args.name)) if args.name else table())
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
    from pixelrnn.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(args.checkpoint)  # read once, for the labels and for the model
    labels, columns, count = _sample_labels(args, int(checkpoint["model_config"]["num_classes"]))
    images, num_levels = sample(checkpoint, count, seed=args.seed, temperature=args.temperature,
                                labels=labels, device=args.device, progress=sys.stderr.isatty(), sampler=args.sampler)
    save_image_grid(images, num_levels, out, columns=columns)
    npz = save_images_npz(images, out.with_suffix(".npz"), labels=labels)
    print(f"wrote {len(images)} samples to {out} and {npz}")
    return 0


def run_bench(args: argparse.Namespace) -> int:
    from pixelrnn.experiments.bench import benchmark, machine_description
    from pixelrnn.models import build_model, model_config

    for model in args.model:  # every model is built once before the first (long) measurement
        build_model(model_config(model, args.image_shape, args.levels))
    print(f"machine: {machine_description(args.device)}")
    print(f"precision {args.precision}{', compiled' if args.compile else ''}"
          f"{', channels-last' if args.channels_last else ''}")
    print("| model | image | batch | parameters | train images/s | eval images/s | sample batch, s "
          "| peak memory (MiB) |\n|---|---|---|---|---|---|---|---|")
    for model in args.model:
        result = benchmark(model, args.image_shape, args.levels, args.batch_size, args.repeats, args.warmup,
                           args.device, precision=args.precision, compile=args.compile, sample=args.sample,
                           channels_last=args.channels_last)
        shape = "×".join(str(size) for size in result.image_shape)
        print(f"| {model} | {shape}, {result.num_levels} levels | {result.batch_size} | {result.parameters:,} | "
              f"{result.train_images_per_second:.3g} | {result.eval_images_per_second:.3g} | "
              f"{'—' if result.sample_seconds is None else f'{result.sample_seconds:.3g}'} | "
              f"{result.peak_memory_mib:,.0f} |", flush=True)
        if args.json:
            with open(args.json, "a") as handle:
                handle.write(json.dumps({**result.to_dict(), "machine": machine_description(args.device)}) + "\n")
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
    grid, num_levels = complete(checkpoint, image, known, args.num_samples, seed=args.seed,
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
    _record(args.checkpoint, "classify", {"accuracy": result.accuracy, "num_images": total,
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


def run_export(args: argparse.Namespace) -> int:
    from pixelrnn.export import export_model

    directory = export_model(args.checkpoint, args.directory)
    print(f"exported to {directory}: config.json, model.safetensors, README.md "
          f"(load with pixelrnn.from_pretrained)")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from pixelrnn.experiments.compare import find_runs, write_report

    paths = write_report(find_runs(args.runs), args.out, mean_over=args.mean_over)
    print(paths["markdown"].read_text(), end="")
    print("wrote " + ", ".join(str(path) for path in paths.values()))
    return 0


def run_fid(args: argparse.Namespace) -> int:
    from pixelrnn.experiments.fid import fid

    data = _data_config(args) if args.data else None
    result = fid(args.checkpoint, data=data, num_samples=args.num_samples, features=args.features,
                 feature_weights=args.feature_weights, split=args.split, batch_size=args.batch_size,
                 seed=args.seed, device=args.device, progress=sys.stderr.isatty())
    _record(args.checkpoint, "fid", {**result.to_dict(), "seed": args.seed})
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    print(f"FID {result.value:.2f} (features: {result.features}, N={result.num_samples} samples vs the "
          f"{result.split} split's {result.num_reference} images)")
    return 0


def _record(checkpoint: str, kind: str, measurement: dict[str, Any]) -> None:
    """Keep a ``fid`` / ``classify`` result in the checkpoint's run folder, for ``pixelrnn compare``."""
    from pixelrnn.run_folder import record_evaluation

    path = record_evaluation(checkpoint, kind, measurement)
    if path is not None:
        print(f"recorded in {path}", file=sys.stderr)


def run_sweep(args: argparse.Namespace) -> int:
    from pixelrnn.experiments import sweep
    from pixelrnn.experiments.sweep_grid import SweepSettings, load_sweep_file, make_spec

    sweep.import_optuna()  # a missing extra is reported before anything else
    file_settings = load_sweep_file(args.config) if args.config else SweepSettings()
    spec, points = make_spec(file_settings, _sweep_settings(args), MODEL_FLAGS, command=_sweep_command(args))
    report = sweep.run_sweep(spec, points)
    print("| point | status | test bits/dim | test nats/image |\n|---|---|---|---|")
    for status in report.points:
        state = f"{status.state} ({status.owner})" if status.state == "running" else status.state
        bits, nats = (("—", "—") if status.bits_per_dim is None else
                      (f"{status.bits_per_dim:.4f}", f"{status.nats_per_image:.3f}"))
        print(f"| {status.point.name} | {state} | {bits} | {nats} |")
    done = [status for status in report.points if status.state == "done"]
    print(f"{len(done)} of {len(report.points)} points done; study '{spec.name}' in {spec.storage_url}")
    if done:
        best = min(done, key=lambda status: status.bits_per_dim)
        print(f"best: {best.point.name} ({best.bits_per_dim:.4f} bits/dim); "
              f"compare them with: pixelrnn compare {spec.sweep_dir}")
    if report.interrupted:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    return 0


def _sweep_settings(args: argparse.Namespace) -> Any:
    """The sweep as the command line gives it: only the flags given (the parser's defaults are None)."""
    from pixelrnn.experiments.sweep_grid import SweepSettings, parse_grid_option

    data = _data_fields(args)
    options = {"model": args.model, "conditional": args.conditional, "sweep_dir": args.sweep_dir,
               "storage": args.storage, "study_name": args.study_name, "workers": args.workers}
    return SweepSettings({key: value for key, value in options.items() if value is not None},
                         [parse_grid_option(text) for text in args.grid], _model_overrides(args),
                         _given(args, TRAIN_FIELDS), data)


def _sweep_command(args: argparse.Namespace) -> str:
    """The ``pixelrnn sweep`` command line that gives these arguments (recorded in sweep.json)."""
    import shlex

    words = ["pixelrnn", "sweep"]
    for name, value in vars(args).items():
        flag = f"--{name.replace('_', '-')}"
        if name != "command" and value is not None and value is not False:
            for item in value if isinstance(value, list) else [value]:
                words += [flag] if item is True else [flag, str(item)]
    return shlex.join(words)


COMMANDS = {"train": run_train, "recipes": run_recipes, "eval": run_eval, "sample": run_sample,
            "complete": run_complete, "classify": run_classify, "bench": run_bench, "export": run_export,
            "compare": run_compare, "fid": run_fid, "sweep": run_sweep, "compress": run_compress,
            "decompress": run_decompress, "heatmap": run_heatmap}
