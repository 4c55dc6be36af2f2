"""What every handler of the page shares, without gradio: one-line errors into a status, whole numbers and class
choices from the controls, and long jobs streamed as updates (``{component: value}`` dicts, as gradio takes them).
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch

from pixelrnn.errors import ConfigError, PixelRNNError, first_line
from pixelrnn.ui.images import picture
from pixelrnn.ui.jobs import Cancelled, Done, watch

logger = logging.getLogger("pixelrnn")
IN_TURN = -1  # the samples' class menu: the classes 0, 1, … in turn


def guarded(status: Any) -> Callable:
    """Decorator: the handler (a function or a generator) becomes a generator of updates whose PixelRNNError —
    or a bug's first line, its traceback logged — is one line in ``status``; the server goes on."""
    def decorate(function: Callable) -> Callable:
        @functools.wraps(function)  # gradio reads the wrapped signature (a gr.Request parameter, say)
        def handler(*args: Any) -> Iterator[dict]:
            try:
                result = function(*args)
                yield from result if inspect.isgenerator(result) else [result]
            except PixelRNNError as error:
                yield {status: f"⚠ {first_line(error, 300)}"}
            except Exception as error:  # a bug: the log has its traceback; the page a line, and the server goes on
                logger.exception("pixelrnn ui: %s failed", function.__name__)
                yield {status: f"⚠ unexpected error ({type(error).__name__}: {first_line(error)}): see the server log"}
        return handler
    return decorate


def whole_number(value: float | None, what: str) -> int:
    """A number field's value as an int; ConfigError for an empty or fractional one."""
    if value is None or not float(value).is_integer():
        raise ConfigError(f"{what} must be a whole number, got {value}")
    return int(value)


def class_label(value: int | None) -> int | None:
    """A class menu's value as a label: None for none or for every class in turn."""
    return None if value is None or value == IN_TURN else int(value)


def stream_pictures(work: Callable, stop, num_levels: int, image: Any, status: Any, what: str,
                    columns: int | None = None) -> Iterator[dict]:
    """Updates of ``work``'s rows (see :func:`pixelrnn.ui.jobs.watch`): the picture so far into ``image``, "row k of
    H" into ``status``, then ``what`` and the time taken; "cancelled after row k" when stopped.

    A picture is sent once: the result, equal to the last row's images, comes as a status line alone (gradio
    rewrites a picture's file when it is sent again, and a browser still reading it would get half a file).
    """
    start, shown = time.perf_counter(), None
    try:
        for event in watch(work, stop):
            done = isinstance(event, Done)
            images = event.result if done else event.images
            line = f"{what} in {time.perf_counter() - start:.1f} s" if done else f"row {event.done} of {event.total}…"
            fresh = shown is None or not torch.equal(images, shown)
            shown = images
            yield {image: picture(images, num_levels, columns), status: line} if fresh else {status: line}
    except Cancelled as cancelled:
        row = cancelled.row
        yield {status: "cancelled" + (f" after row {row.done} of {row.total}" if row else "")}


def stream_steps(work: Callable, stop, status: Any, finish: Callable[[Any], dict]) -> Iterator[dict]:
    """Updates of a job without pictures: "step k of n" into ``status``, then ``finish(result)``."""
    try:
        for event in watch(work, stop):
            yield finish(event.result) if isinstance(event, Done) else {
                status: f"coded {event.done:,} of {event.total:,} sub-pixel steps…"}
    except Cancelled:
        yield {status: "cancelled"}
