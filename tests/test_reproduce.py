"""experiments/background.py: the background runs of ``reproduce.py start`` / ``stop``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "experiments"))

import background  # noqa: E402


def test_stop_interrupts_a_running_train_and_waits_for_it(tmp_path):
    # a stand-in whose command line reads like a run's: "python -c … pixelrnn train"
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "pixelrnn", "train"])
    pid_file = tmp_path / "run.pid"
    pid_file.write_text(f"{process.pid}\n")
    assert background.running_pid(pid_file) == process.pid
    assert background.stop(pid_file, timeout=30)
    assert process.wait(timeout=30) != 0  # SIGINT: KeyboardInterrupt
    assert background.running_pid(pid_file) is None
    assert not background.stop(pid_file)  # nothing left to stop


def test_a_pid_file_of_another_program_or_of_nothing_is_not_a_run(tmp_path):
    pid_file = tmp_path / "run.pid"
    assert background.running_pid(pid_file) is None  # no file
    pid_file.write_text("not a pid")
    assert background.running_pid(pid_file) is None
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        pid_file.write_text(str(process.pid))
        assert background.running_pid(pid_file) is None  # alive, but not a pixelrnn train
    finally:
        process.kill()
        process.wait()
