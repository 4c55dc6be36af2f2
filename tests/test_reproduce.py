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
    import results_page
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
    assert results_page.classification_note(figures) == \
        f"; classification accuracy {figures['accuracy']:.3f}, FID {figures['fid']:.1f}"


def test_the_compute_of_a_run_over_two_machines_is_split_by_machine_and_pauses_left_out(tmp_path):
    import json

    import shipping

    def line(epoch, step, seconds, kind="train"):
        return {"epoch": epoch, "step": step, "time": seconds, "kind": kind, "nats_per_image": 1.0,
                "bits_per_dim": 1.0}

    # machine A trains 0-1800 s (epoch 1 ends at 1800); an hour's pause; machine B 5400-9000 s (epochs 2 and 3)
    times = [*range(0, 1801, 300), *range(5400, 9001, 300)]
    lines = [line(0, index, float(seconds)) for index, seconds in enumerate(times)]  # train lines
    lines += [line(epoch, 0, float(seconds), "valid") for epoch, seconds in ((1, 1800), (2, 7200), (3, 9000))]
    lines.sort(key=lambda record: record["time"])
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(record) + "\n" for record in lines))
    (tmp_path / shipping.MACHINES_FILE).write_text(  # an older line without "threads": one thread
        json.dumps({"time": -1.0, "machine": "A"}) + "\n" + json.dumps({"time": 5000.0, "machine": "B"}) + "\n")
    compute = shipping.compute_used(tmp_path)
    assert compute["machines"] == [{"machine": "A", "cpu_hours": 0.5, "epochs": [1]},
                                   {"machine": "B", "cpu_hours": 1.0, "epochs": [2, 3]}]
    assert compute["epochs"] == 3 and compute["cpu_hours"] == 1.5 and compute["threads_text"] == "1 thread"
    assert compute["machine"] == "A (epoch 1, 0.5 h) and B (epochs 2-3, 1.0 h)"
    assert shipping.machines_text(compute["machines"][:1]) == "A"
    with (tmp_path / shipping.MACHINES_FILE).open("a") as machines:  # B on two threads after 6,900 s
        machines.write(json.dumps({"time": 6950.0, "machine": "B", "threads": 2}) + "\n")
    compute = shipping.compute_used(tmp_path)  # 5,400-6,900 s on one thread, 6,900-9,000 s on two
    assert compute["machines"][1] == {"machine": "B", "cpu_hours": round((1500 + 2 * 2100) / 3600, 2),
                                      "epochs": [2, 3]}
    assert compute["threads_text"] == "1-2 threads" and compute["threads"] == 2
    shipping.record_machine(tmp_path / "new", threads=2)
    assert shipping.read_json_lines(tmp_path / "new" / shipping.MACHINES_FILE)[0]["machine"] == shipping.machine_name()
    assert shipping.read_json_lines(tmp_path / "new" / shipping.MACHINES_FILE)[0]["threads"] == 2


def test_a_background_run_s_session_yields_under_autogroup_scheduling():
    # nice -n 19 alone does not make a run yield to the user's own work when the kernel groups by session
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        autogroup = Path(f"/proc/{process.pid}/autogroup")
        if not autogroup.exists():
            import pytest

            pytest.skip("this kernel has no autogroup scheduling: nice values alone decide")
        background.lower_session_priority(process.pid)
        assert autogroup.read_text().split()[-1] == "19"  # "/autogroup-N nice 19"
    finally:
        process.kill()


def test_a_finished_run_too_large_to_ship_gets_its_test_figure_and_compute_on_the_page(tmp_path, monkeypatch):
    import json

    import reproduce

    from pixelrnn.config import DataConfig, TrainConfig
    from pixelrnn.train import train

    runs_root, state = tmp_path / "runs", tmp_path / "reproduction"
    run = reproduce.Run("big", "seed/cifar10/row-lstm-epoch1", "cifar10.npz", "", "seed report",
                        not_shipped="not shipped: too large")
    train(runs_root / "big", data=DataConfig(name="digits", max_train_images=48, max_test_images=16),
          model="pixelcnn-small", model_overrides={"hidden_channels": 4, "num_layers": 1},
          config=TrainConfig(epochs=1, batch_size=16, sample_every=0, log_every=1, device="cpu"))
    (runs_root / "big" / "samples").mkdir()
    (runs_root / "big" / "samples" / "epoch_001.png").write_bytes(b"png")
    page = tmp_path / "reproduction.md"
    page.write_text(f"before\n{reproduce.BEGIN}\n{reproduce.END}\nafter\n")
    monkeypatch.setattr(reproduce, "STATE", state)
    monkeypatch.setattr(reproduce, "PAGE", page)
    monkeypatch.setattr(reproduce, "REPO", tmp_path)
    reproduce.save_state([run], runs_root)
    assert (state / "big" / "samples.png").read_bytes() == b"png"  # its training grid is the page's picture
    assert not (state / "big" / "last.pt").exists()  # finished: no resume state kept
    reproduce.page([run])
    (row,) = [line for line in page.read_text().splitlines() if line.startswith("| seed report")]
    lines = [json.loads(line) for line in (runs_root / "big" / "metrics.jsonl").read_text().splitlines()]
    test, train = lines[-1], [line["bits_per_dim"] for line in lines if line["kind"] == "train"]
    assert f"**{test['bits_per_dim']:.3f} bits/dim** (test after 1 epoch; training mean of that epoch " \
           f"{sum(train) / len(train):.3f})" in row
    assert "CPU h, 1 epoch, " in row and row.endswith("| not shipped: too large |")
    assert "6.91 bits/dim" in row  # the report's epoch-1 figure


def test_a_machine_s_epochs_are_given_as_their_spans():
    import shipping

    assert shipping._spans([7]) == "7"
    assert shipping._spans([1, 2, 3, 14, 15, 16]) == "1-3 and 14-16"
    assert shipping._spans([1, 3, 4, 9]) == "1, 3-4 and 9"
