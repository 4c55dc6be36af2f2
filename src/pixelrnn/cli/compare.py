"""``pixelrnn compare``: runs side by side."""

from __future__ import annotations

import argparse

HELP = "runs side by side: table (Markdown, CSV), curves, samples"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", help="run folders, or folders of runs (a sweep)")
    parser.add_argument("--out", default="comparison", help="output folder (default: comparison)")
    parser.add_argument("--mean-over", metavar="FIELD",
                        help="one row per setting, mean ± sd over the runs that differ only in FIELD "
                        "(e.g. train.seed)")


def run(args: argparse.Namespace) -> int:
    from pixelrnn.experiments.compare import find_runs, write_report

    paths = write_report(find_runs(args.runs), args.out, mean_over=args.mean_over)
    print(paths["markdown"].read_text(), end="")
    print("wrote " + ", ".join(str(path) for path in paths.values()))
    return 0
