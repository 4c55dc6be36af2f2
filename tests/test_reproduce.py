"""experiments/background.py: the background runs of ``reproduce.py start`` / ``stop``."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "experiments"))

import background  # noqa: E402


def test_stop_interrupts_a_running_train_and_waits_for_it(tmp_path):
    # a stand-in whose command line reads like a run's: "python -c … pixelrnn train"
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "pixelrnn", "train"])
    pid_file = tmp_path / "run.pid"
    pid_file.write_text(f"{process.pid}\n")
    deadline = time.monotonic() + 30  # until the child has exec'd: before that, /proc shows the parent's command
    while background.running_pid(pid_file) is None and time.monotonic() < deadline:
        time.sleep(0.05)
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


def test_a_conditional_run_ships_with_its_classification_and_fid_on_the_card_and_page(tmp_path, monkeypatch):
    import reproduce
    import shipping
    from tiny_runs import tiny_digits_run

    from pixelrnn.config import DataConfig

    run = tiny_digits_run(tmp_path / "run", conditional=True)
    monkeypatch.setattr(shipping, "FID_SAMPLES", 20)
    data = DataConfig(name="digits", max_train_images=48, max_test_images=16)
    figures = shipping.conditional_figures(run / "best.pt", data)
    confusion = figures["confusion"]
    assert len(confusion) == 10 and sum(map(sum, confusion)) == 16  # every test image classified once
    assert figures["accuracy"] == sum(confusion[k][k] for k in range(10)) / 16
    assert figures["fid"] >= 0 and (figures["fid_samples"], figures["fid_reference_images"]) == (20, 16)
    lines = shipping._conditional_lines(figures)
    assert f"accuracy {figures['accuracy']:.4f}" in lines and f"{figures['fid']:.2f}" in lines
    assert shipping._conditional_lines(None) == ""
    assert reproduce._classification_note(figures) == \
        f"; classification accuracy {figures['accuracy']:.3f}, FID {figures['fid']:.1f}"
