"""Re-run or resume every reproduction run, ship the finished ones as pretrained models, rebuild the results page.

Usage (from the repository root, with the project's virtual environment)::

    python experiments/reproduce.py train [RUN ...]   # start, or resume exactly, each run (one after another)
    python experiments/reproduce.py start [RUN ...]   # the same in the background, a thread each (--threads N),
                                                      # from ../wt-RUN
    python experiments/reproduce.py stop [RUN ...]    # stop background runs at a step boundary (last.pt saved)
    python experiments/reproduce.py save-state        # copy what resuming needs into reproduction/RUN/ (commit it)
    python experiments/reproduce.py restore           # copy it back into the runs folder on a fresh machine
    python experiments/reproduce.py ship RUN          # exact test NLL, export into the package, model card
    python experiments/reproduce.py page              # rebuild the table of docs/reproduction.md
    python experiments/reproduce.py extrapolate       # where each constant-rate run's validation curve is heading

``--runs-root`` (default ``~/pixelrnn-runs``) holds the run folders and ``--data-root`` (default
``../shared/data``) the ``.npz`` copies of the data sets. A multi-hour run outlives a session through
``save-state``: its ``last.pt`` (and ``best.pt``), metrics and pictures are committed under ``reproduction/RUN/``
and ``restore`` puts them back, from which ``train`` resumes exactly. A finished run keeps only its metrics and
pictures there; its weights are the pretrained model in ``src/pixelrnn/pretrained_models/``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import background
from extrapolate import describe
from results_page import BEGIN, END, constant_rate_fit, finished, table_rows, validation_curve
from shipping import MACHINES_FILE, compute_used, record_machine, ship

REPO = Path(__file__).resolve().parents[1]
STATE = REPO / "reproduction"
PAGE = REPO / "docs" / "reproduction.md"
RESUME_FILES = ("config.json", "metrics.jsonl", MACHINES_FILE, "last.pt", "best.pt")
PAGE_FILES = ("config.json", "metrics.jsonl", MACHINES_FILE, "loss_curve.png")
MAX_KEPT_BYTES = 20 * 2**20  # a checkpoint larger than this (weights + optimizer + averages) is not committed


@dataclass(frozen=True)
class Run:
    """One reproduction run: its folder, recipe, data file and the name it ships under."""

    folder: str
    recipe: str
    data_file: str
    pretrained: str
    table: str  # the table the row belongs to, as the page names it
    not_shipped: str = ""  # why a finished run is not shipped inside the package (its figures are on the page)


RUNS = [
    Run("table4-pixelcnn", "pixelrnn/table4/pixelcnn", "binarized_mnist.npz", "pixelcnn-binarized-mnist",
        "PixelRNN Table 4"),
    Run("table4-row-lstm", "pixelrnn/table4/row-lstm", "binarized_mnist.npz", "row-lstm-binarized-mnist",
        "PixelRNN Table 4"),
    Run("table4-diagonal-bilstm", "pixelrnn/table4/diagonal-bilstm", "binarized_mnist.npz",
        "diagonal-bilstm-binarized-mnist", "PixelRNN Table 4"),
    Run("lab-pixelcnn", "lab/binarized-mnist/pixelcnn", "binarized_mnist.npz", "pixelcnn-lab-binarized-mnist",
        "MNIST lab"),
    *[Run(f"seed-{preset}", f"seed/cifar10/{preset}", "cifar10.npz", f"{preset}-cifar10", "seed report")
      for preset in ("pixelcnn-small", "row-lstm-small", "diagonal-bilstm-small")],
    Run("seed-row-lstm-cifar10-epoch1", "seed/cifar10/row-lstm-epoch1", "cifar10.npz", "", "seed report",
        not_shipped="not shipped: 9.4 million parameters (37 MB), one epoch"),
    *[Run(f"seed4-pixelcnn-pp{variant}", f"seed/cifar10-4class/pixelcnn-pp{variant}", "cifar10.npz",
          f"pixelcnn-pp-cifar10-4class{variant}", "seed report, 4 classes") for variant in ("", "-onehot", "-film")],
]


def _train_args(run: Run, runs_root: Path, data_root: Path) -> list[str]:
    """``pixelrnn train``'s arguments for ``run``: resume its ``last.pt``, or start it from its recipe."""
    folder = runs_root / run.folder
    return ["--run-dir", str(folder), "--device", "cpu", *(["--resume"] if (folder / "last.pt").is_file() else
                                                           ["--recipe", run.recipe, "--data-path",
                                                            str(data_root / run.data_file)])]


def train(runs: list[Run], runs_root: Path, data_root: Path) -> None:
    """Start each run, or resume it from its ``last.pt``; a finished run's resume says so and changes nothing."""
    for run in runs:
        command = [sys.executable, "-m", "pixelrnn", "train", *_train_args(run, runs_root, data_root)]
        print("$", " ".join(command), flush=True)
        record_machine(runs_root / run.folder, int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1))
        subprocess.run(command, check=True)


def start_background(runs: list[Run], runs_root: Path, data_root: Path, threads: int = 1) -> None:
    """Start or resume each unfinished run in the background (``threads`` CPU threads, lowest priority) from its
    pinned worktree ``../wt-RUN``; a run that is already going is left alone."""
    for run in runs:
        folder, pid_file = runs_root / run.folder, runs_root / f"{run.folder}.pid"
        if finished(folder) or background.running_pid(pid_file) is not None:
            print(f"{run.folder}: {'finished' if finished(folder) else 'already running'}")
            continue
        runs_root.mkdir(parents=True, exist_ok=True)
        worktree = background.pinned_worktree(REPO, run.folder)
        record_machine(folder, threads)
        pid = background.start(worktree, _train_args(run, runs_root, data_root), runs_root / f"{run.folder}.log",
                               pid_file, threads)
        print(f"{run.folder}: started (pid {pid}, code of {worktree}, log {runs_root / run.folder}.log)")


def stop_background(runs: list[Run], runs_root: Path) -> None:
    """Stop each background run at its next step boundary (it saves ``last.pt``), e.g. to benchmark."""
    for run in runs:
        if background.stop(runs_root / f"{run.folder}.pid"):
            print(f"{run.folder}: stopped; `start` resumes it")


def save_state(runs: list[Run], runs_root: Path) -> None:
    """Copy each run's resume files (until it has finished), metrics and newest pictures into ``reproduction/RUN/``."""
    for run in runs:
        folder, kept = runs_root / run.folder, STATE / run.folder
        if not folder.is_dir():
            continue
        kept.mkdir(parents=True, exist_ok=True)
        names = PAGE_FILES if finished(folder) else (*RESUME_FILES, "loss_curve.png")
        too_large = [name for name in names if (folder / name).is_file() and name.endswith(".pt")
                     and (folder / name).stat().st_size > MAX_KEPT_BYTES]
        names = tuple(name for name in names if name not in too_large)
        for name in names:
            if (folder / name).is_file():
                shutil.copy2(folder / name, kept / name)
        if too_large:
            print(f"{run.folder}: {', '.join(too_large)} over {MAX_KEPT_BYTES // 2**20} MiB, not kept: the run resumes "
                  f"only where {folder} survives")
        for name in set(RESUME_FILES) - set(names):
            (kept / name).unlink(missing_ok=True)
        samples = sorted((folder / "samples").glob("epoch_*.png"))
        if samples and (run.not_shipped or not finished(folder)):  # `ship` draws a shipped model's grid
            shutil.copy2(samples[-1], kept / "samples.png")
        print(f"kept {run.folder}: {', '.join(sorted(path.name for path in kept.iterdir()))}")


def restore(runs: list[Run], runs_root: Path) -> None:
    """Put the committed resume files back where a run folder is missing its ``last.pt``."""
    for run in runs:
        kept, folder = STATE / run.folder, runs_root / run.folder
        if (kept / "last.pt").is_file() and not (folder / "last.pt").is_file():
            folder.mkdir(parents=True, exist_ok=True)
            for name in RESUME_FILES:
                if (kept / name).is_file():
                    shutil.copy2(kept / name, folder / name)
            print(f"restored {run.folder} into {folder}")


def page(runs: list[Run]) -> None:
    """Rewrite the table between the markers of docs/reproduction.md (results_page.py)."""
    text = PAGE.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    PAGE.write_text(text[:start] + "\n" + "\n".join(table_rows(runs, STATE)) + "\n" + text[end:])
    print(f"rewrote the table of {PAGE.relative_to(REPO)}")


def extrapolate(runs: list[Run], runs_root: Path) -> None:
    """Print, for each run with validation epochs, a power-law fit of its validation curve (extrapolate.py): where it
    levels off, its figure at the recipe's last epoch, and when it would reach the paper's figure."""
    from pixelrnn.training.recipes import get_recipe

    for run in runs:
        folder = runs_root / run.folder
        folder = folder if (folder / "metrics.jsonl").is_file() else STATE / run.folder
        recipe = get_recipe(run.recipe)
        valid, _ = validation_curve(folder, recipe)
        fit = constant_rate_fit(valid, recipe)
        if fit is None:
            why = f"{len(valid)} validation epochs" if len(valid) < 4 else \
                f"its rate is annealed ({recipe.train.get('schedule')})"
            print(f"{run.folder}: no extrapolation: {why}")
            continue
        hours = compute_used(folder)["cpu_hours"] / len(valid) if (folder / MACHINES_FILE).is_file() else None
        print(f"{run.folder}: {len(valid)} epochs, best validation {min(value for _, value in valid):.3f}; "
              + describe(fit, len(valid), recipe.train.get("epochs", len(valid)), recipe.target, recipe.unit, hours))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("train", "start", "stop", "save-state", "restore", "ship", "page",
                                           "extrapolate"))
    parser.add_argument("runs", nargs="*", help="run folders (default: every run)")
    parser.add_argument("--runs-root", type=Path, default=Path.home() / "pixelrnn-runs")
    parser.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of each run that `start` launches")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, not {args.threads}")
    unknown = set(args.runs) - {run.folder for run in RUNS}
    if unknown:
        parser.error(f"unknown run {', '.join(sorted(unknown))} (runs: {', '.join(run.folder for run in RUNS)})")
    runs = [run for run in RUNS if not args.runs or run.folder in args.runs]
    if args.action == "train":
        restore(runs, args.runs_root)
        train(runs, args.runs_root, args.data_root)
    elif args.action == "start":
        restore(runs, args.runs_root)
        start_background(runs, args.runs_root, args.data_root, args.threads)
    elif args.action == "stop":
        stop_background(runs, args.runs_root)
    elif args.action == "save-state":
        save_state(runs, args.runs_root)
    elif args.action == "restore":
        restore(runs, args.runs_root)
    elif args.action == "ship":
        for run in runs:
            if run.not_shipped:
                print(f"{run.folder}: {run.not_shipped}; `save-state` keeps its figures and samples for the page")
            else:
                ship(run, args.runs_root, args.data_root, STATE)
    elif args.action == "extrapolate":
        extrapolate(runs, args.runs_root)
    else:
        page(runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
