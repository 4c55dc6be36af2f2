"""Files written so that no reader ever sees half of one.

:func:`atomic_write` writes to a temporary file beside the target and renames it over the target; a crash
leaves the old file (or none) and at worst a ``.NAME.tmpPID`` file, never a truncated target.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


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
