"""Background training runs for ``reproduce.py start`` / ``stop``: one CPU thread each (or ``--threads``), lowest
priority, from a git worktree pinned at a commit (so that editing the repository never changes a running job),
surviving the shell that started them. Each run keeps ``RUN.log`` and ``RUN.pid`` beside its folder in the runs root.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def pinned_worktree(repo: Path, name: str) -> Path:
    """``../wt-NAME`` beside the repository: a detached worktree at the repository's HEAD, created if missing
    (an existing one is kept at its commit, so that a resumed run goes on with the code that started it)."""
    worktree = repo.parent / f"wt-{name}"
    if not (worktree / "src" / "pixelrnn").is_dir():
        subprocess.run(["git", "-C", str(repo), "worktree", "prune"], check=True)
        subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(worktree), "HEAD"], check=True)
    return worktree


def running_pid(pid_file: Path) -> int | None:
    """The pid in ``pid_file`` if that process is alive and is a ``pixelrnn train``; else None."""
    try:
        pid = int(pid_file.read_text())
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, ValueError):
        return None
    return pid if "pixelrnn train" in command else None


def start(worktree: Path, train_args: list[str], log: Path, pid_file: Path, threads: int = 1) -> int:
    """Launch ``python -m pixelrnn train TRAIN_ARGS`` from ``worktree`` in the background, on ``threads`` CPU
    threads; return its pid."""
    environment = {**os.environ, "PYTHONPATH": str(worktree / "src"), "OMP_NUM_THREADS": str(threads),
                   "MKL_NUM_THREADS": str(threads)}
    with log.open("a") as output:
        process = subprocess.Popen(["nice", "-n", "19", sys.executable, "-m", "pixelrnn", "train", *train_args],
                                   cwd=worktree, env=environment, stdout=output, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    pid_file.write_text(f"{process.pid}\n")
    lower_session_priority(process.pid)
    return process.pid


def lower_session_priority(pid: int) -> None:
    """Give the run's session the lowest priority too. Under Linux's autogroup scheduling (on where
    ``/proc/sys/kernel/sched_autogroup_enabled`` is 1) each session shares the CPU equally with the others whatever
    its processes' nice values, so ``nice -n 19`` alone leaves a background run an equal share against the user's
    own work; the session's nice value, in ``/proc/PID/autogroup``, is what yields. Best effort: skipped where the
    file is missing or not writable."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/autogroup").write_text("19\n")


def stop(pid_file: Path, timeout: float = 300.0) -> bool:
    """SIGINT the run (it saves ``last.pt`` at the next step boundary) and wait for it; False if none ran."""
    pid = running_pid(pid_file)
    if pid is None:
        return False
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + timeout
    while running_pid(pid_file) is not None and time.monotonic() < deadline:
        time.sleep(1.0)
    return True
