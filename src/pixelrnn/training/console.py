"""What a training run tells its console: progress inside an epoch, and one summary line per epoch.

Inside an epoch, a terminal gets tqdm's bar (redrawn in place, cleared when the epoch ends). When stderr is not a
terminal (a log file, a pipe, a batch job), the bar becomes a plain ``pixelrnn`` log line every
:data:`LOG_INTERVAL_SECONDS` (step, share done, loss, images/s, time left), so the file holds whole lines and no
carriage returns. After each validation the trainer logs one line (:func:`epoch_line`): the epoch, the mean training
loss of the epoch, the validation loss, the best so far, images/s, the time since the run started and the
checkpoints written. Losses are in bits/dim, or in nats/image for binary images (as binarized MNIST is reported).
"""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import dataclass

from tqdm.auto import tqdm

logger = logging.getLogger("pixelrnn")

LOG_INTERVAL_SECONDS = 30.0  # a progress line this often when stderr is not a terminal


@dataclass
class EpochStats:
    """The training steps of one epoch run by this process (a resumed epoch counts from the resume).

    Attributes:
        total_nats: Σ over steps of the batch's mean nats/image.
        steps: optimizer steps taken.
        images: training images seen by this process.
        seconds: wall time of those steps, in seconds.
    """

    total_nats: float = 0.0
    steps: int = 0
    images: int = 0
    seconds: float = 0.0

    @property
    def nats_per_image(self) -> float | None:
        """Mean training nats/image over the epoch's steps (None before the first)."""
        return self.total_nats / self.steps if self.steps else None


class EpochProgress:
    """Progress of one epoch's steps: a tqdm bar on a terminal, else a log line every ``interval`` seconds.

    Args:
        epoch: the epoch's number, from 1.
        epochs: the planned number of epochs.
        total: steps of a full epoch; ``initial`` of them are already done (a resumed epoch).
        enabled: False on the processes that are not the main one (they report nothing).
        world_size: processes training together (images/s counts all of them).
        interval: seconds between two log lines when stderr is not a terminal (default
            :data:`LOG_INTERVAL_SECONDS`).
    """

    def __init__(self, epoch: int, epochs: int, total: int, initial: int = 0, enabled: bool = True,
                 world_size: int = 1, interval: float | None = None) -> None:
        self.epoch, self.epochs, self.total, self.done = epoch, epochs, total, initial
        self.enabled, self.world_size = enabled, world_size
        self.interval = LOG_INTERVAL_SECONDS if interval is None else interval
        self.stats = EpochStats()
        self.bar = None
        if enabled and sys.stderr.isatty():
            self.bar = tqdm(total=total, initial=initial, desc=f"epoch {epoch}/{epochs}", dynamic_ncols=True,
                            leave=False, mininterval=0.1)
        self._started = self._last_line = time.perf_counter()

    def __enter__(self) -> EpochProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.bar is not None:  # cleared however the epoch ends, so that an error line starts on its own line
            self.bar.close()

    @property
    def images_per_second(self) -> float:
        """Training images per second over the epoch's steps so far, all processes together."""
        seconds = time.perf_counter() - self._started
        return self.stats.images * self.world_size / seconds if seconds > 0 else 0.0

    def update(self, nats: float, bits_per_dim: float, images: int) -> None:
        """Count one finished step of ``images`` images (this process) whose mean loss was ``nats`` nats/image."""
        self.done += 1
        now = time.perf_counter()
        self.stats.total_nats += nats
        self.stats.steps += 1
        self.stats.images += images
        self.stats.seconds = now - self._started
        if self.bar is not None:
            self.bar.set_postfix(nats=f"{nats:.2f}", bpd=f"{bits_per_dim:.3f}", refresh=False)
            self.bar.update(1)
        elif self.enabled and now - self._last_line >= self.interval and self.done < self.total:
            self._last_line = now
            logger.info(self.progress_line(nats, bits_per_dim))

    def progress_line(self, nats: float, bits_per_dim: float) -> str:
        """``epoch 2/10: step 120/469 (26%), 1.234 bits/dim (85.5 nats/image), 410 images/s, 0:00:50 left``."""
        rate = self.stats.steps / self.stats.seconds if self.stats.seconds > 0 else 0.0
        left = format_duration((self.total - self.done) / rate) if rate > 0 else "?"
        return (f"epoch {self.epoch}/{self.epochs}: step {self.done}/{self.total} ({100 * self.done // self.total}%), "
                f"{bits_per_dim:.3f} bits/dim ({nats:.2f} nats/image), {self.images_per_second:,.0f} images/s, "
                f"{left} left")


@dataclass
class EpochReport:
    """What the trainer knows when an epoch's validation is recorded.

    Attributes:
        epoch, epochs: the epoch's number (from 1) and the planned number.
        partial: the epoch was cut short by ``max_steps``.
        train_nats: mean training nats/image of the epoch (None: no step in this process, e.g. just resumed).
        valid_nats: validation nats/image, exact.
        best_nats: the lowest validation nats/image so far (this one included).
        improved: this validation is the new best (``best.pt`` written).
        split: the split validated on (``valid``, or ``test`` without validation images).
        dims: C · H · W of an image.
        binary: two grey levels: report nats/image instead of bits/dim.
        images_per_second: training throughput of the epoch (0: unknown).
        elapsed: seconds since the run started (all its sessions).
        saved: the checkpoint files written at this point.
    """

    epoch: int
    epochs: int
    partial: bool
    train_nats: float | None
    valid_nats: float
    best_nats: float
    improved: bool
    split: str
    dims: int
    binary: bool
    images_per_second: float
    elapsed: float
    saved: tuple[str, ...]


def epoch_line(report: EpochReport) -> str:
    """One line: ``epoch 3/10: train 1.512 bits/dim, valid 1.498 bits/dim (best), 1,234 images/s, elapsed
    0:02:10, saved last.pt best.pt``; nats/image for binary data; ``(best 1.490)`` when it did not improve."""

    def loss(nats: float) -> str:
        return f"{nats:.2f} nats/image" if report.binary else f"{nats / (report.dims * math.log(2.0)):.4f} bits/dim"

    def number(nats: float) -> str:
        return loss(nats).split()[0]

    where = f"epoch {report.epoch}/{report.epochs}" + (" (cut short by max_steps)" if report.partial else "")
    train = "n/a" if report.train_nats is None else loss(report.train_nats)
    best = "new best" if report.improved else f"best {number(report.best_nats)}"
    speed = f"{report.images_per_second:,.0f} images/s, " if report.images_per_second > 0 else ""
    return (f"{where}: train {train}, {report.split} {loss(report.valid_nats)} ({best}), {speed}"
            f"elapsed {format_duration(report.elapsed)}, saved {' '.join(report.saved)}")


def format_duration(seconds: float) -> str:
    """``h:mm:ss`` of a number of seconds (rounded down)."""
    seconds = max(int(seconds), 0)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
