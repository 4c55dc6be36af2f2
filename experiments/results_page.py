"""The table of the results page (docs/reproduction.md, between its markers): a row per reproduction run, from the
shipped models and from the metrics that ``reproduce.py save-state`` keeps under ``reproduction/RUN/``.

A row gives the run's recipe and paper row, the paper's (or report's) figure, ours, the compute and the shipped
model's name. "Ours" is a shipped model's test figure; a finished run too large to ship gives its test figure from
its metrics; an unfinished run its best validation so far and, at a constant rate, its fitted curve
(``extrapolate.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from extrapolate import fit_power_law
from shipping import compute_used, epochs_text

from pixelrnn.run_folder import read_metrics

if TYPE_CHECKING:
    from reproduce import Run

BEGIN, END = "<!-- runs:begin -->", "<!-- runs:end -->"
HEADER = ["| row | paper / report | ours | compute | model |", "|---|---|---|---|---|"]


def table_rows(runs: list[Run], state: Path) -> list[str]:
    """The Markdown table, header first, of ``runs`` as the shipped models and ``state``'s kept metrics show them."""
    from pixelrnn.pretrained import available

    shipped = available()
    return HEADER + [run_row(run, state / run.folder, shipped.get(run.pretrained)) for run in runs]


def run_row(run: Run, kept: Path, model) -> str:
    """One run's row; ``model`` is its shipped model (None before it ships), ``kept`` its ``reproduction/RUN/``."""
    from pixelrnn.training.recipes import get_recipe

    recipe = get_recipe(run.recipe)
    figure = "none stated" if recipe.target is None else f"{recipe.target:.2f} {recipe.unit}"
    if model is not None:
        ours = f"**{model.test_figure()}** (test){classification_note(model.info.get('conditional'))}"
        cost, name = compute_text(model.info), f"`{run.pretrained}`"
    elif run.not_shipped and finished(kept):
        ours, cost, name = unshipped_result(kept, recipe), compute_text({"compute": compute_used(kept)}), \
            run.not_shipped
    elif (kept / "metrics.jsonl").is_file():
        where = "reproduction/" if (kept / "last.pt").is_file() else "its run folder only: too large to keep"
        ours, cost, name = progress(kept, recipe), f"unfinished (resumes from {where})", "—"
    else:
        ours, cost, name = "not started", "—", "—"
    return f"| {run.table}: {recipe.row} (`{recipe.key}`) | {figure} | {ours} | {cost} | {name} |"


def finished(folder: Path) -> bool:
    """Whether the run ended: the trainer writes its ``test`` line last."""
    return any(line.get("kind") == "test" for line in read_metrics(folder))


def unshipped_result(kept: Path, recipe) -> str:
    """``**4.123 bits/dim** (test after 1 epoch; training mean of that epoch 4.567)`` for a finished run that is
    not shipped: its test figure, and the mean of the logged training steps of its last epoch."""
    lines = read_metrics(kept)
    test = next(line for line in reversed(lines) if line.get("kind") == "test")
    key, digits = _figure_key(recipe)
    epochs = max((line["epoch"] for line in lines if line.get("kind") == "valid"), default=0)
    train = [line[key] for line in lines if line.get("kind") == "train" and line["epoch"] == epochs - 1]
    mean = f"; training mean of that epoch {sum(train) / len(train):.{digits}f}" if train else ""
    return f"**{test[key]:.{digits}f} {recipe.unit}** (test after {epochs} epoch{'s' * (epochs != 1)}{mean})"


def compute_text(info: dict) -> str:
    """``2.1 CPU h, 1 epoch, AMD EPYC`` from ``info["compute"]`` (shipping.compute_used's) and, for a model shipped
    before its run ended, ``info["planned_epochs"]``."""
    compute = info["compute"]
    return f"{compute['cpu_hours']} CPU h, {epochs_text(info)}, {compute['machine']}"


def classification_note(figures: dict | None) -> str:
    """``; classification accuracy 0.61, FID 12.3`` for a class-conditional model (else nothing)."""
    return "" if figures is None else f"; classification accuracy {figures['accuracy']:.3f}, FID {figures['fid']:.1f}"


def validation_curve(folder: Path, recipe) -> tuple[list[tuple[int, float]], int]:
    """(epoch, validation figure in the recipe's unit) of each validated epoch in ``folder``, and the figure's
    decimals (2 for nats/image, 3 for bits/dim)."""
    key, digits = _figure_key(recipe)
    return [(line["epoch"], line[key]) for line in read_metrics(folder) if line.get("kind") == "valid"], digits


def constant_rate_fit(valid: list[tuple[int, float]], recipe):
    """The power-law fit of a validation curve (extrapolate.py), or None where the recipe anneals its rate or
    fewer than four epochs are validated."""
    if len(valid) < 4 or recipe.train.get("schedule", "constant") != "constant":
        return None
    return fit_power_law([epoch for epoch, _ in valid], [value for _, value in valid])


def progress(kept: Path, recipe) -> str:
    """An unfinished run's best validation figure so far and, at a constant rate, where its fitted curve heads."""
    valid, digits = validation_curve(kept, recipe)
    if not valid:
        return "no validation yet"
    best, planned = min(value for _, value in valid), recipe.train.get("epochs")
    text = f"best validation {best:.{digits}f} after {len(valid)} of {planned or '?'} epochs (not finished"
    fit = constant_rate_fit(valid, recipe)
    if fit is not None and planned:
        text += (f"; its fitted curve: {fit.at(planned):.{digits}f} at epoch {planned}, levelling off at "
                 f"{fit.level:.{digits}f}")
    return text + ")"


def _figure_key(recipe) -> tuple[str, int]:
    """The metrics field of the recipe's unit and its decimals on the page."""
    return ("nats_per_image", 2) if recipe.unit == "nats/image" else ("bits_per_dim", 3)
