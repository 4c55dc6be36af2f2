"""Export in the Hub's conventions, and from_pretrained: the same likelihoods as the checkpoint."""

from __future__ import annotations

import json
import os

import pytest
import torch

import pixelrnn
from pixelrnn.checkpoint import load_model
from pixelrnn.cli import main
from pixelrnn.config import DataConfig, TrainConfig
from pixelrnn.data import load_dataset
from pixelrnn.errors import CheckpointError
from pixelrnn.train import train


@pytest.mark.parametrize("preset,ema_decay", [("diagonal-bilstm-small", 0.0), ("pixelcnn-small", 0.9)])
def test_exported_folder_loads_with_the_checkpoints_likelihoods(tmp_path, capsys, preset, ema_decay):
    data = DataConfig(name="digits", max_train_images=32, max_test_images=16)
    train(tmp_path / "run", data=data, model=preset, model_overrides={"hidden_channels": 4},
          config=TrainConfig(epochs=1, batch_size=16, sample_every=0, device="cpu", ema_decay=ema_decay))
    assert main(["export", str(tmp_path / "run/last.pt"), str(tmp_path / "export")]) == 0
    assert "exported to" in capsys.readouterr().out
    folder = tmp_path / "export"
    assert {path.name for path in folder.iterdir()} == {"config.json", "model.safetensors", "README.md"}
    umask = os.umask(0o022)
    os.umask(umask)
    modes = {path.name: path.stat().st_mode & 0o777 for path in folder.iterdir()}
    assert modes == dict.fromkeys(modes, 0o666 & ~umask)  # the weights as readable as the rest (not 0600)
    config = json.loads((folder / "config.json").read_text())
    assert config["library_name"] == "pixelrnn" and config["averaged_weights"] == (ema_decay > 0)
    card = (folder / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: pixelrnn\nlicense: mit\n") and "bits/dim over 16 test images" in card
    test = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()
            if '"kind": "test"' in line][-1]
    metadata = card.split("---\n")[1]  # the YAML front matter: the Hub's fields and the evaluation result
    assert "pipeline_tag: unconditional-image-generation\n" in metadata and "model-index:\n" in metadata
    assert f"value: {test['nats_per_image']:.4f}\n" in metadata and f"value: {test['bits_per_dim']:.5f}\n" in metadata
    command = card.split("Trained with: `")[1].split("`")[0]  # the command reproduces the run's settings
    assert command.startswith("pixelrnn train --data digits --max-train-images 32 --max-test-images 16 --model ")
    assert "--hidden-channels 4" in command and "--epochs 1 --batch-size 16" in command
    if preset == "diagonal-bilstm-small":
        assert "--recurrent-layer diagonal_bilstm" in command
    images = load_dataset(data).test.images
    exported, checkpoint = pixelrnn.from_pretrained(folder), load_model(tmp_path / "run/last.pt")
    with torch.no_grad():
        assert torch.equal(exported.log_prob(images), checkpoint.log_prob(images))


def test_a_folder_that_is_not_an_export_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="is not a pixelrnn export"):
        pixelrnn.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="is not a pixelrnn export"):
        pixelrnn.from_pretrained(tmp_path)


def test_subnormal_weights_are_exported_as_zeros_and_the_rest_unchanged(tmp_path):
    from safetensors.torch import load_file

    from pixelrnn.export import export_model

    data = DataConfig(name="digits", max_train_images=16, max_test_images=16)
    train(tmp_path / "run", data=data, model="pixelcnn-small", model_overrides={"hidden_channels": 4},
          config=TrainConfig(epochs=1, batch_size=16, sample_every=0, device="cpu"))
    torch.set_flush_denormal(False)  # training set it; the subnormal value below must survive until export
    checkpoint = torch.load(tmp_path / "run/last.pt", weights_only=True)
    name = next(key for key, value in checkpoint["model"].items() if value.is_floating_point() and value.numel() > 1)
    checkpoint["model"][name].view(-1)[0] = 1e-39  # subnormal in float32
    assert checkpoint["model"][name].view(-1)[0].item() != 0
    torch.save(checkpoint, tmp_path / "run/last.pt")
    weights = load_file(export_model(tmp_path / "run/last.pt", tmp_path / "export") / "model.safetensors")
    stored = {key: value for key, value in checkpoint["model"].items() if key in weights}
    assert weights[name].view(-1)[0].item() == 0 and torch.equal(weights[name].view(-1)[1:], stored[name].view(-1)[1:])
    assert all(torch.equal(weights[key], value) for key, value in stored.items() if key != name)
