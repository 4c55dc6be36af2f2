"""Long operations of the page: run in a thread, watched row by row, stopped on request.

:func:`watch` runs ``work(on_row)`` — a sampling or a completion — in a thread and yields its progress as it
comes: a :class:`Row` for the newest row (older ones not yet shown are skipped, so a slow browser never falls
behind), then the result. :class:`Jobs` holds one stop flag per browser session: the page's Cancel button sets
it, and the work stops at its next row with :class:`Cancelled`.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from pixelrnn.sampling import RowCallback


class Cancelled(Exception):
    """The user stopped the work; ``row`` is the last one finished (None: before the first)."""

    def __init__(self, row: Row | None = None):
        super().__init__("cancelled")
        self.row = row


@dataclass(frozen=True)
class Row:
    """Progress: the images so far (B, C, H, W), or None for a job without pictures, after ``done`` of ``total``
    steps (rows)."""

    images: torch.Tensor | None
    done: int
    total: int


@dataclass(frozen=True)
class Done:
    """The work's result."""

    result: Any


class Jobs:
    """One stop flag per session (a browser tab): :meth:`start` a job, :meth:`cancel` it from another request."""

    def __init__(self) -> None:
        self._flags: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def start(self, session: str) -> threading.Event:
        """A fresh stop flag for ``session``'s new job (its previous job, if still running, is stopped)."""
        flag = threading.Event()
        with self._lock:
            previous = self._flags.get(session)
            if previous is not None:
                previous.set()
            self._flags[session] = flag
        return flag

    def cancel(self, session: str) -> bool:
        """Stop ``session``'s job; False when it has none running."""
        with self._lock:
            flag = self._flags.get(session)
        if flag is None or flag.is_set():
            return False
        flag.set()
        return True


def watch(work: Callable[[RowCallback], Any], stop: threading.Event) -> Iterator[Row | Done]:
    """Run ``work(on_row)`` in a thread; yield the newest :class:`Row` as rows finish, then :class:`Done`.

    Raises:
        Cancelled: ``stop`` was set (the work stopped at its next row).
        Exception: whatever ``work`` raised.
    """
    events: queue.Queue = queue.Queue()

    def on_row(images: torch.Tensor | None, done: int, total: int) -> None:
        if stop.is_set():
            raise Cancelled
        events.put(Row(None if images is None else images.detach().cpu().clone(), done, total))

    def run() -> None:
        try:
            events.put(Done(work(on_row)))
        except BaseException as error:  # handed to the watching generator, which raises it
            events.put(error)

    threading.Thread(target=run, name="pixelrnn-ui-job", daemon=True).start()
    last: Row | None = None
    try:
        while True:
            event = _newest(events)
            if isinstance(event, Row):
                last = event
                yield event
                continue
            if isinstance(event, Cancelled):
                raise Cancelled(last)
            if isinstance(event, BaseException):
                raise event
            yield event
            return
    finally:
        stop.set()  # a watcher closed early (the browser left) stops the work too


def _newest(events: queue.Queue) -> Any:
    """The next event, skipping rows that a newer row or the end has already replaced."""
    event = events.get()
    while isinstance(event, Row):
        try:
            following = events.get_nowait()
        except queue.Empty:
            return event
        event = following
    return event
