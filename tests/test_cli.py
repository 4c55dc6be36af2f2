"""End-to-end smoke runs of every command, and one-line errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from pixelrnn.checkpoint import load_checkpoint
from pixelrnn.cli import main

TINY_TRAIN = ["--model", "pixelcnn", "--hidden-channels", "4", "--layers", "1", "--output-channels", "8",
              "--max-train-images", "64", "--max-test-images", "32", "--epochs", "1", "--batch-size", "16",
              "--sample-every", "1", "--num-samples", "4", "--device", "cpu"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    assert main(["train", "--run-dir", str(run_dir), *TINY_TRAIN]) == 0
    return run_dir


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "pixelrnn", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_train_eval_sample_end_to_end(trained_run, tmp_path, capsys):
    for name in ("last.pt", "best.pt", "metrics.jsonl", "loss_curve.png", "samples/epoch_001.png"):
        assert (trained_run / name).is_file()
    assert main(["eval", str(trained_run / "best.pt"), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "digits test:" in out and "over 32 images" in out and "uniform model: 4.087 bits/dim" in out
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    for path in (first, second):
        assert main(["sample", str(trained_run), "-n", "6", "--seed", "7", "--out", str(path), "--device", "cpu"]) == 0
    a, b = np.load(first.with_suffix(".npz"))["images"], np.load(second.with_suffix(".npz"))["images"]
    assert a.shape == (6, 1, 8, 8) and a.dtype == np.uint8 and a.max() <= 16
    assert np.array_equal(a, b)  # same seed, same images
    assert main(["sample", str(trained_run), "-n", "6", "--seed", "8", "--out", str(tmp_path / "c.png")]) == 0
    assert not np.array_equal(a, np.load(tmp_path / "c.npz")["images"])
    assert Image.open(first).size[0] > 8


def test_valid_fraction_zero_trains_on_all_images_and_validates_on_the_test_split(tmp_path, capsys, caplog):
    """As the PixelCNN++ reference trains: every training image, the reference's Adam betas, best.pt by test NLL."""
    run_dir = tmp_path / "run"
    flags = [*TINY_TRAIN, "--sample-every", "0", "--valid-fraction", "0", "--adam-beta1", "0.95",
             "--adam-beta2", "0.9995"]
    with caplog.at_level("INFO", logger="pixelrnn"):
        assert main(["train", "--run-dir", str(run_dir), *flags]) == 0
    assert "validating on the test split" in caplog.text
    assert "validated on the test split (no validation images): best.pt" in capsys.readouterr().out
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    valid, test = [line for line in lines if line["kind"] == "valid"], lines[-1]
    assert len(valid) == 1 and valid[0]["split"] == "test" and valid[0]["num_images"] == test["num_images"] == 32
    assert valid[0]["bits_per_dim"] == pytest.approx(test["bits_per_dim"])  # the same weights on the same split
    best = load_checkpoint(run_dir / "best.pt")
    assert best["progress"]["best_valid_bits_per_dim"] == pytest.approx(test["bits_per_dim"])
    assert best["data"]["config"]["valid_fraction"] == 0.0
    assert tuple(best["optimizer"]["param_groups"][0]["betas"]) == (0.95, 0.9995)


def test_console_entry_points_run():
    result = _run_cli("--help")
    assert result.returncode == 0 and "train" in result.stdout and "sample" in result.stdout


def _corrupt_copies(trained_run, tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes((trained_run / "last.pt").read_bytes()[:3000])
    not_ours = tmp_path / "not_ours.pt"
    torch.save({"weights": torch.zeros(3)}, not_ours)
    return garbage, truncated, not_ours


def _bad_folder(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "a.png")
    Image.fromarray(np.zeros((9, 8), np.uint8)).save(folder / "b.png")
    return folder


def test_bad_input_gives_one_line_error_and_nonzero_exit(trained_run, tmp_path, capsys):
    garbage, truncated, not_ours = _corrupt_copies(trained_run, tmp_path)
    np.savez(tmp_path / "big.npz", x_train=np.zeros((4, 28, 28), np.uint8), x_test=np.zeros((4, 28, 28), np.uint8))
    cases = {
        "not found": ["eval", str(tmp_path / "missing.pt")],
        "not a readable": ["eval", str(garbage)],
        "truncated": ["eval", str(truncated)],
        "not a pixelrnn checkpoint": ["sample", str(not_ours), "--out", str(tmp_path / "x.png")],
        "expects 1×8×8": ["eval", str(trained_run / "last.pt"), "--data", "npz", "--data-path",
                          str(tmp_path / "big.npz")],
        "unknown model": ["train", "--model", "pixelgan", "--run-dir", str(tmp_path / "r1")],
        "invalid choice": ["train", "--data", "imagenet", "--run-dir", str(tmp_path / "r2")],
        "must be at least 1": ["train", "--epochs", "0", "--run-dir", str(tmp_path / "r3")],
        "lr must be positive": ["train", "--lr", "0", "--run-dir", str(tmp_path / "r4")],
        "adam_beta2 must be in (0, 1)": ["train", "--adam-beta2", "1", "--run-dir", str(tmp_path / "r6")],
        "PixelCNN++ only": ["train", "--weight-norm", "--run-dir", str(tmp_path / "r7")],
        "size": ["train", "--data", "folder", "--data-path", str(_bad_folder(tmp_path)), "--run-dir",
                 str(tmp_path / "r5")],
        ".png": ["sample", str(trained_run / "last.pt"), "--out", str(tmp_path / "x.jpg")],
        "nothing to resume": ["train", "--resume", "--run-dir", str(tmp_path / "never-ran")],
    }
    for expected, argv in cases.items():
        try:
            status = main(argv)
        except SystemExit as exit_:  # argparse's own errors
            status = exit_.code
        err = capsys.readouterr().err.strip()
        assert status == 2, (argv, err)
        assert len(err.splitlines()) == 1 and err.startswith("pixelrnn: error:"), (argv, err)
        assert expected.lower() in err.lower(), (expected, err)


def test_a_path_of_the_wrong_kind_or_unfitting_weights_are_one_clear_line(trained_run, tmp_path, capsys):
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    reshaped = torch.load(trained_run / "last.pt", weights_only=True)
    reshaped["model_config"]["hidden_channels"] += 2
    torch.save(reshaped, tmp_path / "reshaped.pt")
    cases = {
        "/dev/null is a character device, not a checkpoint file": ["eval", "/dev/null"],
        f"{tmp_path} is a folder without last.pt": ["eval", str(tmp_path)],
        f"{a_file} is a file, not an image folder": ["train", "--data", "folder", "--data-path", str(a_file),
                                                     "--run-dir", str(tmp_path / "r1")],
        f"{tmp_path} is a folder, not a .npz file": ["train", "--data", "npz", "--data-path", str(tmp_path),
                                                     "--run-dir", str(tmp_path / "r2")],
        "the checkpoint's weights do not fit its model: input_conv.weight is 8×1×7×7 in the file but 12×1×7×7 in "
        "the model (and ": ["eval", str(tmp_path / "reshaped.pt")],
    }
    for expected, argv in cases.items():
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"pixelrnn: error: {expected}"), err


def test_errors_reach_the_shell_without_traceback(tmp_path):
    result = _run_cli("eval", str(tmp_path / "missing.pt"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    expected = f"pixelrnn: error: checkpoint not found: {tmp_path / 'missing.pt'} ("
    assert len(lines) == 1 and lines[0].startswith(expected)


@pytest.mark.parametrize("model_flags", [
    ["--model", "row-lstm-small", "--cell", "gru", "--skip-connections"],
    ["--model", "multiscale-pixelrnn-small", "--recurrent-layer", "row_lstm", "--subsample-factor", "2"],
])
def test_pixelrnn_models_train_eval_and_sample_from_the_command_line(tmp_path, capsys, model_flags):
    run_dir = tmp_path / "run"
    flags = [*TINY_TRAIN[TINY_TRAIN.index("--max-train-images"):], *model_flags, "--hidden-channels", "6"]
    assert main(["train", "--run-dir", str(run_dir), *flags]) == 0
    stored = json.loads((run_dir / "config.json").read_text())
    assert stored["train"]["optimizer"] == "rmsprop"  # the preset's default, as the paper
    expected = {"cell": "gru", "skip_connections": True} if "--cell" in model_flags else {"recurrent_layer": "row_lstm"}
    assert {key: stored["model"][key] for key in expected} == expected and stored["model"]["hidden_channels"] == 6
    assert main(["eval", str(run_dir / "last.pt"), "--device", "cpu"]) == 0
    assert "bits/dim over 32 images" in capsys.readouterr().out
    assert main(["sample", str(run_dir), "-n", "3", "--out", str(tmp_path / "s.png"), "--device", "cpu"]) == 0
    assert np.load(tmp_path / "s.npz")["images"].shape == (3, 1, 8, 8)


def test_bench_prints_a_table_and_writes_json_lines(tmp_path, capsys):
    out = tmp_path / "bench.jsonl"
    argv = ["bench", "--model", "row-lstm-small", "--model", "pixelcnn-tiny", "--image-shape", "1x8x8",
            "--levels", "17", "--batch-size", "4", "--repeats", "1", "--warmup", "0", "--device", "cpu",
            "--json", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("machine: ") and "| row-lstm-small | 1×8×8, 17 levels | 4 |" in printed
    assert ", native loops on" in printed.splitlines()[0]  # says whether the recurrences' native loops ran
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["model"] for line in lines] == ["row-lstm-small", "pixelcnn-tiny"]
    assert all(line["train_images_per_second"] > 0 and line["eval_images_per_second"] > 0 for line in lines)
    assert all(line["mfu"] is None for line in lines)  # not measured unless asked


def test_bench_mfu_is_the_counted_flops_over_the_step_time_over_the_matmul_limit(tmp_path, capsys):
    out = tmp_path / "bench.jsonl"
    argv = ["bench", "--model", "diagonal-bilstm-small", "--image-shape", "1x6x5", "--levels", "2", "--batch-size",
            "3", "--repeats", "1", "--warmup", "0", "--device", "cpu", "--mfu", "--json", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| MFU |" in printed and printed.rstrip().endswith("% |")
    (line,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert line["train_flops_per_step"] > 0 and line["matmul_flops_per_second"] > 0
    assert line["mfu"] == pytest.approx(line["train_flops_per_step"] / line["train_seconds_per_step"]
                                        / line["matmul_flops_per_second"])
    assert 0 < line["mfu"] < 1


@pytest.mark.parametrize("argv,expected", [
    (["bench", "--model", "nope"], "unknown model or preset 'nope'"),
    (["bench", "--model", "pixelrnn", "--image-shape", "3x32"], "expected C×H×W"),
    (["bench", "--model", "multiscale_pixelrnn", "--image-shape", "1x7x7"], "must divide"),
    (["train", "--model", "pixelrnn", "--cell", "rnn"], "invalid choice"),
])
def test_bad_bench_and_pixelrnn_flags_give_one_line_errors(argv, expected, capsys):
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse's own errors
        status = exit_.code
    captured = capsys.readouterr()
    assert status == 2 and captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and expected in captured.err


def test_a_test_nll_over_part_of_the_test_set_is_flagged(trained_run, capsys):
    assert main(["eval", str(trained_run), "--device", "cpu"]) == 0  # trained with --max-test-images 32
    captured = capsys.readouterr()
    assert "over 32 images" in captured.out
    assert captured.err == ("pixelrnn: warning: this test NLL covers the first 32 of the 297 test images of 'digits' "
                            "(--max-test-images): it is not comparable with a full test set's\n")
    assert main(["eval", str(trained_run), "--device", "cpu", "--max-test-images", "1000"]) == 0
    captured = capsys.readouterr()
    assert "over 297 images" in captured.out and captured.err == ""
