"""Files written so that no reader ever sees half of one, and torch files read without running their code.

:func:`atomic_write` writes to a temporary file beside the target and renames it over the target; a crash
leaves the old file (or none) and at worst a ``.NAME.tmpPID`` file, never a truncated target.
:func:`load_weights_only` reads a torch file with ``weights_only=True`` (tensors and plain values, no pickled
code) and turns any failure into one :class:`~pixelrnn.errors.CheckpointError` line.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from pixelrnn.errors import CheckpointError, first_line


def atomic_write(path: str | Path, write: Callable[[Path], object], suffix: str = "") -> Path:
    """Call ``write(tmp_path)`` and rename the result onto ``path``; ``suffix`` ends the temporary name (for
    writers that add their own extension, e.g. ``np.savez``)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}{suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_weights_only(path: str | Path, what: str, map_location: str | torch.device = "cpu") -> Any:
    """The object saved in ``path``, read with ``weights_only=True``.

    Raises:
        CheckpointError: ``{path} is not a readable {what} (first line of the reason)``.
    """
    try:
        with warnings.catch_warnings():  # damaged bytes make torch warn of odd pickle protocols: the error says it
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # noqa: BLE001 -- unpickling foreign bytes can raise anything (IndexError, KeyError, ...)
        raise CheckpointError(f"{path} is not a readable {what} ({first_line(error)})") from error
