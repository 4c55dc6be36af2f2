"""Fault injection (issue #16): SIGKILL, SIGTERM and SIGINT at random moments of a real ``pixelrnn train``
process that saves a checkpoint after every step (so that many signals land inside checkpoint writes), then
``--resume`` (or a fresh start when it died before its first checkpoint) until it finishes: the final weights,
averaged weights, optimizer state, progress and metrics equal those of an uninterrupted run."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest
from test_run_safety import _assert_same, _state

COMMAND = [sys.executable, "-m", "pixelrnn", "train", "--data", "digits", "--max-train-images", "192",
           "--max-test-images", "32", "--model", "pixelcnn", "--hidden-channels", "4", "--layers", "1",
           "--output-channels", "8", "--batch-size", "16", "--epochs", "2", "--ema-decay", "0.9", "--seed", "5",
           "--sample-every", "0", "--log-every", "1", "--checkpoint-every", "1", "--device", "cpu"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
# 128 + N: stopped and saved by pixelrnn; -N: killed by the signal (before the handlers were set or after they were
# removed, at start-up or exit; SIGINT's KeyboardInterrupt at exit ends so too)
EXPECTED_STATUS = {signal.SIGKILL: {-signal.SIGKILL}, signal.SIGTERM: {143, -signal.SIGTERM},
                   signal.SIGINT: {130, -signal.SIGINT}}


def _start(run_dir, resume: bool) -> subprocess.Popen:
    extra = ["--resume"] if resume else []
    return subprocess.Popen([*COMMAND, "--run-dir", str(run_dir), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)


def _wait_for_training(process: subprocess.Popen, run_dir) -> None:
    metrics = run_dir / "metrics.jsonl"
    while process.poll() is None and not (metrics.is_file() and metrics.stat().st_size):
        time.sleep(0.01)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run, and how long its training part took (seconds)."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    process = _start(run_dir, resume=False)
    _wait_for_training(process, run_dir)
    started = time.monotonic()
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    return _state(run_dir), time.monotonic() - started


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("signal_number", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_a_signal_at_a_random_moment_then_resume_equals_the_uninterrupted_run(tmp_path, reference, signal_number,
                                                                               seed):
    expected, duration = reference
    run_dir = tmp_path / "run"
    process = _start(run_dir, resume=False)
    _wait_for_training(process, run_dir)
    time.sleep(random.Random(seed * 10 + signal_number).uniform(0.0, duration))
    process.send_signal(signal_number)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode in EXPECTED_STATUS[signal_number] | {0}, stderr  # 0: it had finished already
    assert "Traceback" not in stderr, stderr
    for _ in range(3):  # a fresh start when it died before its first checkpoint, else --resume
        if process.returncode == 0:
            break
        process = _start(run_dir, resume=(run_dir / "last.pt").is_file())
        _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    _assert_same(_state(run_dir), expected)
    assert not list(run_dir.glob(".*.tmp*"))  # a write cut by SIGKILL left no temporary file behind
