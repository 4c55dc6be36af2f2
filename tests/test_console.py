"""The training console (issue #17): one line per epoch with the story of the run, and a progress report that a
log file can hold (whole lines, no carriage returns)."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest

from pixelrnn.config import DataConfig, TrainConfig
from pixelrnn.train import train
from pixelrnn.training import console
from pixelrnn.training.console import EpochReport, epoch_line, format_duration

TINY = {"hidden_channels": 4, "num_layers": 1, "output_channels": 8}


def _config(**changes) -> TrainConfig:
    return TrainConfig(**{"epochs": 2, "batch_size": 16, "eval_batch_size": 64, "sample_every": 0, "seed": 1,
                          "device": "cpu", **changes})


def _messages(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "pixelrnn"]


def test_every_epoch_prints_one_line_with_losses_speed_time_and_checkpoints(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="pixelrnn")
    data = DataConfig(name="digits", max_train_images=64, max_test_images=16)
    train(tmp_path / "run", data=data, model="pixelcnn", model_overrides=TINY, config=_config())
    lines = [line for line in _messages(caplog) if line.startswith("epoch ") and "valid" in line]
    assert len(lines) == 2
    pattern = (r"epoch (\d)/2: train [\d.]+ bits/dim, valid [\d.]+ bits/dim \((new best|best [\d.]+)\), "
               r"[\d,]+ images/s, elapsed \d:\d\d:\d\d, saved last\.pt( best\.pt)?")
    for number, line in enumerate(lines, start=1):
        match = re.fullmatch(pattern, line)
        assert match, line
        assert match.group(1) == str(number)
        assert (match.group(2) == "new best") == (match.group(3) is not None)
    assert _messages(caplog)[-1] == ("pixelrnn: warning: this test NLL covers the first 16 of the 297 test images of "
                                     "'digits' (--max-test-images): it is not comparable with a full test set's")


def test_binary_data_reports_nats_per_image(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="pixelrnn")
    rng = np.random.default_rng(0)
    path = tmp_path / "binary.npz"
    np.savez(path, x_train=rng.integers(0, 2, (32, 6, 6), dtype=np.uint8),
             x_test=rng.integers(0, 2, (8, 6, 6), dtype=np.uint8))
    train(tmp_path / "run", data=DataConfig(name="npz", path=str(path)), model="pixelcnn", model_overrides=TINY,
          config=_config(epochs=1))
    (line,) = [line for line in _messages(caplog) if line.startswith("epoch 1/1:")]
    assert re.search(r"train [\d.]+ nats/image, valid [\d.]+ nats/image", line), line
    assert "bits/dim" not in line


def test_a_log_file_gets_whole_progress_lines_instead_of_a_bar(tmp_path, caplog, capsys, monkeypatch):
    caplog.set_level(logging.INFO, logger="pixelrnn")
    monkeypatch.setattr(console, "LOG_INTERVAL_SECONDS", 0.0)  # a line after every step
    data = DataConfig(name="digits", max_train_images=64, max_test_images=16, valid_fraction=0.0)
    train(tmp_path / "run", data=data, model="pixelcnn", model_overrides=TINY, config=_config(epochs=1))
    progress = [line for line in _messages(caplog) if "step" in line]
    assert progress[0].startswith("epoch 1/1: step 1/4 (25%), ")
    assert re.fullmatch(r"epoch 1/1: step 3/4 \(75%\), [\d.]+ bits/dim \([\d.]+ nats/image\), [\d,]+ images/s, "
                        r"\d:\d\d:\d\d left", progress[-1])
    assert "\r" not in capsys.readouterr().err  # stderr is no terminal here: no tqdm redraws
    (line,) = [line for line in _messages(caplog) if line.startswith("epoch 1/1: train")]
    assert ", test " in line  # validated on the test split: the line names it


def test_epoch_line_without_improvement_names_the_best_and_a_cut_epoch():
    report = EpochReport(epoch=3, epochs=10, partial=True, train_nats=None, valid_nats=90.0, best_nats=85.5,
                         improved=False, split="valid", dims=784, binary=True, images_per_second=0.0,
                         elapsed=3725.0, saved=("last.pt",))
    assert epoch_line(report) == ("epoch 3/10 (cut short by max_steps): train n/a, valid 90.00 nats/image "
                                  "(best 85.50), elapsed 1:02:05, saved last.pt")


@pytest.mark.parametrize(("seconds", "text"), [(0, "0:00:00"), (59.9, "0:00:59"), (3600 * 27 + 61, "27:01:01")])
def test_durations_are_hours_minutes_seconds(seconds, text):
    assert format_duration(seconds) == text
