"""The trainer: exact resume, Ctrl-C safety, checkpoints that rebuild their model, schedules, accumulation."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from pixelrnn.checkpoint import load_checkpoint, load_model
from pixelrnn.config import DataConfig, TrainConfig
from pixelrnn.data import load_dataset
from pixelrnn.errors import CheckpointError, ConfigError
from pixelrnn.models import PixelCNNPlusPlus
from pixelrnn.train import train
from pixelrnn.training.optim import build_optimizer

DATA = DataConfig(name="digits", max_train_images=80, max_test_images=40, hflip=True)
TINY = {"hidden_channels": 4, "num_layers": 1, "output_channels": 8}


def _config(**changes) -> TrainConfig:
    base = TrainConfig(epochs=3, batch_size=16, eval_batch_size=64, sample_every=0, log_every=1, seed=3,
                       device="cpu", schedule="exponential", lr_decay=0.99, lr=3e-3, grad_clip=5.0)
    return dataclasses.replace(base, **changes)


def _weights(path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model"]


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_interrupted_and_resumed_run_equals_uninterrupted_run(tmp_path, ema_decay):
    full = train(tmp_path / "full", data=DATA, model="pixelcnn", model_overrides=TINY,
                 config=_config(ema_decay=ema_decay))
    stopped = train(tmp_path / "resumed", data=DATA, model="pixelcnn", model_overrides=TINY,
                    config=_config(max_steps=4, ema_decay=ema_decay))  # stops inside the first epoch (5 batches)
    assert stopped.steps == 4 and stopped.epochs_completed == 0
    resumed = train(tmp_path / "resumed", resume=True, train_overrides={"max_steps": None})
    assert resumed.steps == full.steps == 15
    full_weights, resumed_weights = _weights(tmp_path / "full/last.pt"), _weights(tmp_path / "resumed/last.pt")
    assert full_weights.keys() == resumed_weights.keys()
    for name in full_weights:
        assert torch.equal(full_weights[name], resumed_weights[name]), name
    full_opt = load_checkpoint(tmp_path / "full/last.pt")["optimizer"]["state"]
    resumed_opt = load_checkpoint(tmp_path / "resumed/last.pt")["optimizer"]["state"]
    assert all(torch.equal(full_opt[k]["exp_avg_sq"], resumed_opt[k]["exp_avg_sq"]) for k in full_opt)
    assert resumed.test.bits_per_dim == pytest.approx(full.test.bits_per_dim, rel=1e-12)
    if ema_decay:
        full_ema, resumed_ema = (load_checkpoint(tmp_path / f"{run}/last.pt")["ema"] for run in ("full", "resumed"))
        assert all(torch.equal(full_ema[name], resumed_ema[name]) for name in full_ema)


def test_weight_normalised_run_is_initialised_from_data_once_and_resumes_exactly(tmp_path, monkeypatch):
    calls = []
    initialize = PixelCNNPlusPlus.initialize_from_data

    def counted(model, images, labels=None, seed=0):
        calls.append((len(images), seed))
        initialize(model, images, labels, seed)

    monkeypatch.setattr(PixelCNNPlusPlus, "initialize_from_data", counted)
    overrides = {"hidden_channels": 4, "num_layers": 1, "num_mixtures": 2, "dropout": 0.5, "weight_norm": True}
    config = _config(epochs=2, init_batch_size=24, ema_decay=0.9, optimizer="adam", adam_beta1=0.95,
                     adam_beta2=0.9995)
    full = train(tmp_path / "full", data=DATA, model="pixelcnn_pp", model_overrides=overrides, config=config)
    train(tmp_path / "resumed", data=DATA, model="pixelcnn_pp", model_overrides=overrides,
          config=dataclasses.replace(config, max_steps=3))
    resumed = train(tmp_path / "resumed", resume=True, train_overrides={"max_steps": None})
    assert calls == [(24, 3), (24, 3)]  # each new run, with config.seed; never on resume
    assert resumed.steps == full.steps == 10
    checkpoints = [load_checkpoint(tmp_path / run / "last.pt") for run in ("full", "resumed")]
    for kind in ("model", "ema"):
        full_weights, resumed_weights = (checkpoint[kind] for checkpoint in checkpoints)
        assert any(".original0" in name for name in full_weights)  # g and v are stored, not w
        assert all(torch.equal(full_weights[name], resumed_weights[name]) for name in full_weights), kind
    assert resumed.test.bits_per_dim == pytest.approx(full.test.bits_per_dim, rel=1e-12)


def test_moving_average_is_kept_evaluated_and_loaded_by_default(tmp_path):
    decay = 0.9
    result = train(tmp_path, data=DATA, model="pixelcnn", model_overrides=TINY,
                   config=_config(epochs=2, ema_decay=decay))
    checkpoint = load_checkpoint(tmp_path / "last.pt")
    raw, average = checkpoint["model"], checkpoint["ema"]
    assert any(not torch.equal(raw[name], average[name]) for name in raw)  # a real average, not a copy
    averaged_model, raw_model = load_model(tmp_path / "last.pt"), load_model(tmp_path / "last.pt", averaged=False)
    for name, tensor in averaged_model.state_dict().items():
        assert torch.equal(tensor, average[name]) and torch.equal(raw_model.state_dict()[name], raw[name])
    images = load_dataset(DATA).test.images
    with torch.no_grad():
        averaged_nats = -averaged_model.log_prob(images).double().mean().item()
    assert averaged_nats == pytest.approx(result.test.nats_per_image, rel=1e-6)  # the test line scores the average


def test_run_folder_holds_metrics_curves_samples_and_best_checkpoint(tmp_path):
    result = train(tmp_path, data=DATA, model="pixelcnn", model_overrides=TINY,
                   config=_config(epochs=2, sample_every=1, num_samples=4, log_every=2))
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    kinds = [line["kind"] for line in lines]
    assert kinds.count("valid") == 2 and kinds[-1] == "test" and "train" in kinds
    assert all(line["split"] == "valid" for line in lines if line["kind"] == "valid")
    test_line = lines[-1]
    assert test_line["num_images"] == 40
    assert test_line["bits_per_dim"] == pytest.approx(result.test.bits_per_dim)
    for name in ("last.pt", "best.pt", "loss_curve.png", "config.json", "samples/epoch_001.png",
                 "samples/epoch_002.png"):
        assert (tmp_path / name).is_file(), name
    best = load_checkpoint(tmp_path / "best.pt")
    valid_bits = [line["bits_per_dim"] for line in lines if line["kind"] == "valid"]
    assert best["progress"]["best_valid_bits_per_dim"] == pytest.approx(min(valid_bits))


def test_checkpoint_rebuilds_model_alone_and_loads_weights_only(tmp_path):
    train(tmp_path, data=DATA, model="pixelcnn", model_overrides=TINY, config=_config(epochs=1))
    checkpoint = torch.load(tmp_path / "last.pt", weights_only=True)
    assert checkpoint["model_config"]["num_levels"] == 17
    assert not any(key.startswith(("module.", "_orig_mod.")) for key in checkpoint["model"])
    model = load_model(tmp_path / "last.pt")
    images = torch.randint(0, 17, (5, 1, 8, 8))
    again = load_model(tmp_path / "last.pt")
    assert torch.equal(model.log_prob(images), again.log_prob(images))


def test_any_damaged_checkpoint_is_a_checkpoint_error(tmp_path):
    """Random bytes (raw and behind a pickle header) and every truncation raise CheckpointError, nothing else."""
    train(tmp_path, data=DATA, model="pixelcnn", model_overrides=TINY, config=_config(epochs=1))
    good = (tmp_path / "last.pt").read_bytes()
    rng = np.random.default_rng(0)
    damaged = [rng.integers(0, 256, 2000, dtype=np.uint8).tobytes() for _ in range(150)]
    damaged += [b"\x80\x02" + rng.integers(0, 256, 500, dtype=np.uint8).tobytes() for _ in range(150)]
    damaged += [good[:length] for length in np.linspace(0, len(good) - 1, 60).astype(int)]
    for index, data in enumerate(damaged):
        path = tmp_path / f"damaged{index}.pt"
        path.write_bytes(data)
        with pytest.raises(CheckpointError):
            load_checkpoint(path)


@pytest.mark.parametrize("optimizer,schedule", [("adamw", "cosine"), ("rmsprop", "plateau"), ("adam", "constant")])
def test_optimizers_and_schedules_train(tmp_path, optimizer, schedule):
    result = train(tmp_path, data=DATA, model="pixelcnn", model_overrides=TINY,
                   config=_config(epochs=2, optimizer=optimizer, schedule=schedule, lr=1e-3))
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    first_batch = next(line for line in lines if line["kind"] == "train")
    assert result.steps == 10 and result.test.bits_per_dim < first_batch["bits_per_dim"]
    lr = load_checkpoint(tmp_path / "last.pt")["optimizer"]["param_groups"][0]["lr"]
    assert (lr < 1e-3) if schedule == "cosine" else lr == pytest.approx(1e-3)


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_adam_betas_reach_the_optimizer(optimizer):
    parameters = list(torch.nn.Linear(2, 2).parameters())
    reference = build_optimizer(parameters, TrainConfig(optimizer=optimizer, adam_beta1=0.95, adam_beta2=0.9995))
    assert reference.param_groups[0]["betas"] == (0.95, 0.9995)  # openai/pixel-cnn train.py
    assert build_optimizer(parameters, TrainConfig(optimizer=optimizer)).param_groups[0]["betas"] == (0.9, 0.999)


@pytest.mark.parametrize("field,value", [("adam_beta1", 0.0), ("adam_beta1", 1.0), ("adam_beta2", 1.5)])
def test_adam_betas_outside_the_open_unit_interval_are_rejected(field, value):
    with pytest.raises(ConfigError, match=f"{field} must be in \\(0, 1\\), got {value}"):
        TrainConfig(**{field: value}).validate()


def test_gradient_accumulation_matches_one_big_batch(tmp_path):
    whole = train(tmp_path / "a", data=DATA, model="pixelcnn", model_overrides=TINY,
                  config=_config(epochs=1, grad_accum=1, optimizer="rmsprop", grad_clip=0.0))
    split = train(tmp_path / "b", data=DATA, model="pixelcnn", model_overrides=TINY,
                  config=_config(epochs=1, grad_accum=4, optimizer="rmsprop", grad_clip=0.0))
    assert whole.steps == split.steps
    for name, value in _weights(tmp_path / "a/last.pt").items():
        torch.testing.assert_close(_weights(tmp_path / "b/last.pt")[name], value, rtol=1e-4, atol=1e-5)


def test_ctrl_c_saves_a_checkpoint_that_resumes(tmp_path):
    command = [sys.executable, "-m", "pixelrnn", "train", "--data", "digits", "--model", "pixelcnn",
               "--hidden-channels", "4", "--layers", "1", "--epochs", "1000", "--sample-every", "0",
               "--log-every", "1", "--device", "cpu", "--run-dir", str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    metrics = tmp_path / "metrics.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (metrics.is_file() and metrics.read_text().count("\n") >= 3):
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "--resume" in stderr
    checkpoint = load_checkpoint(tmp_path / "last.pt")
    assert checkpoint["progress"]["step"] >= 3
    target = checkpoint["progress"]["step"] + 2
    resumed = train(tmp_path, resume=True, train_overrides={"max_steps": target})
    assert resumed.steps == target and resumed.test is not None


@pytest.mark.parametrize(("limit", "raise_to"), [(["--epochs", "1"], "--epochs 2"),
                                                 (["--max-steps", "2"], "--max-steps 4")])
def test_resuming_an_ended_run_says_so_and_appends_nothing(tmp_path, capsys, limit, raise_to):
    from pixelrnn.cli import main

    run_dir = tmp_path / "run"
    flags = ["--data", "digits", "--max-train-images", "48", "--max-test-images", "16", "--model", "pixelcnn",
             "--hidden-channels", "4", "--layers", "1", "--output-channels", "8", "--batch-size", "16",
             "--sample-every", "0", "--device", "cpu", "--epochs", "1", *limit]
    assert main(["train", "--run-dir", str(run_dir), *flags]) == 0
    first = capsys.readouterr().out
    metrics = (run_dir / "metrics.jsonl").read_bytes()
    assert main(["train", "--run-dir", str(run_dir), "--resume"]) == 0
    captured = capsys.readouterr()
    assert (run_dir / "metrics.jsonl").read_bytes() == metrics  # no second valid or test line
    assert captured.err.count("\n") == 1 and "nothing to do" in captured.err
    assert f"pixelrnn train --run-dir {run_dir} --resume {raise_to}" in captured.err
    assert captured.out.splitlines()[0] == first.splitlines()[0]  # the test NLL logged when the run ended
    assert main(["train", "--run-dir", str(run_dir), "--resume", *raise_to.split()]) == 0  # and it trains on
    assert "nothing to do" not in capsys.readouterr().err
    assert [line["kind"] for line in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
            ].count("test") == 1


def test_training_and_every_command_treat_subnormal_floats_as_zero():
    """Subnormal weights (weight decay drives a masked convolution's unused taps there) would run every operation
    that reads them on the CPU's slow path: setup_runtime and the command line flush them to zero."""
    from pixelrnn.cli import main
    from pixelrnn.runtime import setup_runtime

    subnormal = 1e-39  # below float32's smallest normal number, 1.18e-38
    torch.set_flush_denormal(False)
    assert torch.tensor([subnormal]).item() != 0
    setup_runtime("cpu")
    assert torch.tensor([subnormal]).item() == 0 and (torch.tensor([1e-38]) * 0.5).item() == 0
    torch.set_flush_denormal(False)
    assert main(["recipes"]) == 0
    assert torch.tensor([subnormal]).item() == 0


def test_a_run_validated_on_the_test_split_scores_it_once_at_the_end(tmp_path, monkeypatch):
    from pixelrnn.training.trainer import Trainer

    passes = []
    evaluate = Trainer._evaluate
    monkeypatch.setattr(Trainer, "_evaluate", lambda self, split: passes.append(len(split)) or evaluate(self, split))
    data = dataclasses.replace(DATA, valid_fraction=0.0)
    result = train(tmp_path, data=data, model="pixelcnn", model_overrides=TINY, config=_config(epochs=2))
    assert passes == [40, 40]  # one pass per epoch's close; the last one is also the test result
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    last_valid, test_line = [line for line in lines if line["kind"] == "valid"][-1], lines[-1]
    assert last_valid["split"] == "test" and test_line["kind"] == "test"
    assert test_line["nats_per_image"] == last_valid["nats_per_image"] == result.test.nats_per_image
    from pixelrnn.evaluate import evaluate as evaluate_checkpoint

    fresh = evaluate_checkpoint(tmp_path / "last.pt", "test", data, device="cpu").result
    assert fresh.nats_per_image == pytest.approx(test_line["nats_per_image"], rel=1e-12)


def test_a_stop_signal_while_the_curves_are_drawn_stops_the_run_cleanly(tmp_path, monkeypatch):
    # a signal raised inside the plotting library's first import came out as a RuntimeError (a traceback, exit 1)
    from pixelrnn.training import records

    drawn = []

    def plot_and_get_a_signal(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # arrives while the curves are drawn
        drawn.append(args[2])

    monkeypatch.setattr(records, "save_loss_curves", plot_and_get_a_signal)
    result = train(tmp_path, data=DATA, model="pixelcnn", model_overrides=TINY, config=_config(epochs=3))
    assert result.interrupted and result.saved and result.epochs_completed == 1
    assert drawn == [tmp_path / "loss_curve.png"]  # drawn whole, then stopped at the boundary after it
    monkeypatch.undo()  # the real plotting again
    resumed = train(tmp_path, resume=True)
    assert resumed.steps == 15 and not resumed.interrupted
