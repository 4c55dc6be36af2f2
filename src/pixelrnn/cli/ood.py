"""``pixelrnn ood``: out-of-distribution scores of image sets under a checkpoint (see :mod:`pixelrnn.ood`)."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from pixelrnn.cli.common import CHECKPOINT_HELP, checkpoint_argument, positive_int

HELP = "out-of-distribution scores: raw likelihood, input-complexity corrected, likelihood ratio; AUROC / AUPR"
TITLES = {"nll": "−log2 p(x)", "complexity": "−log2 p(x) − PNG bits (Serrà et al.)",
          "ratio": "−log2 p(x) + log2 p_background(x) (Ren et al.)"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=checkpoint_argument, help=CHECKPOINT_HELP)
    parser.add_argument("--in", dest="in_set", default="test",
                        help="in-distribution images (default: test, the checkpoint's test split); any set as --out")
    parser.add_argument("--out", dest="out_sets", nargs="+", required=True, metavar="SET",
                        help="out-of-distribution sets: noise, blank, constant, inverted, a split, "
                             "NAME[:SPLIT][@PATH] (e.g. cifar10@data/cifar10.npz), a .npz file or a PNG folder; "
                             "converted to the model's channels, size and levels")
    parser.add_argument("--background", help="checkpoint of a background model: adds the likelihood-ratio score")
    parser.add_argument("-n", "--num-images", type=positive_int, default=1000, help="images per set (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic sets")
    parser.add_argument("--report", default="ood", help="folder for ood.md, ood.csv and ood.png (default: ood)")
    parser.add_argument("--device", default="auto")


def run(args: argparse.Namespace) -> int:
    from pixelrnn.io import atomic_write
    from pixelrnn.ood import ood_scores
    from pixelrnn.plots import save_score_histograms

    result = ood_scores(args.checkpoint, args.out_sets, in_spec=args.in_set, background=args.background,
                        num_images=args.num_images, seed=args.seed, device=args.device)
    report = Path(args.report)
    report.mkdir(parents=True, exist_ok=True)
    table = _table(result)
    atomic_write(report / "ood.md", lambda tmp: tmp.write_text(table + "\n"))
    atomic_write(report / "ood.csv", lambda tmp: _write_csv(tmp, result.scores))
    save_score_histograms(result.scores, report / "ood.png", TITLES, {name: _short(name) for name in result.scores})
    print(table)
    print(f"wrote {report / 'ood.md'}, {report / 'ood.csv'} and {report / 'ood.png'}")
    return 0


def _table(result) -> str:
    lines = [f"in-distribution: {result.in_name}; scores in bits/dim, higher = more out-of-distribution", "",
             "| out set | score | AUROC | AUPR | mean in | mean out |", "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {_short(row['set'])} | {row['score']} | {row['auroc']:.3f} | {row['aupr']:.3f} | "
              f"{row['mean_in']:.3f} | {row['mean_out']:.3f} |" for row in result.metrics]
    return "\n".join(lines)


def _short(spec: str) -> str:
    """A set's name without its data path (``cifar10:test@data/cifar10.npz`` → ``cifar10:test``)."""
    return spec.split("@")[0]


def _write_csv(path: Path, scores: dict) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        names = list(next(iter(scores.values())))
        writer.writerow(["set", "index", *names])
        for set_name, values in scores.items():
            for index in range(len(values[names[0]])):
                writer.writerow([set_name, index, *(f"{values[name][index]:.6f}" for name in names)])
