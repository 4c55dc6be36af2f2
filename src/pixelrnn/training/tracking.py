"""Experiment trackers beside ``metrics.jsonl``: TensorBoard and Weights & Biases, both optional extras.

The trainer hands every tracker the same three things: the numeric fields of each metrics line as scalars
keyed by optimizer step (named by :func:`metric_scalars`: ``train/bits_per_dim``, ``valid/nats_per_image``, ...),
each sample grid as an image, and the run's configuration (model, data, training settings) at every start.
Only the main process opens trackers; every process calls :func:`require_packages` first, so that a missing
package stops all of them alike with one line naming the pip extra.

Files: TensorBoard event files go to ``<run_dir>/tensorboard/``; wandb keeps its run under ``<run_dir>/wandb/``
and the run id in ``<run_dir>/wandb_run_id.txt``, so that a resumed training run continues the same wandb run.
"""

from __future__ import annotations

import abc
import contextlib
import importlib
import json
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pixelrnn.config import TRACKERS
from pixelrnn.errors import ConfigError

TENSORBOARD_DIR = "tensorboard"
WANDB_ID_FILE = "wandb_run_id.txt"
# the module each tracker imports; the tracker's name is also the name of its pip extra
_MODULES = {"tensorboard": "torch.utils.tensorboard", "wandb": "wandb"}
# metrics-line fields that are not scalars to plot: the x axis, the event name, and the wall clock (every
# tracker stamps its own; a float32 TensorBoard value could not even hold it to the second)
_NOT_SCALARS = ("step", "kind", "time")

ImageInput = str | Path | np.ndarray


class Tracker(abc.ABC):
    """Where a training run sends its scalars, pictures and configuration, besides its own files."""

    @abc.abstractmethod
    def log_scalars(self, step: int, scalars: dict[str, float]) -> None:
        """Record ``{name: value}`` at optimizer step ``step``."""

    @abc.abstractmethod
    def log_image(self, step: int, tag: str, image: ImageInput) -> None:
        """Record a picture: a PNG file, or a uint8 array (H, W, C) or (H, W) for grey."""

    @abc.abstractmethod
    def log_config(self, config: dict[str, Any]) -> None:
        """Record the run's configuration (a JSON-able dict of model, data and training settings)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Flush everything to disk (or the server) and release the tracker."""


class TensorBoardTracker(Tracker):
    """Event files of ``torch.utils.tensorboard.SummaryWriter``, read by ``tensorboard --logdir``.

    Args:
        log_dir: folder of the event files (a resumed run adds a new file there).
        purge_step: on resume, the first step not yet covered by the checkpoint; TensorBoard hides the
            events logged from this step on by the interrupted process, as ``metrics.jsonl`` drops them.
    """

    def __init__(self, log_dir: Path, purge_step: int | None = None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)

    def log_scalars(self, step: int, scalars: dict[str, float]) -> None:
        for name, value in scalars.items():
            self.writer.add_scalar(name, value, global_step=step)

    def log_image(self, step: int, tag: str, image: ImageInput) -> None:
        self.writer.add_image(tag, hwc_uint8(image), global_step=step, dataformats="HWC")

    def log_config(self, config: dict[str, Any]) -> None:
        indented = "\n".join("    " + line for line in json.dumps(config, indent=2).splitlines())
        self.writer.add_text("config", indented, global_step=0)  # a Markdown code block in the Text tab

    def close(self) -> None:
        self.writer.close()


class WandbTracker(Tracker):
    """A Weights & Biases run; ``mode="offline"`` writes it under ``<run_dir>/wandb/`` for ``wandb sync`` later.

    Scalars are plotted against a ``step`` metric that carries the optimizer step (wandb's own ``_step``
    only counts calls, so lines logged again after a resume are kept rather than dropped).

    Args:
        run_dir: the training run's folder; the wandb run id is kept in it and reused on resume.
        project: wandb project name.
        mode: ``offline`` (no network) or ``online``.
    """

    def __init__(self, run_dir: Path, project: str, mode: str) -> None:
        import wandb

        self._wandb = wandb
        id_file = run_dir / WANDB_ID_FILE
        run_id = id_file.read_text().strip() if id_file.is_file() else secrets.token_hex(6)
        run_dir.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(project=project, name=run_dir.resolve().name, id=run_id, resume="allow",
                              dir=str(run_dir), mode=mode, reinit="create_new")
        id_file.write_text(run_id + "\n")
        self.run.define_metric("step")
        self.run.define_metric("*", step_metric="step")

    def log_scalars(self, step: int, scalars: dict[str, float]) -> None:
        self.run.log({**scalars, "step": step})

    def log_image(self, step: int, tag: str, image: ImageInput) -> None:
        pixels = hwc_uint8(image)
        self.run.log({tag: self._wandb.Image(pixels[..., 0] if pixels.shape[-1] == 1 else pixels), "step": step})

    def log_config(self, config: dict[str, Any]) -> None:
        self.run.config.update(config, allow_val_change=True)  # a resume may change e.g. the epochs

    def close(self) -> None:
        self.run.finish()
        # finish() leaves the transaction log (.wandb) to a background writer of the wandb-core process, which
        # may not have written it yet; stopping wandb-core writes it. Not while the user has a run of their own.
        if self._wandb.run is None:
            self._wandb.teardown()


def require_packages(names: Iterable[str]) -> None:
    """Raise a one-line ConfigError for an unknown tracker or one whose package is not installed."""
    for name in names:
        if name not in _MODULES:
            raise ConfigError(f"unknown tracker '{name}' (choose from: {', '.join(TRACKERS)})")
        try:
            importlib.import_module(_MODULES[name])
        except ImportError as error:
            raise ConfigError(f"--log {name} needs the {name} package, which is not installed: "
                              f"pip install 'pixelrnn[{name}]'") from error


def make_trackers(names: Sequence[str], run_dir: str | Path, resume_step: int | None = None,
                  wandb_project: str = "pixelrnn", wandb_mode: str = "offline") -> list[Tracker]:
    """Open the named trackers (each once) for the run in ``run_dir``.

    Args:
        names: tracker names from ``TRACKERS``.
        run_dir: the training run's folder.
        resume_step: the optimizer step a resumed run continues from (None: a new run).
        wandb_project, wandb_mode: the wandb project, and ``offline`` or ``online``.
    """
    require_packages(names)
    run_dir = Path(run_dir)
    openers = {"tensorboard": lambda: TensorBoardTracker(run_dir / TENSORBOARD_DIR, _purge_step(resume_step)),
               "wandb": lambda: WandbTracker(run_dir, wandb_project, wandb_mode)}
    trackers: list[Tracker] = []
    try:
        for name in dict.fromkeys(names):
            trackers.append(openers[name]())
    except BaseException:
        close_trackers(trackers)
        raise
    return trackers


def close_trackers(trackers: Iterable[Tracker]) -> None:
    """Close every tracker, even when one of them fails (the first failure is raised afterwards)."""
    with contextlib.ExitStack() as stack:
        for tracker in trackers:
            stack.callback(tracker.close)


def metric_scalars(line: dict[str, Any]) -> dict[str, float]:
    """The scalars of one ``metrics.jsonl`` line, named ``<kind>/<field>`` (``train/bits_per_dim``).

    Every numeric field is kept except ``step`` (the x axis) and ``time`` (the wall clock).
    """
    return {f"{line['kind']}/{key}": float(value) for key, value in line.items()
            if key not in _NOT_SCALARS and isinstance(value, int | float) and not isinstance(value, bool)}


def hwc_uint8(image: ImageInput) -> np.ndarray:
    """A picture as a uint8 array (H, W, C): read from a file, or a (H, W) grey array given a channel axis."""
    pixels = np.asarray(Image.open(image)) if isinstance(image, str | Path) else np.asarray(image)
    if pixels.ndim == 2:
        pixels = pixels[..., None]  # (H, W) -> (H, W, 1)
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[-1] not in (1, 3, 4):
        raise ValueError(f"expected a uint8 (H, W, C) image with C in 1, 3, 4; got {pixels.dtype} {pixels.shape}")
    return pixels


def _purge_step(resume_step: int | None) -> int | None:
    return None if resume_step is None else resume_step + 1
