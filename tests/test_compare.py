"""pixelrnn compare: the table of runs, with the swept fields, curves and a sample sheet."""

from __future__ import annotations

import csv
import shutil
from dataclasses import replace

import pytest

from pixelrnn.cli import main
from pixelrnn.config import DataConfig, TrainConfig
from pixelrnn.run_folder import EVALUATIONS_FILE, record_evaluation
from pixelrnn.train import train


def test_compare_tabulates_a_folder_of_runs(tmp_path, capsys):
    data = DataConfig(name="digits", max_train_images=32, max_test_images=16)
    for layers in (1, 2):
        train(tmp_path / "sweep" / f"layers{layers}", data=data, model="pixelcnn-tiny",
              model_overrides={"num_layers": layers},
              config=TrainConfig(epochs=2, batch_size=8, lr=1e-2, log_every=1, sample_every=1, num_samples=4,
                                 device="cpu"))
    assert main(["compare", str(tmp_path / "sweep"), "--out", str(tmp_path / "report")]) == 0
    printed = capsys.readouterr().out
    assert "| run | model | model.num_layers | parameters |" in printed
    with (tmp_path / "report/compare.csv").open() as handle:
        rows = list(csv.reader(handle))
    assert [row[0] for row in rows[1:]] == ["layers1", "layers2"] and [row[2] for row in rows[1:]] == ["1", "2"]
    header = rows[0]
    test_column, epochs_column = header.index("test (bits/dim)"), header.index("epochs")
    speed_column = header.index("train images/s")
    assert all(0 < float(row[test_column]) < 8 and row[epochs_column] == "2" for row in rows[1:])
    assert all(float(row[speed_column].replace(",", "")) > 0 for row in rows[1:])
    assert int(rows[2][3].replace(",", "")) > int(rows[1][3].replace(",", ""))  # more layers, more parameters
    for name in ("compare.md", "curves.png", "samples.png"):
        assert (tmp_path / "report" / name).stat().st_size > 0
    assert "FID" not in rows[0] and not any("accuracy" in title for title in rows[0])  # nothing measured yet

    # what `pixelrnn fid` / `classify` recorded becomes columns: the latest record of each kind counts, and what it
    # measured goes into the title when every run shares it, else into each cell
    first, second = tmp_path / "sweep/layers1", tmp_path / "sweep/layers2"
    fid_of = {"feature_network": "classifier", "num_samples": 100, "split": "test"}
    record_evaluation(first / "last.pt", "fid", {**fid_of, "value": 99.0})
    record_evaluation(first / "last.pt", "fid", {**fid_of, "value": 12.345})
    record_evaluation(second, "fid", {**fid_of, "value": 7.0})
    record_evaluation(second / "best.pt", "classify", {"accuracy": 0.875, "marginal_bits_per_dim": 3.25,
                                                       "split": "valid"})
    with (second / EVALUATIONS_FILE).open("a") as handle:
        handle.write('{"kind": "fid", "val')  # a line cut short by an interrupted write is skipped
    assert main(["compare", str(tmp_path / "sweep"), "--out", str(tmp_path / "report")]) == 0
    capsys.readouterr()
    with (tmp_path / "report/compare.csv").open() as handle:
        header, *rows = list(csv.reader(handle))
    fid_column = header.index("FID (classifier, N=100, test)")
    assert [row[fid_column] for row in rows] == ["12.35", "7.00"]
    accuracy_column = header.index("classification accuracy (valid)")
    assert [row[accuracy_column] for row in rows] == ["—", "0.8750"]
    marginal_column = header.index("log p(x) over all classes (bits/dim, valid)")  # beside −log p(x | label)
    assert [row[marginal_column] for row in rows] == ["—", "3.2500"]
    record_evaluation(second, "fid", {**fid_of, "num_samples": 50, "value": 8.0})  # unlike N: said in each cell
    assert main(["compare", str(tmp_path / "sweep"), "--out", str(tmp_path / "report")]) == 0
    with (tmp_path / "report/compare.csv").open() as handle:
        header, *rows = list(csv.reader(handle))
    assert [row[header.index("FID")] for row in rows] == ["12.35 (classifier, N=100, test)",
                                                           "8.00 (classifier, N=50, test)"]


def test_evaluations_are_recorded_only_in_run_folders(tmp_path):
    assert record_evaluation(tmp_path / "loose.pt", "fid", {"value": 1.0}) is None
    assert not (tmp_path / EVALUATIONS_FILE).exists()


def test_compare_of_a_folder_without_runs_is_a_one_line_error(tmp_path, capsys):
    assert main(["compare", str(tmp_path), "--out", str(tmp_path / "report")]) == 2
    assert "neither a run folder" in capsys.readouterr().err


def test_mean_over_seeds_gives_one_row_per_setting_with_mean_and_spread(tmp_path, capsys):
    config = TrainConfig(epochs=1, batch_size=8, lr=1e-2, sample_every=1, num_samples=4, device="cpu")
    points = {"layers=1,seed=0": (1, 0, 32), "layers=1,seed=1": (1, 1, 32), "layers=2,seed=0": (2, 0, 24)}
    for name, (layers, seed, images) in points.items():
        train(tmp_path / "sweep" / name, data=DataConfig(name="digits", max_train_images=images, max_test_images=16),
              model="pixelcnn-tiny", model_overrides={"num_layers": layers}, config=replace(config, seed=seed))
    record_evaluation(tmp_path / "sweep/layers=1,seed=0", "fid", {"feature_network": "classifier",
                                                                  "num_samples": 10, "split": "test", "value": 3.0})
    record_evaluation(tmp_path / "sweep/layers=1,seed=1", "fid", {"feature_network": "classifier",
                                                                  "num_samples": 10, "split": "test", "value": 5.0})
    assert main(["compare", str(tmp_path / "sweep"), "--out", str(tmp_path / "each")]) == 0
    with (tmp_path / "each/compare.csv").open() as handle:
        header, *each = list(csv.reader(handle))
    assert "data.max_train_images" in header  # a data field that differs is shown like the others
    test_of = {row[0]: float(row[header.index("test (bits/dim)")]) for row in each}

    assert main(["compare", str(tmp_path / "sweep"), "--mean-over", "train.seed", "--out", str(tmp_path / "mean")]) == 0
    capsys.readouterr()
    with (tmp_path / "mean/compare.csv").open() as handle:
        header, *rows = list(csv.reader(handle))
    assert [row[0] for row in rows] == ["layers=1", "layers=2"]  # the seed part of the point names is dropped
    assert [row[header.index("train.seed")] for row in rows] == ["0, 1", "0"]
    mean, spread = rows[0][header.index("test (bits/dim, mean ± sd)")].split(" ± ")
    pair = [test_of["layers=1,seed=0"], test_of["layers=1,seed=1"]]
    assert float(mean) == pytest.approx(sum(pair) / 2, abs=1e-4)
    assert float(spread) == pytest.approx(abs(pair[0] - pair[1]) / 2 ** 0.5, abs=1e-4)  # sample sd of two
    assert rows[1][header.index("test (bits/dim, mean ± sd)")] == f"{test_of['layers=2,seed=0']:.4f}"
    assert [row[header.index("FID (classifier, N=10, test)")] for row in rows] == ["4.00 ± 1.41", "—"]
    for name in ("curves.png", "samples.png"):
        assert (tmp_path / "mean" / name).stat().st_size > 0

    # the same point names in two sweeps are told apart by their sweep's folder
    for name in ("layers=1,seed=0", "layers=1,seed=1"):  # as if trained with another learning rate
        shutil.copytree(tmp_path / "sweep" / name, tmp_path / "other" / name)
        config_path = tmp_path / "other" / name / "config.json"
        config_path.write_text(config_path.read_text().replace('"lr": 0.01', '"lr": 0.02'))
    assert main(["compare", str(tmp_path / "sweep"), str(tmp_path / "other"), "--mean-over", "train.seed",
                 "--out", str(tmp_path / "both")]) == 0
    with (tmp_path / "both/compare.csv").open() as handle:
        assert [row[0] for row in list(csv.reader(handle))[1:]] == ["sweep/layers=1", "layers=2", "other/layers=1"]

    assert main(["compare", str(tmp_path / "sweep"), "--mean-over", "seed", "--out", str(tmp_path / "bad")]) == 2
    assert "--mean-over needs a config field such as train.seed" in capsys.readouterr().err


def test_compare_refuses_an_exported_folder_and_reads_a_torn_metrics_line(tmp_path, capsys):
    data = DataConfig(name="digits", max_train_images=16, max_test_images=8)
    train(tmp_path / "run", data=data, model="pixelcnn-tiny",
          config=TrainConfig(epochs=1, batch_size=8, sample_every=0, device="cpu"))
    assert main(["export", str(tmp_path / "run" / "last.pt"), str(tmp_path / "exported")]) == 0
    assert main(["compare", str(tmp_path / "exported"), "--out", str(tmp_path / "report")]) == 2  # no KeyError
    assert "neither a run folder" in capsys.readouterr().err
    with (tmp_path / "run" / "metrics.jsonl").open("a") as handle:
        handle.write('{"kind": "valid", "step": 9')  # a kill during the append
    assert main(["compare", str(tmp_path / "run"), "--out", str(tmp_path / "report")]) == 0
