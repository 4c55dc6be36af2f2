"""``pixelrnn bench``: images/second of training steps, evaluation and sampling."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from pixelrnn.cli.common import image_shape, positive_int
from pixelrnn.config import PRECISIONS
from pixelrnn.errors import describe_shape
from pixelrnn.models import MODELS, PRESETS

if TYPE_CHECKING:
    from pixelrnn.experiments.bench import BenchResult

HELP = "images/second of training steps and evaluation, random images"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", action="append", required=True,
                        help=f"model or preset, repeatable: {', '.join([*MODELS, *PRESETS])}")
    parser.add_argument("--image-shape", type=image_shape, default=(3, 32, 32), help="C×H×W (default 3x32x32)")
    parser.add_argument("--levels", type=int, default=256, help="intensity levels (default 256; 2: binary)")
    parser.add_argument("--batch-size", type=positive_int, default=16)
    parser.add_argument("--repeats", type=positive_int, default=3,
                        help="timed repetitions; the median is reported (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed repetitions first (default 1)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="bf16: forward passes under bfloat16 autocast (default fp32)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model first")
    parser.add_argument("--channels-last", action="store_true", help="weights in channels-last memory order")
    parser.add_argument("--sample", action="store_true",
                        help="also time the fast sampler drawing one batch (models that have one)")
    parser.add_argument("--mfu", action="store_true",
                        help="also count the training step's matrix-product FLOPs and measure this machine's "
                             "torch.mm speed: GFLOP/s and MFU columns")
    parser.add_argument("--json", help="append one JSON line per model to this file")


def run(args: argparse.Namespace) -> int:
    from pixelrnn.experiments.bench import benchmark, machine_description
    from pixelrnn.models import build_model, model_config

    for model in args.model:  # every model is built once before the first (long) measurement
        build_model(model_config(model, args.image_shape, args.levels))
    print(f"machine: {machine_description(args.device)}")
    print(f"precision {args.precision}{', compiled' if args.compile else ''}"
          f"{', channels-last' if args.channels_last else ''}")
    mfu_header = (" train GFLOP/image | train GFLOP/s | torch.mm GFLOP/s | MFU |", "---|---|---|---|")
    print("| model | image | batch | parameters | train images/s | eval images/s | sample batch, s "
          f"| peak memory (MiB) |{mfu_header[0] if args.mfu else ''}\n"
          f"|---|---|---|---|---|---|---|---|{mfu_header[1] if args.mfu else ''}")
    for model in args.model:
        result = benchmark(model, args.image_shape, args.levels, args.batch_size, args.repeats, args.warmup,
                           args.device, precision=args.precision, compile=args.compile, sample=args.sample,
                           channels_last=args.channels_last, mfu=args.mfu)
        shape = describe_shape(result.image_shape)
        print(f"| {model} | {shape}, {result.num_levels} levels | {result.batch_size} | {result.parameters:,} | "
              f"{result.train_images_per_second:.3g} | {result.eval_images_per_second:.3g} | "
              f"{'—' if result.sample_seconds is None else f'{result.sample_seconds:.3g}'} | "
              f"{result.peak_memory_mib:,.0f} |{_mfu_columns(result) if args.mfu else ''}", flush=True)
        if args.json:
            with open(args.json, "a") as handle:
                handle.write(json.dumps({**result.to_dict(), "machine": machine_description(args.device)}) + "\n")
    return 0


def _mfu_columns(result: BenchResult) -> str:
    """GFLOP per training image, achieved GFLOP/s, the torch.mm limit and the MFU, as Markdown cells."""
    flops_per_second = result.train_flops_per_step / result.train_seconds_per_step
    return (f" {result.train_flops_per_step / result.batch_size / 1e9:.3g} | {flops_per_second / 1e9:.3g} | "
            f"{result.matmul_flops_per_second / 1e9:.3g} | {100 * result.mfu:.1f} % |")
