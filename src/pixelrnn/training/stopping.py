"""When a training run stops or saves between steps: SIGINT / SIGTERM deferred to a step boundary, the
checkpoint cadence, and the divergence check.

A signal must never land inside an optimizer step: a checkpoint saved there holds half an update (dropout masks
drawn, some parameters stepped) and the resumed run would differ from an uninterrupted one. :class:`StopSignals`
therefore records SIGINT and SIGTERM while a :meth:`StopSignals.deferred` block runs (a step and its
bookkeeping; an epoch's record; drawing the loss curves) and the loop stops at the block's end, at a step boundary;
anywhere else (evaluation, sampling: nothing there changes the training state) the signal stops the run at once.
Either way the run saves ``last.pt`` at the boundary, so resuming after Ctrl-C or a scheduler's SIGTERM is as
exact as resuming after SIGKILL from the last checkpoint. A second signal inside a deferred block stops at once
without saving (the previous checkpoint is kept).
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import torch

from pixelrnn.errors import TrainingDiverged
from pixelrnn.runtime import Runtime, all_reduce_sum

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequested(KeyboardInterrupt):
    """A stop asked by SIGINT or SIGTERM (``signal_number``); ``at_boundary`` is False when it interrupted a
    deferred block (a second signal), whose half-done state must not be saved."""

    def __init__(self, signal_number: int, at_boundary: bool = True) -> None:
        super().__init__(signal.Signals(signal_number).name)
        self.signal_number, self.at_boundary = signal_number, at_boundary


class StopSignals:
    """SIGINT and SIGTERM handlers for the duration of a ``with`` block (main thread only; elsewhere inert)."""

    def __init__(self) -> None:
        self.pending: int | None = None  # the signal received inside a deferred block
        self._deferring = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for number in STOP_SIGNALS:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Run the block whole: a signal arriving inside it is recorded in :attr:`pending`, not raised."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False

    def _handle(self, number: int, frame: object) -> None:
        if self._deferring and self.pending is None:
            self.pending = number
            return
        raise StopRequested(number, at_boundary=not self._deferring)


class CheckpointCadence:
    """Whether ``last.pt`` is due inside an epoch: every ``every_steps`` steps and/or ``every_minutes`` minutes
    since the last save (0 turns either off)."""

    def __init__(self, every_steps: int, every_minutes: float) -> None:
        self.every_steps, self.every_seconds = every_steps, every_minutes * 60.0
        self.saved_at = time.monotonic()

    def due(self, step: int) -> bool:
        by_steps = self.every_steps > 0 and step % self.every_steps == 0
        return by_steps or (self.every_seconds > 0 and time.monotonic() - self.saved_at >= self.every_seconds)

    def saved(self) -> None:
        self.saved_at = time.monotonic()


def agree(runtime: Runtime, *flags: bool) -> list[bool]:
    """Each flag, true if it is true on any process (one small all-reduce; the flags themselves in one process),
    so that every process stops or saves at the same step."""
    if not runtime.distributed:
        return list(flags)
    summed = all_reduce_sum(torch.tensor([float(flag) for flag in flags]), runtime)
    return [value > 0 for value in summed.tolist()]


def check_finite_loss(nats_per_image: float, step: int, last_saved_step: int | None) -> None:
    """Raise :class:`TrainingDiverged` when a step's loss is NaN or infinite."""
    if not math.isfinite(nats_per_image):
        raise TrainingDiverged(f"training diverged at step {step}: the loss is {nats_per_image} nats/image "
                               f"({_kept(last_saved_step)}; lower --lr or clip gradients with --grad-clip)")


def check_finite_weights(model: torch.nn.Module, step: int, last_saved_step: int | None) -> None:
    """Raise :class:`TrainingDiverged` when a parameter holds a NaN or an infinity (nothing is saved then)."""
    for name, parameter in model.named_parameters():
        if not torch.isfinite(parameter).all():
            raise TrainingDiverged(f"training diverged at step {step}: weight {name} is not finite "
                                   f"({_kept(last_saved_step)}; lower --lr or clip gradients with --grad-clip)")


def _kept(last_saved_step: int | None) -> str:
    if last_saved_step is None:
        return "no checkpoint was written"
    return f"last.pt keeps the last finite weights, of step {last_saved_step}"
