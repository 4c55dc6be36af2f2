"""``pixelrnn sweep``: train every point of a grid over config fields (resumable)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pixelrnn.cli.common import (
    TRAIN_FIELDS,
    add_training_flags,
    data_fields_given,
    given_fields,
    model_fields_given,
    model_flags,
    positive_int,
)

HELP = "train every point of a grid over config fields (resumable)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML sweep file: [sweep], [grid], [model], [train], [data] (flags win)")
    parser.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                        help="a swept setting, repeatable: model.<field> (or flag name, e.g. model.layers), "
                             "train.<field>, data.<field>, or model=<models or presets>")
    parser.add_argument("--sweep-dir", help="folder of sweep.json, sweep.db and one run folder per point "
                                            "(default: runs/sweep)")
    parser.add_argument("--storage", help="Optuna storage URL, e.g. a database shared by several machines "
                                          "(default: sqlite:///<sweep-dir>/sweep.db)")
    parser.add_argument("--study-name", help="Optuna study name (default: the sweep folder's name)")
    parser.add_argument("--workers", type=positive_int, help="local processes training points at once (default 1)")
    add_training_flags(parser)
    # a flag left out stays None, so that it does not override the --config file
    parser.set_defaults(**{action.dest: None for action in parser._actions if action.dest not in ("help", "grid")})


def run(args: argparse.Namespace) -> int:
    from pixelrnn.experiments import sweep
    from pixelrnn.experiments.sweep_grid import SweepSettings, load_sweep_file, make_spec

    sweep.import_optuna()  # a missing extra is reported before anything else
    file_settings = load_sweep_file(args.config) if args.config else SweepSettings()
    spec, points = make_spec(file_settings, _sweep_settings(args), model_flags(), command=_sweep_command(args))
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

    data = data_fields_given(args)
    options = {"model": args.model, "conditional": args.conditional, "sweep_dir": args.sweep_dir,
               "storage": args.storage, "study_name": args.study_name, "workers": args.workers}
    return SweepSettings({key: value for key, value in options.items() if value is not None},
                         [parse_grid_option(text) for text in args.grid], model_fields_given(args),
                         given_fields(args, TRAIN_FIELDS), data)


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
