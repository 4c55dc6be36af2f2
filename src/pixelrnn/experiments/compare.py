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
import dataclasses
import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pixelrnn.config import ModelConfig, from_dict
from pixelrnn.errors import ConfigError, DataError
from pixelrnn.experiments.compare_figures import plot_curves, sample_sheet
from pixelrnn.experiments.sweep_grid import SECTIONS
from pixelrnn.models import build_model, count_parameters, field_users
from pixelrnn.run_folder import read_evaluations, read_metrics, read_run_config


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
        folders = [path] if read_run_config(path) is not None else sorted(
            folder for folder in path.glob("*") if read_run_config(folder) is not None)
        if not folders:
            raise DataError(f"{path} is neither a run folder (config.json, metrics.jsonl) nor a folder of runs")
        for folder in folders:
            runs.append(Run(folder, read_run_config(folder), read_metrics(folder),
                            read_evaluations(folder)))
    return runs


def differing_fields(runs: list[Run]) -> list[str]:
    """``model.X`` / ``train.X`` / ``data.X`` fields whose values are not the same in every run (the swept ones)."""
    fields = []
    for section in ("model", "train", "data"):
        keys = sorted(set().union(*(run.config.get(section) or {} for run in runs)))
        fields += [f"{section}.{key}" for key in keys
                   if len({json.dumps(_raw_value(run, f"{section}.{key}")) for run in runs}) > 1]
    return [field for field in fields if field not in ("model.name", "train.device")]  # name: its own column


@dataclass
class Group:
    """Runs shown as one row: one run, or with ``mean_over`` the runs that differ only in that field (seeds)."""

    label: str
    runs: list[Run]


def group_runs(runs: list[Run], mean_over: str | None = None) -> list[Group]:
    """One group per run, or (``mean_over`` = ``section.field``) one per setting of every other differing field.

    A group is labelled by its runs' name without the averaged field's ``key=value`` part (sweep points such as
    ``layers=2,seed=0`` → ``layers=2``), else by the folder holding its runs (a sweep over seeds alone), else by its
    first run's name.
    """
    if mean_over is None:
        return [Group(run.path.name, [run]) for run in runs]
    check_field(mean_over)
    others = [field for field in differing_fields(runs) if field != mean_over]
    settings: dict[str, list[Run]] = {}
    for run in runs:
        setting = json.dumps([run.config["model"]["name"], *(_raw_value(run, field) for field in others)])
        settings.setdefault(setting, []).append(run)
    groups = list(settings.values())
    parents = [{run.path.parent for run in group} for group in groups]
    key = mean_over.split(".", 1)[1]
    labels = []
    for group, parent in zip(groups, parents, strict=True):
        stripped = ",".join(part for part in group[0].path.name.split(",")
                            if part.split("=", 1)[0] not in (key, mean_over))
        own_parent = len(parent) == 1 and sum(parent == other for other in parents) == 1
        labels.append(stripped if stripped and stripped != group[0].path.name else
                      next(iter(parent)).name if own_parent else group[0].path.name)
    repeated = {label for label in labels if labels.count(label) > 1}
    for index, (label, parent) in enumerate(zip(labels, parents, strict=True)):
        if label in repeated and len(parent) == 1:  # e.g. the same point name in two sweeps
            labels[index] = f"{next(iter(parent)).name}/{label}"
    return [Group(label, group) for label, group in zip(labels, groups, strict=True)]


def check_field(field: str) -> None:
    """ConfigError unless ``field`` is ``model.X``, ``train.X`` or ``data.X`` of a config dataclass."""
    section, _, key = field.partition(".")
    config_class = SECTIONS.get(section)
    if config_class is None or key not in {item.name for item in dataclasses.fields(config_class)}:
        raise ConfigError(f"--mean-over needs a config field such as train.seed (model.X, train.X or data.X), "
                          f"got '{field}'")


def table_rows(runs: list[Run], mean_over: str | None = None) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the comparison table: a row per run, or per group of runs with ``mean_over``.

    A group's scores are given as mean ± sample standard deviation over its runs.
    """
    groups = group_runs(runs, mean_over)
    swept = [field for field in differing_fields(runs)  # as shown: a field no run uses differently is dropped
             if field != mean_over and len({_section_value(run, field) for run in runs}) > 1]
    unit = "nats/image" if all(run.binary for run in runs) else "bits/dim"
    spread = ", mean ± sd" if mean_over else ""
    measured = _evaluation_columns(groups)
    header = ["run", "model", *swept, *([mean_over] if mean_over else []), "parameters",
              f"best valid ({unit}{spread})", f"test ({unit}{spread})", *(title for title, _ in measured), "epochs",
              "train images/s", "wall time (s)"]
    rows = []
    for index, group in enumerate(groups):
        first = group.runs[0]
        model_config = from_dict(ModelConfig, first.config["model"])
        rows.append([group.label, model_config.name, *(_section_value(first, field) for field in swept),
                     *([", ".join(_section_value(run, mean_over) for run in group.runs)] if mean_over else []),
                     f"{count_parameters(build_model(model_config)):,}",
                     _summary([min(run.score(line) for line in run.lines("valid")) for run in group.runs
                               if run.lines("valid")], "{:.4f}"),
                     _summary([run.score(run.lines("test")[-1]) for run in group.runs if run.lines("test")],
                              "{:.4f}"),
                     *(cells[index] for _, cells in measured),
                     "–".join(sorted({str(_epochs(run)) for run in group.runs}, key=int)),
                     _mean([_speed(run) for run in group.runs], "{:,.0f}"),
                     _mean([_wall_time(run) for run in group.runs], "{:,.0f}")])
    return header, rows


def _summary(values: list[float], number: str) -> str:
    """One value as itself; several as mean ± sample standard deviation; none as —."""
    if len(values) < 2:
        return number.format(values[0]) if values else "—"
    return f"{number.format(statistics.mean(values))} ± {number.format(statistics.stdev(values))}"


def _mean(values: list[float | None], number: str) -> str:
    present = [value for value in values if value is not None]
    return number.format(statistics.mean(present)) if present else "—"


def _epochs(run: Run) -> int:
    return max((line["epoch"] for line in run.metrics), default=0)


def _speed(run: Run) -> float | None:
    """Mean training images/s over the logged training lines."""
    speeds = [line["images_per_second"] for line in run.lines("train") if "images_per_second" in line]
    return sum(speeds) / len(speeds) if speeds else None


def _wall_time(run: Run) -> float | None:
    """Seconds from the first to the last metrics line."""
    times = [line["time"] for line in run.metrics]
    return times[-1] - times[0] if len(times) > 1 else None


# (kind in evaluations.jsonl, column title, the value's key and format, the fields that say what was measured);
# a class-conditional model's test bits/dim is −log p(x | its label): the marginal log p(x) compares with the
# unconditional models'
_MEASUREMENTS = (("fid", "FID", "value", "{:.2f}", ("feature_network", "num_samples", "split")),
                 ("classify", "classification accuracy", "accuracy", "{:.4f}", ("split",)),
                 ("classify", "log p(x) over all classes (bits/dim)", "marginal_bits_per_dim", "{:.4f}", ("split",)))


def _evaluation_columns(groups: list[Group]) -> list[tuple[str, list[str]]]:
    """(title, one cell per group) for each kind of measurement some run has recorded; a run's latest one counts.

    What was measured (feature network, N, split) goes into the title when it is the same for every run that has
    the measurement, else into each cell, so that unlike numbers are never shown as alike (a group whose runs were
    measured unlike shows ``mixed``).
    """
    columns = []
    for kind, title, key, number, spec_fields in _MEASUREMENTS:
        latest = [[_latest(run, kind, key) for run in group.runs] for group in groups]
        specs = {_spec(record, spec_fields) for records in latest for record in records if record is not None}
        if not specs:
            continue
        shared = len(specs) == 1
        cells = []
        for records in latest:
            present = [record for record in records if record is not None]
            group_specs = {_spec(record, spec_fields) for record in present}
            cells.append("—" if not present else "mixed" if len(group_specs) > 1 else
                         _summary([record[key] for record in present], number) +
                         ("" if shared else f" ({group_specs.pop()})"))
        spec = specs.pop()
        columns.append((title if not shared else f"{title[:-1]}, {spec})" if title.endswith(")") else
                        f"{title} ({spec})", cells))
    return columns


def _latest(run: Run, kind: str, key: str) -> dict[str, Any] | None:
    """The run's latest ``kind`` record holding ``key``, or None."""
    return ([record for record in run.evaluations if record["kind"] == kind and key in record] or [None])[-1]


def _spec(record: dict[str, Any], fields: tuple[str, ...]) -> str:
    return ", ".join(f"N={record[field]}" if field == "num_samples" else str(record[field]) for field in fields)


def _section_value(run: Run, field: str) -> str:
    section, key = field.split(".", 1)
    model = run.config.get("model") or {}
    if section == "model" and model.get("name") not in field_users(key):
        return "—"  # a field this family does not read: the table must not suggest a PixelCNN "used" a Row LSTM
    if section == "model" and key == "conditioning" and not model.get("num_classes"):
        return "—"  # unconditional: no label enters the model
    return str(_raw_value(run, field))


def _raw_value(run: Run, field: str) -> Any:
    section, key = field.split(".", 1)
    return (run.config.get(section) or {}).get(key)


def write_report(runs: list[Run], out_dir: str | Path, mean_over: str | None = None) -> dict[str, Path]:
    """Write ``compare.md``, ``compare.csv``, ``curves.png`` and ``samples.png`` into ``out_dir``.

    With ``mean_over`` (e.g. ``train.seed``) a row stands for the runs that differ only in that field; the curves
    draw each of them in its group's colour and the sample sheet shows each group's first run.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    header, rows = table_rows(runs, mean_over)
    markdown = "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
                          *("| " + " | ".join(row) + " |" for row in rows)]) + "\n"
    (out_dir / "compare.md").write_text(markdown)
    with (out_dir / "compare.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    groups = [(group.label, group.runs) for group in group_runs(runs, mean_over)]
    paths = {"markdown": out_dir / "compare.md", "csv": out_dir / "compare.csv",
             "curves": plot_curves(groups, out_dir / "curves.png")}
    samples = sample_sheet(groups, out_dir / "samples.png")
    if samples is not None:
        paths["samples"] = samples
    return paths
