"""Every file of a run folder: names, writers and readers, and "is this a run folder" by its schema.

A run folder (written by ``train``) holds ``config.json`` (the run's model, train and data configs),
``metrics.jsonl`` (one JSON object per event), ``last.pt`` / ``best.pt``, ``loss_curve.png``, ``samples/`` and
``evaluations.jsonl``. An exported model folder also has a ``config.json``, of another schema (``model_config``):
:func:`read_run_config` tells them apart. JSON-lines files are read tolerantly: a line cut short by an interrupted
write is skipped, and the next append starts on a new line.

``pixelrnn fid`` and ``pixelrnn classify`` append one JSON object per measurement to the run folder of the
checkpoint they read, so that ``pixelrnn compare`` can show FID and
classification accuracy next to bits/dim without anyone copying numbers by hand. A checkpoint outside a run folder
records nothing. Each line holds ``kind`` (``fid`` or ``classify``), the checkpoint's file name, the Unix time and
the measurement itself (its value and what it was measured on: data set, split, N, feature network).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

CONFIG_FILE, METRICS_FILE, EVALUATIONS_FILE = "config.json", "metrics.jsonl", "evaluations.jsonl"
LAST_CHECKPOINT, BEST_CHECKPOINT, LOSS_CURVE, SAMPLES_FOLDER = "last.pt", "best.pt", "loss_curve.png", "samples"


def read_run_config(folder: str | Path) -> dict[str, Any] | None:
    """The run configuration of a run folder (``model``, ``train``, ``data`` sections); None for any other
    folder, an exported model's included (its ``config.json`` has another schema), or an unreadable file."""
    try:
        config = json.loads((Path(folder) / CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return None
    if isinstance(config, dict) and isinstance(config.get("model"), dict) and "train" in config:
        return config
    return None


def write_run_config(folder: str | Path, run_config: dict[str, Any]) -> Path:
    """Write ``config.json`` of a run folder (indented JSON)."""
    path = Path(folder) / CONFIG_FILE
    path.write_text(json.dumps(run_config, indent=2) + "\n")
    return path


def read_json_lines(path: str | Path) -> list[dict[str, Any]]:
    """Every JSON object of a JSON-lines file, oldest first ([] when missing); unreadable lines are skipped."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for text in path.read_text().splitlines():
        try:
            record = json.loads(text)
        except json.JSONDecodeError:
            continue  # a line cut short by an interrupted write
        if isinstance(record, dict):
            records.append(record)
    return records


def append_json_line(path: str | Path, record: dict[str, Any]) -> None:
    """Append one JSON object as a line; after a line cut short by an interrupted write, start a new line."""
    with Path(path).open("a+b") as handle:  # appends always go to the end
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - 1))
        separator = b"\n" if size and handle.read(1) != b"\n" else b""
        handle.write(separator + json.dumps(record).encode() + b"\n")


def checkpoint_folder(checkpoint_path: str | Path) -> Path:
    """The folder of a checkpoint file, or the folder itself when given one (read as its ``last.pt``)."""
    path = Path(checkpoint_path)
    return path if path.is_dir() else path.parent


def run_folder_of(checkpoint_path: str | Path) -> Path | None:
    """The run folder a checkpoint (or a run folder given as such) belongs to; None outside a run folder."""
    folder = checkpoint_folder(checkpoint_path)
    return folder if read_run_config(folder) is not None else None


def record_evaluation(checkpoint_path: str | Path, kind: str, measurement: dict[str, Any]) -> Path | None:
    """Append ``measurement`` as a ``kind`` line to the run folder's ``evaluations.jsonl``.

    Returns the file written, or None when the checkpoint is not in a run folder or the folder cannot be written
    (a warning on stderr: the measurement itself has been reported already and is not lost by this).
    """
    folder = run_folder_of(checkpoint_path)
    if folder is None:
        return None
    path = Path(checkpoint_path)
    line = {"kind": kind, "checkpoint": "last.pt" if path.is_dir() else path.name, "time": time.time(),
            **measurement}
    try:
        append_json_line(folder / EVALUATIONS_FILE, line)
    except OSError as error:
        print(f"pixelrnn: warning: could not record the {kind} result in {folder}: {error}", file=sys.stderr)
        return None
    return folder / EVALUATIONS_FILE


def read_evaluations(run_folder: str | Path) -> list[dict[str, Any]]:
    """Every recorded measurement of a run folder, oldest first ([] when none; unreadable lines are skipped)."""
    return [record for record in read_json_lines(Path(run_folder) / EVALUATIONS_FILE) if "kind" in record]
