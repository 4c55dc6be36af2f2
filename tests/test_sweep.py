"""pixelrnn sweep: grid parsing, one-line errors, a resumable 2×2 sweep, interruption, parallel workers, TOML."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import optuna
import pytest
import torch

from pixelrnn.cli import main
from pixelrnn.cli.common import model_flags
from pixelrnn.errors import ConfigError
from pixelrnn.experiments.sweep_grid import SweepSettings, grid_points, make_grid, make_spec
from pixelrnn.training.trainer import Trainer

TINY = ["--model", "pixelcnn-tiny", "--data", "digits", "--max-train-images", "64", "--max-test-images", "32",
        "--epochs", "1", "--batch-size", "16", "--sample-every", "0", "--device", "cpu"]
GRID = ["--grid", "model.layers=1,2", "--grid", "model.hidden_channels=4,6"]
NAMES = ["layers=1,hidden_channels=4", "layers=1,hidden_channels=6", "layers=2,hidden_channels=4",
         "layers=2,hidden_channels=6"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models train fastest on one thread (as each of the spawned workers does); restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _trials(sweep_dir) -> list[optuna.trial.FrozenTrial]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=sweep_dir.name, storage=f"sqlite:///{sweep_dir / 'sweep.db'}").trials


def _status_and_error(argv, capsys) -> tuple[int, str]:
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse's own errors
        status = exit_.code
    return status, capsys.readouterr().err.strip()


# ------------------------------------------------------------------------------------------- the grid
def test_grid_keys_are_resolved_and_values_typed():
    grid = make_grid([("model.layers", ["1", "2"]), ("model.cell", ["lstm", "gru"]), ("train.lr", ["0.01", "1e-3"]),
                      ("train.compile", ["true", "false"]), ("train.max_steps", ["none", "5"]),
                      ("model", ["pixelcnn-small", "row-lstm-small"]), ("data", ["digits"]),
                      ("model.dropout", [0, 0.5])], model_flags())
    assert [axis.key for axis in grid] == ["model.num_layers", "model.cell", "train.lr", "train.compile",
                                          "train.max_steps", "model", "data.name", "model.dropout"]
    assert [axis.values for axis in grid] == [(1, 2), ("lstm", "gru"), (0.01, 0.001), (True, False), (None, 5),
                                              ("pixelcnn-small", "row-lstm-small"), ("digits",), (0.0, 0.5)]
    assert type(grid[0].values[0]) is int and type(grid[7].values[0]) is float  # TOML 0 for a float field


def test_points_are_the_product_in_grid_order_with_readable_distinct_names():
    points = grid_points(make_grid([("model.layers", ["1", "2"]), ("model.cell", ["lstm", "gru"])], model_flags()))
    assert [point.name for point in points] == ["layers=1,cell=lstm", "layers=1,cell=gru", "layers=2,cell=lstm",
                                                "layers=2,cell=gru"]
    assert points[1].values == {"model.num_layers": 1, "model.cell": "gru"}
    seeds = grid_points(make_grid([("train.seed", [1]), ("data.seed", [2])]))
    assert seeds[0].name == "train.seed=1,data.seed=2"  # the same field name in two sections: full keys


@pytest.mark.parametrize("items,expected", [
    ([("optim.lr", ["1"])], "unknown sweep key 'optim.lr'"),
    ([("model.depth", ["1"])], "unknown ModelConfig field 'depth'"),
    ([("train.lr", [])], "needs a non-empty list"),
    ([("model.layers", ["two"])], "model.layers must be int, got 'two'"),
    ([("train.compile", ["maybe"])], "train.compile must be bool"),
    ([("model.cell", [3])], "model.cell must be str, got 3"),
    ([("model.layers", ["1", "1"])], "repeats a value"),
    ([("model.layers", ["1"]), ("model.num_layers", ["2"])], "given twice"),
    ([("model.num_levels", ["2"])], "comes from the data set"),
    ([("train.log", ["tensorboard"])], "cannot be swept"),
])
def test_bad_grid_entries_are_config_errors(items, expected):
    with pytest.raises(ConfigError, match=expected):
        make_grid(items, model_flags())


def test_every_point_is_validated_before_anything_trains(tmp_path):
    settings = SweepSettings(options={"sweep_dir": str(tmp_path / "s")}, grid=[("model.kernel_size", [3, 4])])
    with pytest.raises(ConfigError, match="sweep point kernel_size=4: model kernel_size must be odd, got 4"):
        make_spec(settings)
    with pytest.raises(ConfigError, match="model.num_layers is both swept"):
        make_spec(SweepSettings(grid=[("model.layers", [1, 2])], model={"layers": 3}), model_aliases=model_flags())
    spec, points = make_spec(SweepSettings(grid=[("train.lr", [0.1])], train={"epochs": 3}),
                             SweepSettings(train={"epochs": 5}, options={"model": "row-lstm-small"}))
    assert spec.train == {"epochs": 5} and spec.model == "row-lstm-small" and len(points) == 1
    assert not (tmp_path / "s").exists()


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("grid,expected", [
    (["--grid", "model.depth=1,2"], "unknown ModelConfig field 'depth'"),
    (["--grid", "model.layers="], "needs a non-empty list"),
    (["--grid", "model.layers=1,x"], "model.layers must be int, got 'x'"),
    (["--grid", "model.layers=1,2", "--grid", "model.num_layers=3"], "given twice"),
    (["--grid", "model.kernel_size=3,4"], "must be odd"),
    (["--grid", "model=pixelcnn-tiny,pixelgan"], "unknown model or preset 'pixelgan'"),
    (["--grid", "layers"], "--grid expects KEY=V1,V2"),
    ([], "a sweep needs a grid"),
])
def test_bad_sweeps_give_one_line_errors_before_training(tmp_path, capsys, grid, expected):
    argv = ["sweep", "--sweep-dir", str(tmp_path / "sweep"), *grid, *TINY]
    if any(item.startswith("model=") for item in grid):
        argv.remove("--model")
        argv.remove("pixelcnn-tiny")
    status, err = _status_and_error(argv, capsys)
    assert status == 2 and err.startswith("pixelrnn: error:") and len(err.splitlines()) == 1, err
    assert expected in err, err
    assert not (tmp_path / "sweep").exists()  # nothing was written, let alone trained


def test_errors_reach_the_shell_without_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pixelrnn", "sweep", "--grid", "model.depth=1",
                             "--sweep-dir", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("pixelrnn: error: unknown ModelConfig field 'depth' in 'model.depth' (fields: ")


def test_missing_optuna_and_tomllib_are_one_line_errors(tmp_path, capsys, monkeypatch):
    (tmp_path / "sweep.toml").write_text('[grid]\n"model.layers" = [1, 2]\n')
    monkeypatch.setitem(sys.modules, "tomllib", None)
    monkeypatch.setitem(sys.modules, "tomli", None)
    status, err = _status_and_error(["sweep", "--config", str(tmp_path / "sweep.toml")], capsys)
    assert status == 2 and "needs Python 3.11 or later (tomllib), or tomli: pip install tomli" in err
    assert len(err.splitlines()) == 1
    monkeypatch.setitem(sys.modules, "optuna", None)
    status, err = _status_and_error(["sweep", "--grid", "model.layers=1"], capsys)
    assert status == 2 and err == "pixelrnn: error: pixelrnn sweep needs Optuna: pip install 'pixelrnn[sweep]'"


def test_python_3_10_reads_sweep_files_with_tomli(tmp_path, monkeypatch):
    import tomllib

    from pixelrnn.experiments.sweep_grid import load_sweep_file

    (tmp_path / "sweep.toml").write_text('[grid]\n"model.layers" = [1, 2]\n')
    monkeypatch.setitem(sys.modules, "tomllib", None)  # as on Python 3.10, where tomli has the same API
    monkeypatch.setitem(sys.modules, "tomli", tomllib)
    assert load_sweep_file(tmp_path / "sweep.toml").grid == [("model.layers", [1, 2])]


# ------------------------------------------------------------------------------------ a whole sweep
@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory):
    sweep_dir = tmp_path_factory.mktemp("sweeps") / "grid2x2"
    assert main(["sweep", "--sweep-dir", str(sweep_dir), *GRID, *TINY]) == 0
    return sweep_dir


def test_a_2x2_sweep_trains_four_run_folders_recorded_in_the_study(finished_sweep, capsys):
    folders = sorted(path.name for path in finished_sweep.iterdir() if path.is_dir())
    assert folders == sorted(NAMES)
    results = {name: json.loads((finished_sweep / name / "result.json").read_text()) for name in NAMES}
    for name, result in results.items():
        config = json.loads((finished_sweep / name / "config.json").read_text())
        assert name == f"layers={config['model']['num_layers']},hidden_channels={config['model']['hidden_channels']}"
        assert result["point"] == {"model.num_layers": config["model"]["num_layers"],
                                   "model.hidden_channels": config["model"]["hidden_channels"]}
        assert 0 < result["test"]["bits_per_dim"] < 8 and result["test"]["num_images"] == 32
    trials = _trials(finished_sweep)
    assert len(trials) == 4 and all(trial.state == optuna.trial.TrialState.COMPLETE for trial in trials)
    for trial in trials:
        result = results[trial.user_attrs["run_dir"]]
        assert trial.params == result["point"] and trial.value == result["test"]["bits_per_dim"]
    recorded = json.loads((finished_sweep / "sweep.json").read_text())
    assert [axis["values"] for axis in recorded["grid"]] == [[1, 2], [4, 6]]
    assert recorded["command"].startswith("pixelrnn sweep --grid model.layers=1,2 --grid model.hidden_channels=4,6")
    assert recorded["data"] == {"name": "digits", "max_train_images": 64, "max_test_images": 32}


def test_rerunning_skips_finished_points_without_training(finished_sweep, capsys, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("a finished point was trained again")

    monkeypatch.setattr(sys.modules["pixelrnn.train"], "train", no_training)  # the module, not the re-exported train
    files = [finished_sweep / name / file for name in NAMES for file in ("last.pt", "result.json", "metrics.jsonl")]
    before = [os.stat(path).st_mtime_ns for path in files]
    assert main(["sweep", "--sweep-dir", str(finished_sweep), *GRID, *TINY]) == 0
    assert [os.stat(path).st_mtime_ns for path in files] == before
    printed = capsys.readouterr().out
    assert all(f"| {name} | done | " in printed for name in NAMES) and "4 of 4 points done" in printed
    assert len(_trials(finished_sweep)) == 4


def test_a_folder_of_another_sweep_is_refused(finished_sweep, capsys):
    status, err = _status_and_error(["sweep", "--sweep-dir", str(finished_sweep), "--grid", "model.layers=1,3",
                                     *TINY], capsys)
    assert status == 2 and len(err.splitlines()) == 1 and "holds a different sweep (different grid;" in err


def test_compare_lists_the_sweep_runs_with_the_swept_fields(finished_sweep, tmp_path, capsys):
    assert main(["compare", str(finished_sweep), "--out", str(tmp_path / "report")]) == 0
    assert "| run | model | model.hidden_channels | model.num_layers |" in capsys.readouterr().out
    with (tmp_path / "report/compare.csv").open() as handle:
        rows = list(csv.reader(handle))
    assert [row[:4] for row in rows[1:]] == [[name, "pixelcnn", name[-1], name[7]] for name in sorted(NAMES)]


# ------------------------------------------------------------------------- interruption, parallel, TOML
def test_an_interrupted_point_resumes_from_its_checkpoint(tmp_path, capsys, monkeypatch):
    sweep_dir, steps = tmp_path / "sweep", []
    original_step = Trainer._train_step

    def counted_step(self, images, labels):
        steps.append(1)
        if interrupt_at and len(steps) == interrupt_at:
            raise KeyboardInterrupt  # Ctrl-C during the 3rd step: the trainer saves last.pt after 2
        return original_step(self, images, labels)

    monkeypatch.setattr(Trainer, "_train_step", counted_step)
    argv = ["sweep", "--sweep-dir", str(sweep_dir), "--grid", "model.layers=1,2", *TINY, "--epochs", "2"]
    interrupt_at = 3
    assert main(argv) == 130
    assert "| layers=1 | interrupted |" in capsys.readouterr().out
    assert (sweep_dir / "layers=1/last.pt").is_file() and not (sweep_dir / "layers=1/result.json").exists()
    assert [trial.state.name for trial in _trials(sweep_dir)] == ["FAIL"]
    steps.clear()
    interrupt_at = 0
    assert main(argv) == 0
    assert len(steps) == (8 - 2) + 8  # 8 steps per point (2 epochs of 4): 6 left of the first, all of the second
    for name in ("layers=1", "layers=2"):
        assert json.loads((sweep_dir / name / "result.json").read_text())["steps"] == 8
    trials = _trials(sweep_dir)
    assert sorted((trial.params["model.num_layers"], trial.state.name) for trial in trials) == [
        (1, "COMPLETE"), (1, "FAIL"), (2, "COMPLETE")]


def test_two_workers_cover_the_grid_without_training_a_point_twice(tmp_path):
    sweep_dir = tmp_path / "parallel"
    assert main(["sweep", "--sweep-dir", str(sweep_dir), *GRID, *TINY, "--workers", "2"]) == 0
    trials = _trials(sweep_dir)  # every training attempt adds a trial: four trials means four trainings
    assert len(trials) == 4 and all(trial.state.name == "COMPLETE" for trial in trials)
    assert sorted(trial.user_attrs["run_dir"] for trial in trials) == sorted(NAMES)
    assert all(not trial.user_attrs["owner"].endswith(f":{os.getpid()}") for trial in trials)  # spawned workers
    assert all((sweep_dir / name / "result.json").is_file() for name in NAMES)


def test_a_toml_sweep_file_with_command_line_overrides(tmp_path, capsys):
    sweep_file = tmp_path / "sweep.toml"
    sweep_file.write_text(f"""
[sweep]
model = "pixelcnn-tiny"
data = "digits"
sweep_dir = "{tmp_path / 'toml-sweep'}"

[grid]
"model.layers" = [1, 2]

[model]
hidden_channels = 4

[train]
epochs = 1
batch_size = 16
sample_every = 0
device = "cpu"

[data]
max_train_images = 64
max_test_images = 32
""")
    assert main(["sweep", "--config", str(sweep_file), "--max-test-images", "16"]) == 0
    assert "2 of 2 points done" in capsys.readouterr().out
    for layers in (1, 2):
        run_dir = tmp_path / "toml-sweep" / f"layers={layers}"
        config = json.loads((run_dir / "config.json").read_text())
        assert config["model"]["num_layers"] == layers and config["model"]["hidden_channels"] == 4
        assert config["train"]["epochs"] == 1 and config["data"]["max_test_images"] == 16  # the flag wins
        assert json.loads((run_dir / "result.json").read_text())["test"]["num_images"] == 16
