"""Exceptions that mean "the user gave us something wrong".

The command line prints these as one line and exits non-zero; anything else is a bug and keeps its traceback.
The helpers at the end format the parts of such a line.
"""

from __future__ import annotations


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
