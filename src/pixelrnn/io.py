"""Files written so that no reader ever sees half of one, torch files read without running their code, and locks.

:func:`atomic_write` writes to a temporary file beside the target and renames it over the target; a crash
leaves the old file (or none) and at worst a ``.NAME.tmpPID`` file (:func:`remove_stale_temporaries` clears those
of dead processes), never a truncated target. A failed write (a full disk, a read-only folder) raises one
:class:`~pixelrnn.errors.WriteError` line naming the target. :func:`load_weights_only` reads a torch file with
``weights_only=True`` (tensors and plain values, no pickled code) and turns any failure into one
:class:`~pixelrnn.errors.CheckpointError` line. :func:`file_lock` is an exclusive ``flock`` that the kernel
drops when its process exits, however it exits.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from pixelrnn.errors import CheckpointError, WriteError, first_line

_TEMPORARY = re.compile(r"^\..+\.tmp(\d+)")  # atomic_write's ".NAME.tmpPID[suffix]"


def atomic_write(path: str | Path, write: Callable[[Path], object], suffix: str = "") -> Path:
    """Call ``write(tmp_path)`` and rename the result onto ``path``; ``suffix`` ends the temporary name (for
    writers that add their own extension, e.g. ``np.savez``).

    The file gets the permissions of a plain new file (0o666 less the umask), whatever ``write`` gave it.

    Raises:
        WriteError: the write or the rename failed (no space left, no permission, ...); ``path`` is unchanged.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}{suffix}")
    try:
        write(tmp)
        os.chmod(tmp, _plain_file_mode())  # as a plain open() would make it: writers such as safetensors use 0600
        os.replace(tmp, path)
    except OSError as error:
        raise WriteError(f"cannot write {path}: {error.strerror or first_line(error)}") from error
    except RuntimeError as error:  # torch.save reports a failed write (e.g. a full disk) from its C++ writer
        raise WriteError(f"cannot write {path}: the write failed ({_free_space(path.parent)} free on its disk; "
                         "the previous file is kept)") from error
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return path


def _plain_file_mode() -> int:
    """The permissions ``open(path, "w")`` gives a new file: 0o666 less the process's umask (0644 with umask 022)."""
    umask = os.umask(0o022)  # reading the umask means setting it: put it back at once
    os.umask(umask)
    return 0o666 & ~umask


def write_json(path: str | Path, content: Any) -> Path:
    """Write ``content`` as indented JSON, atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(json.dumps(content, indent=2) + "\n"))


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files that :func:`atomic_write` left in ``folder`` when its process was killed
    (those whose process is no longer alive); returns them."""
    removed = []
    for path in Path(folder).glob(".*.tmp*"):
        match = _TEMPORARY.match(path.name)
        if match and path.is_file() and not _process_alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


@contextlib.contextmanager
def file_lock(path: str | Path, wait: bool = True) -> Iterator[int | None]:
    """An exclusive ``flock`` on ``path`` (created if missing): its descriptor, or None when ``wait`` is False and
    another process holds it. The kernel releases the lock when the holder exits, however it exits."""
    import fcntl  # POSIX only

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield None
            return
        yield descriptor
    finally:
        os.close(descriptor)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _free_space(folder: Path) -> str:
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return "unknown space"
    return f"{free / 2**20:.1f} MiB"


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
