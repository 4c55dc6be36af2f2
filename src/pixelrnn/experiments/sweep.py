"""``sweep``: train every point of a grid, resumably, by one or many processes, recorded in an Optuna study.

Each point (see :mod:`pixelrnn.experiments.sweep_grid`) trains with :func:`pixelrnn.train.train` in its own run folder
``<sweep_dir>/<label=value,...>/``. The run folder is the source of truth:

* a point is finished when its folder holds ``result.json`` (written after the exact test evaluation);
* a point is claimed by an exclusive ``flock`` on ``claim.lock`` in its folder, held while it trains, so that
  several processes (or machines sharing the folder on a file system with working locks, such as NFS) never
  train one point twice; the kernel drops the lock when its process dies, so a crashed claim frees itself;
* a point whose folder holds ``last.pt`` but no ``result.json`` was interrupted and resumes from ``last.pt``.

The Optuna study (``sqlite:///<sweep_dir>/sweep.db`` unless ``storage`` names a shared database; see
:mod:`pixelrnn.experiments.sweep_study`) records every attempt. This module chooses the points, not Optuna's
``GridSampler``: concurrent workers of that sampler may draw the same point, and it counts a failed point as
visited, so it would never resume it.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pixelrnn.errors import CheckpointError, PixelRNNError
from pixelrnn.experiments.sweep_grid import SweepPoint, SweepSpec, grid_points, point_configs
from pixelrnn.experiments.sweep_study import (
    finish_trial,
    import_optuna,
    open_study,
    process_name,
    record_finished,
    start_trial,
    trials_of,
    write_or_check_sweep_file,
)
from pixelrnn.io import file_lock, write_json
from pixelrnn.training.records import TrainResult

logger = logging.getLogger("pixelrnn")

RESULT_FILE, CLAIM_FILE, LOCK_FILE = "result.json", "claim.lock", "sweep.lock"


@dataclass
class PointStatus:
    """Where one point stands: ``done``, ``running`` (``owner`` = host:pid), ``interrupted`` or ``pending``."""

    point: SweepPoint
    state: str
    owner: str | None = None
    bits_per_dim: float | None = None
    nats_per_image: float | None = None


@dataclass
class SweepReport:
    """Every point's status after this process's work; ``interrupted`` when Ctrl-C stopped it."""

    spec: SweepSpec
    points: list[PointStatus]
    interrupted: bool = False


def run_sweep(spec: SweepSpec, points: list[SweepPoint] | None = None) -> SweepReport:
    """Train every unfinished point of ``spec`` not claimed by another process, with ``spec.workers`` processes.

    Re-running the same sweep skips finished points and resumes interrupted ones. Raises ConfigError before
    anything trains when a point's configs are invalid or ``sweep_dir`` (or the study) holds another sweep.
    """
    import_optuna()
    points = points if points is not None else grid_points(spec.grid)
    for point in points:
        point_configs(spec, point)
    with file_lock(spec.sweep_dir / LOCK_FILE):  # one process at a time creates or checks the sweep's files
        write_or_check_sweep_file(spec)
        open_study(spec)  # creates the study (and its tables) before any worker starts
    unfinished = [point for point in points if _read_result(spec.sweep_dir / point.name) is None]
    workers = min(spec.workers, len(unfinished))  # no process is spawned for nothing
    interrupted = work(spec, points) if workers <= 1 else _run_processes(spec, points, workers)
    return SweepReport(spec, sweep_status(spec, points), interrupted)


def work(spec: SweepSpec, points: list[SweepPoint], first: int = 0) -> bool:
    """Train the points this process can claim, starting at index ``first``; True when interrupted.

    Passes over the grid repeat while they train something, so that a point freed by a worker that died
    meanwhile is picked up.
    """
    study = open_study(spec)
    order = points[first:] + points[:first]
    progressed = True
    while progressed:
        progressed = False
        for point in order:
            outcome = _visit(spec, study, point)
            if outcome == "interrupted":
                return True
            progressed |= outcome == "trained"
    return False


def _visit(spec: SweepSpec, study: Any, point: SweepPoint) -> str:
    """``skipped``, ``recorded`` (finished, its trial was missing), ``trained`` or ``interrupted``."""
    run_dir = spec.sweep_dir / point.name
    if _read_result(run_dir) is not None and trials_of(study, point, "COMPLETE"):
        return "skipped"  # the common case on a re-run: touch nothing
    with file_lock(run_dir / CLAIM_FILE, wait=False) as claim:
        if claim is None:
            return "skipped"  # another live process trains it
        result = _read_result(run_dir)
        if result is not None:
            record_finished(study, spec, point, result["test"]["bits_per_dim"], result.get("owner"))
            return "recorded"
        os.pwrite(claim, json.dumps({"owner": process_name()}).encode(), 0)  # shown by sweep_status
        try:
            return _train_point(spec, study, point, run_dir)
        finally:
            os.ftruncate(claim, 0)


def _train_point(spec: SweepSpec, study: Any, point: SweepPoint, run_dir: Path) -> str:
    """Train (or resume) a claimed point and record its trial; ``trained`` or ``interrupted``."""
    number = start_trial(study, spec, point)
    resume = (run_dir / "last.pt").is_file()
    logger.info(f"sweep: {'resuming' if resume else 'training'} {point.name} in {run_dir}")
    try:
        result = _train(run_dir, spec, point, resume)
    except BaseException:
        finish_trial(study, number, None)
        raise
    if result.interrupted:
        finish_trial(study, number, None)
        return "interrupted"
    summary = _write_result(run_dir, point, result)
    finish_trial(study, number, summary["test"]["bits_per_dim"])
    logger.info(f"sweep: {point.name}: test {summary['test']['bits_per_dim']:.4f} bits/dim")
    return "trained"


def _train(run_dir: Path, spec: SweepSpec, point: SweepPoint, resume: bool) -> TrainResult:
    from pixelrnn.train import train

    configs = point_configs(spec, point)
    if resume:
        try:
            return train(run_dir, resume=True, train_overrides={"device": configs.train.device})
        except CheckpointError as error:
            logger.warning(f"sweep: cannot resume {point.name} ({error}); training it from the start")
    return train(run_dir, data=configs.data, model=configs.model, model_overrides=configs.model_overrides,
                 config=configs.train, conditional=configs.conditional, overwrite=resume)  # an unusable last.pt


def _write_result(run_dir: Path, point: SweepPoint, result: TrainResult) -> dict[str, Any]:
    """Write ``result.json`` atomically: the point, the exact test NLL (bits/dim and nats/image), progress."""
    test = result.test
    summary = {"point": point.values, "run_dir": point.name, "owner": process_name(), "steps": result.steps,
               "epochs_completed": result.epochs_completed,
               "best_valid_bits_per_dim": result.best_valid_bits_per_dim, "valid_split": result.valid_split,
               "test": {"bits_per_dim": test.bits_per_dim, "nats_per_image": test.nats_per_image,
                        "num_images": test.num_images}}
    write_json(run_dir / RESULT_FILE, summary)
    return summary


def _read_result(run_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((run_dir / RESULT_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


# -------------------------------------------------------------------------------------- worker processes
def _run_processes(spec: SweepSpec, points: list[SweepPoint], workers: int) -> bool:
    """Run ``workers`` spawned processes on the sweep, each starting at its share of the grid; True if interrupted."""
    context = multiprocessing.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // workers)  # the processes share the machine's cores
    processes = [context.Process(target=_worker_process, args=(spec, points, index * len(points) // workers, threads),
                                 name=f"pixelrnn-sweep-{index}") for index in range(workers)]
    for process in processes:
        process.start()
    interrupted = False
    for process in processes:
        while process.exitcode is None:
            try:
                process.join()
            except KeyboardInterrupt:  # the workers received Ctrl-C too: they save last.pt and stop
                interrupted = True
    codes = [process.exitcode for process in processes]
    stopped = (130, -signal.SIGINT)  # -SIGINT: Ctrl-C reached a worker that was already exiting
    if any(code != 0 and code not in stopped for code in codes):
        raise PixelRNNError(f"sweep worker(s) failed (exit codes {codes}); see their messages above")
    return interrupted or any(code in stopped for code in codes)


def _worker_process(spec: SweepSpec, points: list[SweepPoint], first: int, threads: int) -> None:
    """Entry point of a spawned worker: exit 0 when done, 130 when interrupted, 2 on a user error."""
    import torch

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(threads)
    try:
        interrupted = work(spec, points, first)
    except PixelRNNError as error:
        logger.error(f"pixelrnn: error: {error}")
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    raise SystemExit(130 if interrupted else 0)


# ----------------------------------------------------------------------------------------------- status
def sweep_status(spec: SweepSpec, points: list[SweepPoint]) -> list[PointStatus]:
    """Every point's state, read from its run folder (a claim of a dead local process counts as interrupted)."""
    statuses = []
    for point in points:
        run_dir = spec.sweep_dir / point.name
        result = _read_result(run_dir)
        if result is not None:
            statuses.append(PointStatus(point, "done", result.get("owner"), result["test"]["bits_per_dim"],
                                        result["test"]["nats_per_image"]))
            continue
        owner = _claim_owner(run_dir)
        state = ("running" if owner and _may_be_alive(owner) else
                 "interrupted" if (run_dir / "last.pt").is_file() else "pending")
        statuses.append(PointStatus(point, state, owner if state == "running" else None))
    return statuses


def _claim_owner(run_dir: Path) -> str | None:
    try:
        return json.loads((run_dir / CLAIM_FILE).read_text())["owner"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError):
        return None


def _may_be_alive(owner: str) -> bool:
    """False only for a process of this host that no longer exists (another host's cannot be checked)."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True
