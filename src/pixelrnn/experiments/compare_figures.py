"""The figures of ``pixelrnn compare``: overlaid validation curves and one labelled sheet of sample grids.

Both take labelled groups of runs (``(label, runs)``, a run being
:class:`pixelrnn.experiments.compare.Run`): a group is one run, or the runs of one setting over several seeds,
drawn in one colour.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from pixelrnn import plots

if TYPE_CHECKING:
    from pixelrnn.experiments.compare import Run

LabelledRuns = list[tuple[str, list["Run"]]]


def plot_curves(groups: LabelledRuns, path: Path) -> Path:
    """Validation score against epoch and against wall time: one line per run, one colour and label per group.

    When no run has two validations (1-epoch runs), a curve of single dots would say nothing: the panels then show
    each run's training score (a line) against the optimizer step and the wall time, its validation as a dot.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    all_runs = [run for _, runs in groups for run in runs]
    by_step = all(len(run.lines("valid")) < 2 for run in all_runs)
    figure, (first, by_time) = plt.subplots(1, 2, figsize=(11, 4), dpi=100)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (label, runs) in enumerate(groups):
        style = {"color": colours[index % len(colours)], "linestyle": "-" if index < len(colours) else "--",
                 "alpha": 0.8}
        dots = {"marker": "o", "markersize": 3 if len(runs) > 1 else 5}
        for number, run in enumerate(run for run in runs if run.lines("valid")):
            start, name = run.metrics[0]["time"], label if number == 0 else None
            for kind in ("train", "valid") if by_step else ("valid",):
                lines = run.lines(kind)
                scores = [run.score(line) for line in lines]
                shape = style if kind == "train" else {**style, **dots, "linestyle": "none" if by_step else "-"}
                first.plot([line["step" if by_step else "epoch"] for line in lines], scores, **shape,
                           label=name if kind == "valid" else None)
                by_time.plot([line["time"] - start for line in lines], scores, **shape)
    unit = "nats / image" if all(run.binary for run in all_runs) else "bits / dim"
    scores = f"train (line) and validation (dot), {unit}" if by_step else f"validation {unit}"
    for axes, label in ((first, "optimizer step" if by_step else "epoch"), (by_time, "wall time (s)")):
        axes.set_xlabel(label)
        axes.set_ylabel(scores)
        axes.grid(alpha=0.3)
    first.xaxis.get_major_locator().set_params(integer=True)  # epochs and steps are whole numbers
    first.legend(fontsize="small")
    return plots.save_figure(figure, path)


def sample_sheet(groups: LabelledRuns, path: Path) -> Path | None:
    """The last sample grid of each group's first run that has one, side by side, labelled; None if none has."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grids = []
    for label, runs in groups:
        for run in runs:
            files = sorted((run.path / "samples").glob("epoch_*.png"))
            if files:
                grids.append((label if len(runs) == 1 else f"{label} ({_name_beyond(run.path.name, label)})",
                              files[-1]))
                break
    if not grids:
        return None
    columns = min(4, len(grids))
    rows = math.ceil(len(grids) / columns)
    figure, axes_grid = plt.subplots(rows, columns, figsize=(3 * columns, 3.3 * rows), dpi=100, squeeze=False)
    for axes, item in zip(axes_grid.flat, grids + [None] * (rows * columns - len(grids)), strict=True):
        axes.axis("off")
        if item is not None:
            axes.imshow(plt.imread(item[1]), cmap="gray")
            axes.set_title(f"{item[0]}\n{item[1].stem}", fontsize="small")
    return plots.save_figure(figure, path)


def _name_beyond(run_name: str, label: str) -> str:
    """The parts of a run's name its group label leaves out: ``seed=0,layers=2`` beyond ``layers=2`` → ``seed=0``."""
    shown = set(label.rsplit("/", 1)[-1].split(","))
    return ",".join(part for part in run_name.split(",") if part not in shown) or run_name
