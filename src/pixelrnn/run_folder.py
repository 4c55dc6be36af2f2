"""Measurements recorded in a run folder, beside its training metrics: ``evaluations.jsonl``.

``pixelrnn fid`` and ``pixelrnn classify`` append one JSON object per measurement to the run folder of the
checkpoint they read (a folder holding ``config.json``), so that ``pixelrnn compare`` can show FID and
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

EVALUATIONS_FILE = "evaluations.jsonl"


def checkpoint_folder(checkpoint_path: str | Path) -> Path:
    """The folder of a checkpoint file, or the folder itself when given one (read as its ``last.pt``)."""
    path = Path(checkpoint_path)
    return path if path.is_dir() else path.parent


def run_folder_of(checkpoint_path: str | Path) -> Path | None:
    """The run folder a checkpoint (or a run folder given as such) belongs to; None outside a run folder."""
    folder = checkpoint_folder(checkpoint_path)
    return folder if (folder / "config.json").is_file() else None


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
        with (folder / EVALUATIONS_FILE).open("a+b") as handle:  # appends always go to the end
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - 1))
            # after a line cut short by an interrupted write, start a new line rather than extend the broken one
            separator = b"\n" if size and handle.read(1) != b"\n" else b""
            handle.write(separator + json.dumps(line).encode() + b"\n")
    except OSError as error:
        print(f"pixelrnn: warning: could not record the {kind} result in {folder}: {error}", file=sys.stderr)
        return None
    return folder / EVALUATIONS_FILE


def read_evaluations(run_folder: str | Path) -> list[dict[str, Any]]:
    """Every recorded measurement of a run folder, oldest first ([] when none; unreadable lines are skipped)."""
    path = Path(run_folder) / EVALUATIONS_FILE
    if not path.is_file():
        return []
    records = []
    for text in path.read_text().splitlines():
        try:
            record = json.loads(text)
        except json.JSONDecodeError:
            continue  # a line cut short by an interrupted write
        if isinstance(record, dict) and "kind" in record:
            records.append(record)
    return records
