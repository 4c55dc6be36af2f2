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

:func:`claimed_run_folder` is how ``train`` takes a run folder: it holds ``.lock`` (so a second ``train`` on the
folder stops with one line), clears the temporary files of killed writers, refuses to start a new run over a
trained one unless told to ``overwrite`` it, and :func:`check_resumable` refuses a ``last.pt`` that is not the run's.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pixelrnn.errors import RunFolderError, WriteError
from pixelrnn.io import file_lock, remove_stale_temporaries, write_json

CONFIG_FILE, METRICS_FILE, EVALUATIONS_FILE = "config.json", "metrics.jsonl", "evaluations.jsonl"
LAST_CHECKPOINT, BEST_CHECKPOINT, LOSS_CURVE, SAMPLES_FOLDER = "last.pt", "best.pt", "loss_curve.png", "samples"
LOCK_FILE = ".lock"
# what a run leaves in its folder; --overwrite removes exactly these (anything else in the folder stays)
RUN_FILES = (LAST_CHECKPOINT, BEST_CHECKPOINT, METRICS_FILE, EVALUATIONS_FILE, LOSS_CURVE, SAMPLES_FOLDER, CONFIG_FILE)


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
    """Write ``config.json`` of a run folder (indented JSON, atomically)."""
    return write_json(Path(folder) / CONFIG_FILE, run_config)


@contextlib.contextmanager
def claimed_run_folder(folder: str | Path, resume: bool, overwrite: bool = False) -> Iterator[Path]:
    """Hold ``folder`` for one training process (created if missing) while the ``with`` block runs.

    Args:
        resume: the run continues from ``last.pt``, which must exist.
        overwrite: a new run may replace the run the folder holds (its :data:`RUN_FILES` are deleted first).

    Raises:
        RunFolderError: another process trains in the folder; it holds a run and neither ``resume`` nor
            ``overwrite`` was asked; or ``resume`` finds no ``last.pt``.
        WriteError: the folder cannot be created or written.
    """
    folder = Path(folder)
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = file_lock(folder / LOCK_FILE, wait=False)
        descriptor = lock.__enter__()
    except OSError as error:
        raise WriteError(f"cannot write the run folder {folder}: {error.strerror or error}") from error
    try:
        if descriptor is None:
            raise RunFolderError(f"another process is training in {folder} (it holds {folder / LOCK_FILE}); "
                                 "wait for it to end, or choose another --run-dir")
        for folder_with_temporaries in (folder, folder / SAMPLES_FOLDER):
            remove_stale_temporaries(folder_with_temporaries)
        _check_start(folder, resume, overwrite)
        yield folder
    except BaseException:
        if created and [path.name for path in folder.iterdir()] == [LOCK_FILE]:  # a start that failed at once
            (folder / LOCK_FILE).unlink()
            folder.rmdir()
        raise
    finally:
        lock.__exit__(None, None, None)


def _check_start(folder: Path, resume: bool, overwrite: bool) -> None:
    trained = [name for name in (LAST_CHECKPOINT, BEST_CHECKPOINT) if (folder / name).exists()]
    if resume:
        if LAST_CHECKPOINT not in trained:
            raise RunFolderError(f"nothing to resume: {folder} holds no {LAST_CHECKPOINT} (drop --resume to start "
                                 "a new run there)")
        return
    if not trained:  # at most the metrics of a run killed before its first checkpoint: nothing to lose
        return
    if not overwrite:
        raise RunFolderError(f"{folder} already holds a run ({', '.join(trained)}): continue it with --resume, or "
                             "replace it with --overwrite")
    for name in RUN_FILES:
        path = folder / name
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)


def check_resumable(folder: str | Path, checkpoint: dict[str, Any]) -> None:
    """Refuse to resume from a ``last.pt`` whose model or data is not the run's (as ``config.json`` records it;
    a folder without a readable ``config.json`` has nothing to compare with and passes)."""
    run_config = read_run_config(folder)
    if run_config is None:
        return
    stored_data = checkpoint.get("data", {}).get("config")
    for what, ours, theirs in (("model", run_config["model"], checkpoint["model_config"]),
                               ("data", run_config.get("data"), stored_data)):
        if ours is not None and theirs is not None:
            differing = sorted(key for key in set(ours) & set(theirs) if ours[key] != theirs[key])
            if not differing:  # fields one version of pixelrnn has and the other not are no mismatch
                continue
            raise RunFolderError(f"{Path(folder) / LAST_CHECKPOINT} is not this run's checkpoint: its {what} "
                                 f"differs from {CONFIG_FILE}'s in {', '.join(differing[:5])}")


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


def read_metrics(folder: str | Path) -> list[dict[str, Any]]:
    """The lines of a run folder's ``metrics.jsonl``, oldest first, that have the trainer's form (``kind`` and
    ``step``; a ``train`` / ``valid`` / ``test`` line also its number ``bits_per_dim``): a torn or foreign line is
    skipped, never fatal."""
    def well_formed(line: dict[str, Any]) -> bool:
        if not isinstance(line.get("kind"), str) or not isinstance(line.get("step"), int):
            return False
        return line["kind"] not in ("train", "valid", "test") or isinstance(line.get("bits_per_dim"), (int, float))

    return [line for line in read_json_lines(Path(folder) / METRICS_FILE) if well_formed(line)]


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
