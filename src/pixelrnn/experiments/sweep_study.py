"""The record of a sweep: ``sweep.json`` in its folder and an Optuna study in a (possibly shared) storage.

The study holds one trial per training attempt of a point, its params the point's values: RUNNING while it
trains, COMPLETE with the point's final test bits/dim as its value, FAIL when interrupted, or when a process
died while training it. Both records carry the sweep's identity (grid and fixed settings), so that a folder or a
study is never reused for a different sweep. Optuna is imported here only, and only when a sweep runs.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import socket
import time
from typing import Any

from pixelrnn.errors import ConfigError, PixelRNNError
from pixelrnn.experiments.sweep_grid import SweepPoint, SweepSpec
from pixelrnn.io import write_json

SWEEP_FILE = "sweep.json"


def import_optuna() -> Any:
    """The ``optuna`` module with its INFO logging silenced; PixelRNNError when it is not installed."""
    try:
        import optuna
    except ImportError:
        raise PixelRNNError("pixelrnn sweep needs Optuna: pip install 'pixelrnn[sweep]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def process_name() -> str:
    """``host:pid`` of this process, the owner recorded in claims, trials and results."""
    return f"{socket.gethostname()}:{os.getpid()}"


def write_or_check_sweep_file(spec: SweepSpec) -> None:
    """Write ``sweep.json`` (grid, fixed settings, study, command) or check that it describes this sweep."""
    spec.sweep_dir.mkdir(parents=True, exist_ok=True)
    path = spec.sweep_dir / SWEEP_FILE
    if not path.is_file():
        write_json(path, {**spec.identity(), "study_name": spec.name, "storage": spec.storage_url,
                                     "command": spec.command})
        return
    try:
        stored = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path} is not readable JSON ({error}); is it a sweep folder?") from None
    _check_same_sweep(stored, spec, str(spec.sweep_dir), "--sweep-dir")


def open_study(spec: SweepSpec) -> Any:
    """Create or load the study; ConfigError when the storage cannot be opened or holds another sweep."""
    study = _create_or_load_study(spec)
    stored = study.user_attrs.get("sweep")
    if stored is None:
        study.set_user_attr("sweep", spec.identity())
    else:
        _check_same_sweep(stored, spec, f"study '{spec.name}' in {spec.storage_url}", "--study-name")
    return study


def _create_or_load_study(spec: SweepSpec, attempts: int = 5) -> Any:
    """``optuna.create_study(load_if_exists=True)``, retried while processes that start together race to create
    the database's tables; ConfigError when the storage cannot be opened."""
    import sqlalchemy.exc

    optuna = import_optuna()
    transient = (sqlalchemy.exc.DBAPIError, optuna.exceptions.StorageInternalError)
    for attempt in itertools.count(1):
        try:  # the sampler is never asked: the sweep chooses its points itself
            return optuna.create_study(storage=spec.storage_url, study_name=spec.name, direction="minimize",
                                       sampler=optuna.samplers.RandomSampler(seed=0), load_if_exists=True)
        except Exception as error:  # noqa: BLE001 -- bad URLs, missing drivers, unreachable servers: many types
            if not isinstance(error, transient) or attempt == attempts:
                reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
                raise ConfigError(f"cannot open the Optuna storage {spec.storage_url}: {reason[:160]}") from error
            time.sleep(0.2 * attempt + 0.2 * random.random())


def _check_same_sweep(stored: dict[str, Any], spec: SweepSpec, where: str, flag: str) -> None:
    identity = spec.identity()
    differing = [key for key in identity if stored.get(key) != identity[key]]
    if differing:
        grid = "; ".join(f"{axis['key']}={axis['values']}" for axis in stored.get("grid") or [])
        raise ConfigError(f"{where} holds a different sweep (different {', '.join(differing)}; its grid: {grid}); "
                          f"use another {flag}")


def trials_of(study: Any, point: SweepPoint, state: str) -> list[Any]:
    """The point's trials in ``state`` (a TrialState name: ``RUNNING``, ``COMPLETE``, ``FAIL``)."""
    optuna = import_optuna()
    states = (getattr(optuna.trial.TrialState, state),)
    return [trial for trial in study.get_trials(deepcopy=False, states=states) if trial.params == point.values]


def start_trial(study: Any, spec: SweepSpec, point: SweepPoint) -> int:
    """Add a RUNNING trial for a point this process has claimed; its number.

    RUNNING trials of the point left by earlier attempts belong to processes that died (the claim was free):
    they become FAIL.
    """
    optuna = import_optuna()
    _fail_running_trials(study, point)
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.RUNNING, params=point.values,
                                              distributions=_distributions(spec),
                                              user_attrs={"run_dir": point.name, "owner": process_name()}))
    mine = [trial.number for trial in trials_of(study, point, "RUNNING") if trial.user_attrs["owner"] == process_name()]
    return max(mine)


def finish_trial(study: Any, number: int, bits_per_dim: float | None) -> None:
    """COMPLETE with the test bits/dim as its value, or FAIL when ``bits_per_dim`` is None."""
    optuna = import_optuna()
    if bits_per_dim is None:
        study.tell(number, state=optuna.trial.TrialState.FAIL)
    else:
        study.tell(number, bits_per_dim)


def record_finished(study: Any, spec: SweepSpec, point: SweepPoint, bits_per_dim: float, owner: str | None) -> None:
    """Add the COMPLETE trial of a finished point that has none (its process died before recording it)."""
    if trials_of(study, point, "COMPLETE"):
        return
    optuna = import_optuna()
    _fail_running_trials(study, point)
    study.add_trial(optuna.trial.create_trial(value=bits_per_dim, params=point.values,
                                              distributions=_distributions(spec),
                                              user_attrs={"run_dir": point.name, "owner": owner}))


def _fail_running_trials(study: Any, point: SweepPoint) -> None:
    for trial in trials_of(study, point, "RUNNING"):
        finish_trial(study, trial.number, None)


def _distributions(spec: SweepSpec) -> dict[str, Any]:
    optuna = import_optuna()
    return {axis.key: optuna.distributions.CategoricalDistribution(list(axis.values)) for axis in spec.grid}
