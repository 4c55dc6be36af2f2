"""Runs that never lose work (issue #16): a trained folder is never replaced unasked, one process trains in a
folder at a time, a foreign checkpoint is refused, a signal inside a step waits for its boundary, checkpoints
inside an epoch resume exactly, divergence stops the run keeping the last finite checkpoint, and failed writes
end in one line with the previous files intact."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

from pixelrnn.checkpoint import load_checkpoint
from pixelrnn.cli import main
from pixelrnn.config import DataConfig, TrainConfig
from pixelrnn.errors import TrainingDiverged
from pixelrnn.io import file_lock
from pixelrnn.run_folder import read_json_lines
from pixelrnn.train import train

DATA = DataConfig(name="digits", max_train_images=64, max_test_images=16)
TINY = {"hidden_channels": 4, "num_layers": 1, "output_channels": 8}
CLI_RUN = ["--data", "digits", "--max-train-images", "64", "--max-test-images", "16", "--model", "pixelcnn",
           "--layers", "1", "--output-channels", "8", "--batch-size", "16", "--sample-every", "0", "--log-every",
           "1", "--device", "cpu", "--hidden-channels", "4"]


def _config(**changes) -> TrainConfig:
    base = TrainConfig(epochs=2, batch_size=16, eval_batch_size=64, sample_every=0, log_every=1, seed=1, device="cpu",
                       lr=3e-3, ema_decay=0.9)
    return dataclasses.replace(base, **changes)


def _train(run_dir, **changes):
    return train(run_dir, data=DATA, model="pixelcnn", model_overrides=TINY, config=_config(**changes))


def _state(run_dir) -> dict:
    """What an exact resume must reproduce: weights, averaged weights, optimizer state, progress, metrics."""
    checkpoint = load_checkpoint(run_dir / "last.pt")
    metrics = [{key: value for key, value in line.items() if key not in ("time", "images_per_second")}
               for line in read_json_lines(run_dir / "metrics.jsonl")]
    return {"model": checkpoint["model"], "ema": checkpoint["ema"], "optimizer": checkpoint["optimizer"],
            "progress": {key: value for key, value in checkpoint["progress"].items() if key != "elapsed_seconds"},
            "metrics": metrics}


def _assert_same(actual: dict, expected: dict) -> None:
    for key in ("model", "ema"):
        assert actual[key].keys() == expected[key].keys()
        assert all(torch.equal(actual[key][name], expected[key][name]) for name in expected[key]), key
    for index, state in expected["optimizer"]["state"].items():
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(actual["optimizer"]["state"][index][name]), torch.as_tensor(value))
    assert actual["progress"] == expected["progress"]
    assert actual["metrics"] == expected["metrics"]


def _one_line_error(capsys, argv: list[str], *expected: str) -> str:
    capsys.readouterr()  # what earlier commands printed
    assert main(argv) == 2
    output = capsys.readouterr().err
    err = output.strip().splitlines()[-1]  # after a training run's progress bar, if it started
    assert err.startswith("pixelrnn: error:") and output.count("pixelrnn:") == 1 and "Traceback" not in output, output
    for text in expected:
        assert text in err, err
    return err


# ------------------------------------------------------------------------------------------------ the folder
def test_a_trained_folder_is_not_replaced_without_overwrite(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--run-dir", str(run), "--epochs", "1", *CLI_RUN]) == 0
    before = {name: (run / name).read_bytes() for name in ("last.pt", "best.pt", "metrics.jsonl")}
    _one_line_error(capsys, ["train", "--run-dir", str(run), "--max-steps", "1", *CLI_RUN], "--resume",
                    "--overwrite")
    assert {name: (run / name).read_bytes() for name in before} == before  # nothing touched
    _one_line_error(capsys, ["train", "--run-dir", str(run), "--resume", "--overwrite"], "give one")
    assert main(["train", "--run-dir", str(run), "--max-steps", "1", "--overwrite", *CLI_RUN]) == 0
    assert load_checkpoint(run / "last.pt")["progress"]["step"] == 1


def test_a_folder_with_only_the_metrics_of_a_run_killed_early_starts_afresh(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"epoch": 0, "step": 1, "kind": "train"}\n')  # no checkpoint was written
    assert _train(run, max_steps=2).steps == 2


def test_one_training_process_per_folder_and_a_dead_holder_frees_it(tmp_path, capsys):
    run = tmp_path / "run"
    with file_lock(run / ".lock", wait=False) as held:  # another process trains here
        assert held is not None
        _one_line_error(capsys, ["train", "--run-dir", str(run), "--max-steps", "1", *CLI_RUN],
                        "another process is training")
    assert not (run / "last.pt").exists()
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, os, sys, time; fd = os.open(sys.argv[1], "
                               "os.O_RDWR | os.O_CREAT); fcntl.flock(fd, fcntl.LOCK_EX); print(1, flush=True); "
                               "time.sleep(60)", str(run / ".lock")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "1"  # it holds the lock
    _one_line_error(capsys, ["train", "--run-dir", str(run), "--max-steps", "1", *CLI_RUN], "another process")
    holder.kill()  # a crash: the kernel drops its lock
    holder.wait()
    assert main(["train", "--run-dir", str(run), "--max-steps", "1", *CLI_RUN]) == 0


def test_a_foreign_last_pt_is_refused_on_resume(tmp_path, capsys):
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    assert main(["train", "--run-dir", str(ours), "--max-steps", "2", *CLI_RUN]) == 0
    assert main(["train", "--run-dir", str(theirs), "--max-steps", "2", *CLI_RUN[:-1], "6"]) == 0  # hidden 6
    shutil.copy(theirs / "last.pt", ours / "last.pt")
    _one_line_error(capsys, ["train", "--run-dir", str(ours), "--resume"], "not this run's checkpoint",
                    "hidden_channels")


def test_stale_temporary_files_of_killed_writers_are_removed(tmp_path):
    run = tmp_path / "run"
    _train(run, max_steps=1)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = run / f".last.pt.tmp{int(dead.stdout)}"
    stale.write_bytes(b"half a checkpoint")
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    theirs = run / f".samples.png.tmp{alive.pid}"  # a live process's file is not touched
    theirs.write_bytes(b"being written")
    try:
        train(run, resume=True, train_overrides={"max_steps": 2})
    finally:
        alive.kill()
        alive.wait()
    assert not stale.exists() and theirs.exists()


# --------------------------------------------------------------------------------------------- the signals
@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_inside_an_optimizer_step_waits_for_the_boundary_and_resumes_exactly(tmp_path, signal_number):
    full = tmp_path / "full"
    _train(full)
    stopped = tmp_path / "stopped"
    steps = []

    def signal_inside_the_step(optimizer, args, kwargs):  # before the parameters are updated
        steps.append(1)
        if len(steps) == 3:
            os.kill(os.getpid(), signal_number)

    handle = register_optimizer_step_pre_hook(signal_inside_the_step)
    try:
        result = _train(stopped)
    finally:
        handle.remove()
    assert result.interrupted and result.saved and result.signal_number == signal_number and result.steps == 3
    train(stopped, resume=True)
    _assert_same(_state(stopped), _state(full))


def test_a_second_signal_inside_a_step_stops_at_once_keeping_the_previous_checkpoint(tmp_path):
    run = tmp_path / "run"
    steps = []

    def two_signals(optimizer, args, kwargs):
        steps.append(1)
        if len(steps) == 3:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    handle = register_optimizer_step_pre_hook(two_signals)
    try:
        result = _train(run, checkpoint_every=1)
    finally:
        handle.remove()
    assert result.interrupted and not result.saved
    assert load_checkpoint(run / "last.pt")["progress"]["step"] == 2  # the last whole step's checkpoint


def test_the_cli_reports_a_sigterm_stop_with_status_143(tmp_path):
    command = [sys.executable, "-m", "pixelrnn", "train", "--run-dir", str(tmp_path / "run"), "--epochs", "1000",
               *CLI_RUN]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    metrics = tmp_path / "run" / "metrics.jsonl"
    while not (metrics.is_file() and metrics.read_text().count("\n") >= 2) and process.poll() is None:
        pass
    process.terminate()
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert "stopped by SIGTERM" in stderr and "--resume" in stderr and "Traceback" not in stderr
    assert load_checkpoint(tmp_path / "run" / "last.pt")["progress"]["step"] >= 2


# ------------------------------------------------------------------------------------ checkpoints, divergence
def test_checkpoints_inside_an_epoch_resume_exactly(tmp_path):
    full = tmp_path / "full"
    _train(full)
    run = tmp_path / "run"
    steps = []

    def crash_in_step_5(optimizer, args, kwargs):  # a crash: nothing is saved at the crash itself
        steps.append(1)
        if len(steps) == 6:
            raise RuntimeError("power cut")

    handle = register_optimizer_step_pre_hook(crash_in_step_5)
    try:
        with pytest.raises(RuntimeError, match="power cut"):
            _train(run, checkpoint_every=5)  # 4 steps per epoch: saved at 4 (the epoch's end) and 5
    finally:
        handle.remove()
    progress = load_checkpoint(run / "last.pt")["progress"]
    assert (progress["step"], progress["epoch"], progress["batch_in_epoch"]) == (5, 1, 1)
    train(run, resume=True)
    _assert_same(_state(run), _state(full))


def test_divergence_stops_the_run_and_keeps_the_last_finite_checkpoint(tmp_path):
    run = tmp_path / "run"
    steps = []

    def poison(optimizer, args, kwargs):  # after step 3 updated them, the weights hold a NaN
        steps.append(1)
        if len(steps) == 3:
            with torch.no_grad():
                optimizer.param_groups[0]["params"][0].view(-1)[0] = float("nan")

    handle = register_optimizer_step_post_hook(poison)
    try:
        with pytest.raises(TrainingDiverged, match="step 3.*step 2"):
            _train(run, checkpoint_every=1)
    finally:
        handle.remove()
    checkpoint = load_checkpoint(run / "last.pt")
    assert checkpoint["progress"]["step"] == 2
    assert all(torch.isfinite(value).all() for value in checkpoint["model"].values())


def test_a_nan_loss_stops_the_run_with_a_one_line_error(tmp_path, capsys, monkeypatch):
    from pixelrnn.heads.categorical import Categorical

    log_prob = Categorical.log_prob
    monkeypatch.setattr(Categorical, "log_prob", lambda self, params, x: log_prob(self, params, x) * float("nan"))
    _one_line_error(capsys, ["train", "--run-dir", str(tmp_path / "run"), "--max-steps", "3", *CLI_RUN],
                    "training diverged at step 1", "nan nats/image", "no checkpoint was written")
    assert not (tmp_path / "run" / "best.pt").exists()


@pytest.mark.parametrize(("flag", "value"), [("--lr", "inf"), ("--lr", "nan"), ("--grad-clip", "inf"),
                                             ("--ema-decay", "nan"), ("--adam-beta1", "nan")])
def test_non_finite_flags_are_refused(tmp_path, capsys, flag, value):
    try:
        status = main(["train", "--run-dir", str(tmp_path / "run"), flag, value, *CLI_RUN])
    except SystemExit as exit_:  # argparse's type check
        status = exit_.code
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1 and err.startswith("pixelrnn: error:"), err
    assert "finite" in err or "in [0, 1)" in err or "in (0, 1)" in err, err
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------------------------------ failed writes
def test_a_full_disk_during_a_checkpoint_is_one_line_and_keeps_the_old_checkpoints(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    assert main(["train", "--run-dir", str(run), "--epochs", "1", *CLI_RUN]) == 0
    before = {name: (run / name).read_bytes() for name in ("last.pt", "best.pt")}
    save = torch.save

    def disk_full(obj, path, *args, **kwargs):  # half the bytes, then the C++ writer's error
        save(obj, path, *args, **kwargs)
        with open(path, "r+b") as handle:
            handle.truncate(100)
        raise RuntimeError("[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing file "
                           "data/3: file write failed")

    monkeypatch.setattr(torch, "save", disk_full)
    _one_line_error(capsys, ["train", "--run-dir", str(run), "--resume", "--epochs", "2"], "cannot write",
                    "free on its disk")
    assert {name: (run / name).read_bytes() for name in before} == before
    assert not list(run.glob(".*.tmp*"))


def test_unwritable_outputs_are_one_line_errors(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--run-dir", str(run), "--max-steps", "2", *CLI_RUN]) == 0
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    _one_line_error(capsys, ["train", "--run-dir", str(blocker / "run"), "--max-steps", "1", *CLI_RUN],
                    "cannot write")
    _one_line_error(capsys, ["sample", str(run), "-n", "2", "--out", str(blocker / "x.png")])
    _one_line_error(capsys, ["export", str(run), str(blocker)], "it is a file")
    _one_line_error(capsys, ["export", str(run), str(blocker / "exported")])
    _one_line_error(capsys, ["export", str(run), str(run)], "holds other files")  # never over a run folder
    _one_line_error(capsys, ["compare", str(run), "--out", str(blocker / "report")])


def test_a_truncated_export_is_one_line(tmp_path):
    from pixelrnn.errors import CheckpointError
    from pixelrnn.export import export_model, from_pretrained

    _train(tmp_path / "run", max_steps=1)
    exported = export_model(tmp_path / "run" / "last.pt", tmp_path / "exported")
    weights = exported / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:60])
    with pytest.raises(CheckpointError, match="is not a pixelrnn export"):
        from_pretrained(exported)
    export_model(tmp_path / "run" / "last.pt", exported)  # an earlier export is replaced
    assert from_pretrained(exported) is not None


# ----------------------------------------------------------------------------------- bad input, one line each
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A small unconditional and a small class-conditional run."""
    folder = tmp_path_factory.mktemp("runs")
    assert main(["train", "--run-dir", str(folder / "plain"), "--max-steps", "2", *CLI_RUN]) == 0
    assert main(["train", "--run-dir", str(folder / "conditional"), "--max-steps", "2", "--conditional",
                 *CLI_RUN]) == 0
    return folder


def test_class_labels_that_do_not_fit_the_model_are_one_line(runs, tmp_path, capsys):
    complete = ["complete", "--test-index", "0", "--keep-rows", "3", "--out", str(tmp_path / "c.png")]
    _one_line_error(capsys, [*complete, str(runs / "conditional"), "--class", "12"], "--class must be in [0, 9]")
    _one_line_error(capsys, [*complete, str(runs / "plain"), "--class", "3"], "unconditional")
    (tmp_path / "a-file").write_text("not a folder")
    _one_line_error(capsys, [*complete[:-1], str(tmp_path / "a-file" / "c.png"), str(runs / "plain")])


def test_more_images_than_memory_holds_is_one_line(runs, capsys):
    _one_line_error(capsys, ["sample", str(runs / "plain"), "-n", "100000000000"], "GiB", "draw fewer")


def test_compare_skips_corrupt_metrics_lines_and_names_an_unreadable_config(runs, tmp_path, capsys):
    torn = tmp_path / "torn"
    shutil.copytree(runs / "plain", torn)
    with (torn / "metrics.jsonl").open("a") as handle:
        handle.write('garbage\n{"x": 1}\n[1, 2]\n{"kind": "train", "step": 99}\n{"kind": "valid", "st')
    assert main(["compare", str(runs / "plain"), str(torn), "--out", str(tmp_path / "report")]) == 0
    broken = tmp_path / "broken"
    shutil.copytree(runs / "plain", broken)
    (broken / "config.json").write_text("{not json")
    _one_line_error(capsys, ["compare", str(broken), "--out", str(tmp_path / "report2")], str(broken))


def test_ambiguous_npz_layouts_are_refused_and_unseen_test_labels_warned(tmp_path, caplog):
    import numpy as np

    from pixelrnn.data import load_dataset
    from pixelrnn.errors import DataError

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "square.npz", x_train=rng.integers(0, 256, (20, 3, 8, 3), dtype=np.uint8),
             x_test=rng.integers(0, 256, (10, 3, 8, 3), dtype=np.uint8))
    with pytest.raises(DataError, match="channels first or last"):
        load_dataset(DataConfig(name="npz", path=str(tmp_path / "square.npz")))
    np.savez(tmp_path / "labels.npz", x_train=rng.integers(0, 256, (20, 8, 8), dtype=np.uint8),
             x_test=rng.integers(0, 256, (10, 8, 8), dtype=np.uint8), y_train=np.zeros(20, dtype=np.int64),
             y_test=np.full(10, 3, dtype=np.int64))
    with caplog.at_level("WARNING", logger="pixelrnn"):
        load_dataset(DataConfig(name="npz", path=str(tmp_path / "labels.npz")))
    assert "test label(s) 3 never occur in the training images" in caplog.text


def test_evaluation_data_flags_without_data_apply_to_the_stored_data_set(runs, capsys):
    assert main(["eval", str(runs / "plain"), "--max-test-images", "5", "--device", "cpu"]) == 0
    assert "over 5 images" in capsys.readouterr().out
    assert main(["eval", str(runs / "plain"), "--device", "cpu"]) == 0
    assert "over 16 images" in capsys.readouterr().out  # the stored cut
