"""Experiment tracking: TensorBoard and offline wandb receive what metrics.jsonl, samples/ and config.json hold."""

from __future__ import annotations

import dataclasses
import io
import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pixelrnn.checkpoint import load_model
from pixelrnn.cli import main
from pixelrnn.config import DataConfig, TrainConfig, from_dict, to_dict
from pixelrnn.errors import ConfigError
from pixelrnn.train import train
from pixelrnn.training.tracking import Tracker

DATA = DataConfig(name="digits", max_train_images=32, max_test_images=16)  # 29 train images: 2 steps/epoch
# every numeric field of each kind of metrics line, as the trackers name it
SCALARS = {"train": ("epoch", "nats_per_image", "bits_per_dim", "lr", "images_per_second"),
           "valid": ("epoch", "nats_per_image", "bits_per_dim", "num_images"),
           "test": ("epoch", "nats_per_image", "bits_per_dim", "num_images")}
CLI_TRAIN = ["--model", "pixelcnn-small", "--max-train-images", "32", "--max-test-images", "16", "--epochs", "1",
             "--batch-size", "16", "--device", "cpu"]


def _config(**changes) -> TrainConfig:
    base = TrainConfig(epochs=2, batch_size=16, eval_batch_size=64, sample_every=1, num_samples=4, log_every=1,
                       device="cpu")
    return dataclasses.replace(base, **changes)


def _metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _expected_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """{"train/bits_per_dim": [(step, value), ...], ...} straight from metrics.jsonl."""
    expected: dict[str, list[tuple[int, float]]] = {}
    for line in _metrics(run_dir):
        for field in SCALARS[line["kind"]]:
            expected.setdefault(f"{line['kind']}/{field}", []).append((line["step"], float(line[field])))
    return expected


def _tensorboard(run_dir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    return events.Reload()


def _assert_tensorboard_scalars_match_metrics(run_dir: Path) -> None:
    events, expected = _tensorboard(run_dir), _expected_scalars(run_dir)
    assert sorted(events.Tags()["scalars"]) == sorted(expected)
    for tag, points in expected.items():
        logged = [(event.step, event.value) for event in events.Scalars(tag)]
        assert [step for step, _ in logged] == [step for step, _ in points], tag
        assert [value for _, value in logged] == pytest.approx([value for _, value in points], rel=1e-6), tag


@pytest.fixture(scope="module")
def tensorboard_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("tensorboard-run")
    train(run_dir, data=DATA, model="pixelcnn-small", config=_config(log=["tensorboard"]))
    return run_dir


def test_tensorboard_holds_every_scalar_each_sample_grid_and_the_config(tensorboard_run):
    _assert_tensorboard_scalars_match_metrics(tensorboard_run)
    events = _tensorboard(tensorboard_run)
    valid_steps = [line["step"] for line in _metrics(tensorboard_run) if line["kind"] == "valid"]
    images = events.Images("samples")
    assert [image.step for image in images] == valid_steps == [2, 4]  # a grid at the end of each epoch
    for epoch, image in enumerate(images, start=1):
        logged = np.asarray(Image.open(io.BytesIO(image.encoded_image_string)))
        written = np.asarray(Image.open(tensorboard_run / "samples" / f"epoch_{epoch:03d}.png"))
        assert np.array_equal(logged.reshape(*written.shape, -1)[..., 0], written)
    (text,) = events.Tensors("config/text_summary")
    logged_config = json.loads(text.tensor_proto.string_val[0].decode())  # the indented JSON code block
    assert logged_config == json.loads((tensorboard_run / "config.json").read_text())
    assert logged_config["train"]["log"] == ["tensorboard"] and logged_config["model"]["hidden_channels"] == 16


def test_checkpoint_with_trackers_loads_weights_only_and_old_ones_load_without_them(tensorboard_run, tmp_path):
    checkpoint = torch.load(tensorboard_run / "last.pt", weights_only=True)
    stored = checkpoint["train_config"]
    assert stored["log"] == ["tensorboard"] and stored["wandb_mode"] == "offline"
    assert from_dict(TrainConfig, stored) == _config(log=["tensorboard"])
    old = {key: value for key, value in stored.items() if key not in ("log", "wandb_project", "wandb_mode")}
    torch.save({**checkpoint, "train_config": old}, tmp_path / "old.pt")
    old_config = from_dict(TrainConfig, torch.load(tmp_path / "old.pt", weights_only=True)["train_config"])
    assert old_config.log == [] and old_config.wandb_project == "pixelrnn"
    load_model(tmp_path / "old.pt")  # rebuilds and loads its weights
    with pytest.raises(ConfigError, match="unknown tracker 'mlflow'"):
        from_dict(TrainConfig, {**stored, "log": ["mlflow"]})
    with pytest.raises(ConfigError, match="wrong type"):
        from_dict(TrainConfig, {**stored, "log": "tensorboard"})


def _wandb_records(path: Path) -> list:
    """Every record of a ``.wandb`` file: a 7-byte file header, then LevelDB-style log blocks of 32 KiB."""
    from wandb.proto import wandb_internal_pb2

    raw, offset, pending, records = path.read_bytes(), 7, b"", []
    assert raw[:4] == b":W&B"
    while offset + 7 <= len(raw):
        if 32768 - offset % 32768 < 7:  # a block's tail too short for a header is padding
            offset += 32768 - offset % 32768
            continue
        _, length, kind = struct.unpack("<IHB", raw[offset:offset + 7])  # crc32, length, full/first/middle/last
        pending += raw[offset + 7:offset + 7 + length]
        offset += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def _wandb_history(records: list) -> list[dict]:
    rows = [{item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item}
            for record in records if record.WhichOneof("record_type") == "history"]
    return rows


def _fail_at_step(patch: pytest.MonkeyPatch, step: int, error: type[BaseException]) -> None:
    """Make the training step after optimizer step ``step`` raise ``error``: a crash, or Ctrl-C."""
    import pixelrnn.training.trainer

    original_step = pixelrnn.training.trainer.Trainer._train_step

    def failing_step(self, images, labels):
        if self.progress["step"] == step:
            raise error("stop")
        return original_step(self, images, labels)

    patch.setattr(pixelrnn.training.trainer.Trainer, "_train_step", failing_step)


def test_offline_wandb_and_tensorboard_survive_a_crash_and_resume_as_the_same_run(tmp_path, monkeypatch):
    for name, value in {"WANDB_SILENT": "true", "WANDB_MODE": "offline", "WANDB_BASE_URL": "http://127.0.0.1:9",
                        "WANDB_CONFIG_DIR": tmp_path / "config", "WANDB_CACHE_DIR": tmp_path / "cache",
                        "WANDB_DATA_DIR": tmp_path / "data"}.items():
        monkeypatch.setenv(name, str(value))
    run_dir = tmp_path / "digits-run"
    with monkeypatch.context() as patch, pytest.raises(RuntimeError, match="stop"):
        _fail_at_step(patch, 3, RuntimeError)  # crashes after step 3 was logged; last.pt holds step 2
        train(run_dir, data=DATA, model="pixelcnn-small", config=_config(log=["wandb", "tensorboard"]))
    run_id = (run_dir / "wandb_run_id.txt").read_text().strip()
    train(run_dir, resume=True)  # steps 3 (again) and 4, then the test split
    assert (run_dir / "wandb_run_id.txt").read_text().strip() == run_id
    files = sorted((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert [path.name for path in files] == [f"run-{run_id}.wandb"] * 2  # two starts of one run, both flushed
    records = [record for path in files for record in _wandb_records(path)]
    kinds = [record.WhichOneof("record_type") for record in records]
    assert kinds.count("exit") == 2  # the crashed start was finished too
    starts = [record.run for record in records if record.WhichOneof("record_type") == "run"]
    assert [(run.run_id, run.project, run.display_name) for run in starts] == [(run_id, "pixelrnn", "digits-run")] * 2
    telemetry = [record.telemetry for record in records if record.WhichOneof("record_type") == "telemetry"]
    assert telemetry and all(entry.feature.offline for entry in telemetry)  # never online
    history = _wandb_history(records)
    for tag, points in _expected_scalars(run_dir).items():
        logged = {row["step"]: row[tag] for row in history if tag in row}  # step 3 twice: the redone one wins
        assert sorted(logged) == [step for step, _ in points], tag
        assert [logged[step] for step, _ in points] == pytest.approx([value for _, value in points], rel=1e-12), tag
    grids = [row for row in history if "samples/_type" in row]
    assert [(row["step"], row["samples/_type"]) for row in grids] == [(2, "image-file"), (4, "image-file")]
    for epoch, (row, run_files) in enumerate(zip(grids, files, strict=True), start=1):  # one grid per start
        logged = np.asarray(Image.open(run_files.parent / "files" / row["samples/path"]))
        assert np.array_equal(logged, np.asarray(Image.open(run_dir / "samples" / f"epoch_{epoch:03d}.png")))
    configs = {item.key: json.loads(item.value_json) for record in records
               if record.WhichOneof("record_type") == "config" for item in record.config.update}
    assert {key: configs[key] for key in ("model", "train", "data")} == {
        key: value for key, value in json.loads((run_dir / "config.json").read_text()).items() if key != "world_size"}
    assert len(list((run_dir / "tensorboard").glob("events.out.tfevents.*"))) == 2  # the resume appended a file
    _assert_tensorboard_scalars_match_metrics(run_dir)  # steps 1..4 once each: the crashed step 3 is purged


@dataclasses.dataclass
class _RecordingTracker(Tracker):
    scalars: list = dataclasses.field(default_factory=list)
    images: list = dataclasses.field(default_factory=list)
    configs: list = dataclasses.field(default_factory=list)
    closed: int = 0

    def log_scalars(self, step, scalars):
        self.scalars.append((step, scalars))

    def log_image(self, step, tag, image):
        self.images.append((step, tag, Path(image)))

    def log_config(self, config):
        self.configs.append(config)

    def close(self):
        self.closed += 1


@pytest.mark.parametrize("failure", [None, KeyboardInterrupt, RuntimeError])
def test_trainer_feeds_its_trackers_and_closes_them_however_fit_ends(tmp_path, monkeypatch, failure):
    import pixelrnn.training.trainer

    tracker = _RecordingTracker()
    monkeypatch.setattr(pixelrnn.training.trainer, "make_trackers", lambda names, run_dir, *args: [tracker])
    if failure is not None:
        _fail_at_step(monkeypatch, 1, failure)
    config = _config(epochs=1, log=["tensorboard"])
    if failure is RuntimeError:
        with pytest.raises(RuntimeError, match="stop"):
            train(tmp_path, data=DATA, model="pixelcnn-small", config=config)
    else:
        assert train(tmp_path, data=DATA, model="pixelcnn-small", config=config).interrupted == (failure is not None)
    assert tracker.closed == 1
    assert tracker.configs == [json.loads((tmp_path / "config.json").read_text())]
    lines = _metrics(tmp_path)
    assert [step for step, _ in tracker.scalars] == [line["step"] for line in lines]
    assert [set(scalars) for _, scalars in tracker.scalars] == [
        {f"{line['kind']}/{field}" for field in SCALARS[line["kind"]]} for line in lines]
    assert all(scalars[f"{line['kind']}/bits_per_dim"] == line["bits_per_dim"]
               for (_, scalars), line in zip(tracker.scalars, lines, strict=True))
    expected_images = [] if failure else [(2, "samples", tmp_path / "samples" / "epoch_001.png")]
    assert tracker.images == expected_images


def test_unknown_tracker_or_wandb_mode_is_a_one_line_cli_error(tmp_path, capsys):
    for flags, expected in ((["--log", "mlflow"], "argument --log: invalid choice: 'mlflow'"),
                            (["--log", "wandb", "--wandb-mode", "cloud"], "argument --wandb-mode: invalid choice")):
        with pytest.raises(SystemExit) as exit_:
            main(["train", "--run-dir", str(tmp_path / "run"), *flags])
        err = capsys.readouterr().err.strip()
        assert exit_.value.code == 2 and len(err.splitlines()) == 1 and expected in err, err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("tracker", "module"), [("tensorboard", "torch.utils.tensorboard"), ("wandb", "wandb")])
def test_missing_tracker_package_stops_before_training_with_the_pip_extra(tmp_path, capsys, monkeypatch, tracker,
                                                                          module):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    run_dir = tmp_path / "run"
    assert main(["train", "--run-dir", str(run_dir), "--log", tracker, *CLI_TRAIN]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"pixelrnn: error: --log {tracker} needs the {tracker} package, which is not installed: "
                   f"pip install 'pixelrnn[{tracker}]'")
    assert not run_dir.exists()  # nothing trained, nothing written


def test_train_config_stores_the_trackers_as_a_list_of_names():
    config = TrainConfig(log=["tensorboard", "wandb"], wandb_project="digits", wandb_mode="online")
    assert to_dict(config)["log"] == ["tensorboard", "wandb"]
    with pytest.raises(ConfigError, match="unknown wandb mode 'cloud'"):
        dataclasses.replace(config, wandb_mode="cloud").validate()
