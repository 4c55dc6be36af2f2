"""Exceptions that mean "the user gave us something wrong".

The command line prints these as one line and exits non-zero; anything else is a bug and keeps its traceback.
The helpers at the end format the parts of such a line.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class PixelRNNError(Exception):
    """Base class of every user-facing error raised by the library."""


class ConfigError(PixelRNNError, ValueError):
    """An invalid configuration value (unknown name, out-of-range number, incompatible fields)."""


class DataError(PixelRNNError):
    """A data set that is missing, corrupt, or does not fit the model."""


class CheckpointError(PixelRNNError):
    """A checkpoint that is missing, corrupt, or was written by an incompatible version."""


class WriteError(PixelRNNError, OSError):
    """A file that cannot be written: no space left, no permission, a read-only folder."""


class RunFolderError(PixelRNNError):
    """A run folder that cannot be used as asked: it holds another run, another process trains in it, or its
    checkpoint is not the run's."""


class TrainingDiverged(PixelRNNError):
    """The loss or the weights became non-finite; the last finite checkpoint is kept."""


def describe_shape(shape: tuple[int, ...]) -> str:
    """``(3, 32, 32)`` → ``3×32×32``, as every message writes a shape."""
    return "×".join(str(size) for size in shape)


def first_line(error: BaseException, limit: int = 120) -> str:
    """The first line of an exception's message (its type name when empty), cut to ``limit`` characters."""
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:limit]


def path_kind(path: str | Path) -> str:
    """What is at ``path``, in words for a message: ``nothing``, ``a folder``, ``a file``, ``a character device``
    (``/dev/null``), ``a block device``, ``a named pipe``, ``a socket``, or why it cannot be looked at."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "nothing"
    except OSError as error:
        return f"unreadable ({error.strerror or error})"
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISREG, "a file"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"))
    return next((kind for test, kind in kinds if test(mode)), "no regular file")


def describe_mismatch(expected: Mapping[str, Any], found: Mapping[str, Any]) -> str:
    """One line on how the tensors ``found`` (a file's state dict) differ from those a model ``expected`` (its
    state dict): the first tensor of another shape, or the first missing or unexpected name, and how many more.
    Empty when names and shapes agree."""
    problems = [f"{name} is {describe_shape(tuple(found[name].shape))} in the file but "
                f"{describe_shape(tuple(expected[name].shape))} in the model"
                for name in expected if name in found and tuple(found[name].shape) != tuple(expected[name].shape)]
    problems += [f"{name} is missing from the file" for name in expected if name not in found]
    problems += [f"{name} in the file is not in the model" for name in found if name not in expected]
    if not problems:
        return ""
    return problems[0] + (f" (and {len(problems) - 1} more difference(s))" if len(problems) > 1 else "")
