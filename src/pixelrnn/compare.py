"""``compare``: runs side by side — a table, overlaid curves and one sheet of samples. Form of ``pixelrnn compare``.

A run is a folder written by ``train`` (``config.json``, ``metrics.jsonl``, ``last.pt``); a folder that holds
runs (a sweep) expands to them. The table has the model, the fields that differ between the runs, parameters,
the best validation and the final test score (bits/dim; nats/image for binary data, as the literature reports
binarized MNIST), the latest FID and classification accuracy recorded by ``pixelrnn fid`` / ``classify`` in
``evaluations.jsonl`` (columns shown only when some run has one), epochs, training images/s and wall time; it is
written as Markdown and CSV.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pixelrnn.config import ModelConfig, from_dict
from pixelrnn.errors import DataError
from pixelrnn.models import build_model, count_parameters
from pixelrnn.run_records import read_evaluations


@dataclass
class Run:
    """One training run read from its folder."""

    path: Path
    config: dict[str, Any]
    metrics: list[dict[str, Any]]
    evaluations: list[dict[str, Any]]

    @property
    def binary(self) -> bool:
        return self.config["model"]["num_levels"] == 2

    def score(self, line: dict[str, Any]) -> float:
        """nats/image for binary data, else bits/dim."""
        return line["nats_per_image"] if self.binary else line["bits_per_dim"]

    def lines(self, kind: str) -> list[dict[str, Any]]:
        return [line for line in self.metrics if line["kind"] == kind]


def find_runs(paths: list[str | Path]) -> list[Run]:
    """The runs named, a folder of runs expanding to its run folders (sorted). DataError if none is found."""
    runs = []
    for path in map(Path, paths):
        folders = [path] if (path / "config.json").is_file() else sorted(
            folder for folder in path.glob("*") if (folder / "config.json").is_file())
        if not folders:
            raise DataError(f"{path} is neither a run folder (config.json, metrics.jsonl) nor a folder of runs")
        for folder in folders:
            metrics_path = folder / "metrics.jsonl"
            metrics = ([json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()]
                       if metrics_path.is_file() else [])
            runs.append(Run(folder, json.loads((folder / "config.json").read_text()), metrics,
                            read_evaluations(folder)))
    return runs


def differing_fields(runs: list[Run]) -> list[str]:
    """``model.X`` / ``train.X`` fields whose values are not the same in every run (the swept ones)."""
    fields = []
    for section in ("model", "train"):
        keys = sorted(set().union(*(run.config.get(section) or {} for run in runs)))
        fields += [f"{section}.{key}" for key in keys
                   if len({json.dumps((run.config.get(section) or {}).get(key)) for run in runs}) > 1]
    return [field for field in fields if field not in ("model.name", "train.device")]  # name: its own column


def table_rows(runs: list[Run]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the comparison table."""
    swept = [field for field in differing_fields(runs)  # as shown: a field no run uses differently is dropped
             if len({_section_value(run, field) for run in runs}) > 1]
    unit = "nats/image" if all(run.binary for run in runs) else "bits/dim"
    measured = _evaluation_columns(runs)
    header = ["run", "model", *swept, "parameters", f"best valid ({unit})", f"test ({unit})",
              *(title for title, _ in measured), "epochs", "train images/s", "wall time (s)"]
    rows = []
    for index, run in enumerate(runs):
        model_config = from_dict(ModelConfig, run.config["model"])
        valid, test, train = run.lines("valid"), run.lines("test"), run.lines("train")
        speeds = [line["images_per_second"] for line in train if "images_per_second" in line]
        times = [line["time"] for line in run.metrics]
        values = [_section_value(run, field) for field in swept]
        rows.append([run.path.name, model_config.name, *values, f"{count_parameters(build_model(model_config)):,}",
                     f"{min(run.score(line) for line in valid):.4f}" if valid else "—",
                     f"{run.score(test[-1]):.4f}" if test else "—",
                     *(cells[index] for _, cells in measured),
                     str(max((line["epoch"] for line in run.metrics), default=0)),
                     f"{sum(speeds) / len(speeds):,.0f}" if speeds else "—",
                     f"{times[-1] - times[0]:,.0f}" if len(times) > 1 else "—"])
    return header, rows


# kind in evaluations.jsonl → (column title, the value's key and format, the fields that say what was measured)
_MEASUREMENTS = {"fid": ("FID", "value", "{:.2f}", ("feature_network", "num_samples", "split")),
                 "classify": ("classification accuracy", "accuracy", "{:.4f}", ("split",))}


def _evaluation_columns(runs: list[Run]) -> list[tuple[str, list[str]]]:
    """(title, one cell per run) for each kind of measurement some run has recorded; the latest record counts.

    What was measured (feature network, N, split) goes into the title when it is the same for every run that has
    the measurement, else into each cell, so that unlike numbers are never shown as alike.
    """
    columns = []
    for kind, (title, key, number, spec_fields) in _MEASUREMENTS.items():
        latest = [([record for record in run.evaluations if record["kind"] == kind] or [None])[-1] for run in runs]
        specs = {_spec(record, spec_fields) for record in latest if record is not None}
        if not specs:
            continue
        shared = len(specs) == 1
        cells = ["—" if record is None else number.format(record[key]) +
                 ("" if shared else f" ({_spec(record, spec_fields)})") for record in latest]
        columns.append((f"{title} ({specs.pop()})" if shared else title, cells))
    return columns


def _spec(record: dict[str, Any], fields: tuple[str, ...]) -> str:
    return ", ".join(f"N={record[field]}" if field == "num_samples" else str(record[field]) for field in fields)


_RECURRENT = ("pixelrnn", "multiscale_pixelrnn")
# model fields that only some models read: shown as "—" for the others, so the table does not suggest a
# PixelCNN "used" a Row LSTM
_FIELD_USERS = {"recurrent_layer": _RECURRENT, "cell": _RECURRENT, "skip_connections": _RECURRENT,
                "subsample_factor": ("multiscale_pixelrnn",), "num_mixtures": ("pixelcnn_pp",),
                "dropout": ("pixelcnn_pp",), "kernel_size": ("pixelcnn", "gated_pixelcnn", *_RECURRENT),
                "first_kernel_size": ("pixelcnn", "gated_pixelcnn", *_RECURRENT),
                "output_channels": ("pixelcnn", "gated_pixelcnn", *_RECURRENT)}


def _section_value(run: Run, field: str) -> str:
    section, key = field.split(".", 1)
    values = run.config.get(section) or {}
    if section == "model" and key in _FIELD_USERS and values.get("name") not in _FIELD_USERS[key]:
        return "—"
    if section == "model" and key == "conditioning" and not values.get("num_classes"):
        return "—"  # unconditional: no label enters the model
    return str(values.get(key))


def write_report(runs: list[Run], out_dir: str | Path) -> dict[str, Path]:
    """Write ``compare.md``, ``compare.csv``, ``curves.png`` and ``samples.png`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    header, rows = table_rows(runs)
    markdown = "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
                          *("| " + " | ".join(row) + " |" for row in rows)]) + "\n"
    (out_dir / "compare.md").write_text(markdown)
    with (out_dir / "compare.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    paths = {"markdown": out_dir / "compare.md", "csv": out_dir / "compare.csv",
             "curves": _plot_curves(runs, out_dir / "curves.png")}
    samples = _sample_sheet(runs, out_dir / "samples.png")
    if samples is not None:
        paths["samples"] = samples
    return paths


def _plot_curves(runs: list[Run], path: Path) -> Path:
    """Validation score against epoch and against wall time, one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (by_epoch, by_time) = plt.subplots(1, 2, figsize=(11, 4), dpi=100)
    for run in runs:
        valid = run.lines("valid")
        if not valid:
            continue
        start = run.metrics[0]["time"]
        by_epoch.plot([line["epoch"] for line in valid], [run.score(line) for line in valid], "o-", label=run.path.name)
        by_time.plot([line["time"] - start for line in valid], [run.score(line) for line in valid], "o-",
                     label=run.path.name)
    unit = "nats / image" if all(run.binary for run in runs) else "bits / dim"
    for axes, label in ((by_epoch, "epoch"), (by_time, "wall time (s)")):
        axes.set_xlabel(label)
        axes.set_ylabel(f"validation {unit}")
        axes.grid(alpha=0.3)
    by_epoch.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)
    return path


def _sample_sheet(runs: list[Run], path: Path) -> Path | None:
    """The last sample grid of every run that has one, side by side with the run's name; None if none has."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grids = [(run.path.name, sorted((run.path / "samples").glob("epoch_*.png"))) for run in runs]
    grids = [(name, files[-1]) for name, files in grids if files]
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
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)
    return path
