"""Pretrained models by name: listed, loadable wherever a checkpoint is, and equal to what their cards state."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import pixelrnn
from pixelrnn import pretrained
from pixelrnn.checkpoint import load_checkpoint, load_model
from pixelrnn.cli import main
from pixelrnn.config import DataConfig, TrainConfig
from pixelrnn.data import load_dataset
from pixelrnn.evaluate import evaluate, stored_data_config
from pixelrnn.export import export_model
from pixelrnn.train import train

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DIGITS = DataConfig(name="digits", max_train_images=32, max_test_images=16)


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """A tiny model trained on the digits, shipped as ``tiny-digits`` in a stand-in models folder."""
    train(tmp_path / "run", data=DIGITS, model="pixelcnn-tiny",
          config=TrainConfig(epochs=1, batch_size=16, sample_every=0, device="cpu"))
    folder = export_model(tmp_path / "run/last.pt", tmp_path / "models" / "tiny-digits")
    config = json.loads((folder / "config.json").read_text())
    config["parameters"] = 1234
    config["pretrained"] = {"row": "a test row", "source_short": "tests", "paper_figure": None, "unit": "bits/dim",
                            "data": "digits", "test": {"nats_per_image": 1.0, "bits_per_dim": 2.0, "num_images": 16}}
    (folder / "config.json").write_text(json.dumps(config))
    monkeypatch.setattr(pretrained, "MODELS_DIR", tmp_path / "models")
    monkeypatch.chdir(tmp_path)  # a name, not a path: no folder called tiny-digits here
    return tmp_path / "run/last.pt"


def test_a_name_is_accepted_wherever_a_checkpoint_is(shipped, tmp_path, capsys):
    assert main(["pretrained"]) == 0
    listing = capsys.readouterr().out
    assert "tiny-digits" in listing and "a test row" in listing and "2.000 bits/dim (none stated)" in listing
    assert "1,234" in listing
    assert main(["pretrained", "tiny-digits"]) == 0
    assert "library_name: pixelrnn" in capsys.readouterr().out
    assert main(["eval", "tiny-digits", "--max-test-images", "16"]) == 0
    by_name = capsys.readouterr().out
    assert main(["eval", str(shipped), "--max-test-images", "16"]) == 0
    assert capsys.readouterr().out == by_name  # the same exact NLL as the checkpoint it was exported from
    assert main(["sample", "tiny-digits", "-n", "2", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").is_file()
    assert main(["complete", "tiny-digits", "--test-index", "0", "--keep-rows", "4", "-n", "1",
                 "--out", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").is_file()
    images = load_dataset(DIGITS).test.images
    with torch.no_grad():
        assert torch.equal(pixelrnn.from_pretrained("tiny-digits").log_prob(images),
                           load_model(shipped).log_prob(images))
    assert load_checkpoint("tiny-digits")["data"]["config"]["name"] == "digits"


def test_unknown_names_get_one_line_that_points_to_the_list(shipped, capsys):
    assert main(["eval", "no-such-model"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no-such-model" in error and "pixelrnn pretrained" in error
    assert main(["pretrained", "no-such-model"]) == 2
    assert "tiny-digits" in capsys.readouterr().err
    with pytest.raises(pixelrnn.errors.CheckpointError, match="pixelrnn pretrained"):
        pixelrnn.from_pretrained("no-such-model")


def test_an_existing_path_wins_over_a_name(shipped, tmp_path):
    (tmp_path / "tiny-digits").mkdir()
    assert pretrained.resolve("tiny-digits") == Path("tiny-digits")


def test_the_package_ships_models_with_complete_cards():
    models = pretrained.available()
    assert models, "no pretrained model is shipped"
    for model in models.values():
        info = model.info
        assert {"recipe", "row", "test", "check", "compute", "command"} <= set(info)
        classes = json.loads((model.folder / "config.json").read_text())["data"]["config"].get("classes") or []
        whole_test_split = 1_000 * len(classes) if classes else 10_000  # CIFAR-10: 1,000 test images per class
        assert info["test"]["num_images"] == whole_test_split and model.parameters > 0
        assert info["compute"]["cpu_hours"] > 0 and info["compute"]["machine"]
        # the weights in float32 and nothing else (no optimizer state): 4 bytes a parameter plus the header
        assert (model.folder / "model.safetensors").stat().st_size <= 4 * model.parameters + 65_536
        card = (model.folder / "README.md").read_text()
        assert info["command"] in card and f"{info['test']['nats_per_image']:.4f}" in card


@pytest.mark.parametrize("name", sorted(pretrained.available()))
def test_a_shipped_model_gives_its_stated_nll_on_real_test_images(name):
    model = pretrained.available()[name]
    npz = SHARED_DATA / f"{model.data_name}.npz"
    if not npz.is_file():
        pytest.skip(f"the real data set {npz} is not on this machine")
    check = model.info["check"]
    data = dataclasses.replace(stored_data_config(load_checkpoint(name)), path=str(npz),
                               max_test_images=check["num_images"])
    result = evaluate(name, "test", data, device="cpu").result
    assert result.num_images == check["num_images"]
    assert np.isclose(result.nats_per_image, check["nats_per_image"], rtol=0, atol=1e-3)


def test_caches_of_a_pretrained_model_go_to_the_user_cache_not_the_package(shipped, tmp_path, monkeypatch):
    from pixelrnn.experiments.fid import classifier_cache_path

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert classifier_cache_path(pretrained.resolve("tiny-digits"), "digits") == \
        tmp_path / "cache" / "pixelrnn" / "tiny-digits" / "fid-classifier-digits.pt"
    assert classifier_cache_path(shipped, "digits") == tmp_path / "run" / "fid-classifier-digits.pt"


def test_the_stated_test_nll_of_a_pretrained_model_is_what_cards_and_the_page_show(shipped):
    from pixelrnn.export import recorded_test_metrics

    assert recorded_test_metrics(Path("tiny-digits")) == {"nats_per_image": 1.0, "bits_per_dim": 2.0,
                                                          "num_images": 16}
    assert recorded_test_metrics(shipped)["kind"] == "test"  # a run's checkpoint: its metrics.jsonl


def test_the_page_loads_a_pretrained_model_by_name_with_its_card(shipped):
    from pixelrnn.ui.session import load_models, model_card

    card = model_card(load_models(["tiny-digits"])["tiny-digits"])
    assert "**2.0000 bits/dim** (1.00 nats/image) over 16 test images" in card


def test_a_pretrained_model_completes_a_test_image_of_the_users_copy_of_its_data(tmp_path, capsys):
    name = "pixelcnn-binarized-mnist"
    npz = SHARED_DATA / "binarized_mnist.npz"
    if name not in pretrained.available() or not npz.is_file():
        pytest.skip(f"needs the shipped {name} and the real data set {npz}")
    out = tmp_path / "completions.png"
    assert main(["complete", name, "--test-index", "3", "--keep-rows", "14", "-n", "2", "--data-path", str(npz),
                 "--out", str(out)]) == 0
    grid = np.load(out.with_suffix(".npz"))["images"]
    original = np.load(npz)["x_test"][3]
    assert grid.shape == (4, 1, 28, 28) and np.array_equal(grid[0, 0], original)
    assert all(np.array_equal(completion[0, :14], original[:14]) for completion in grid[2:])


def test_a_pretrained_model_compresses_and_maps_test_images_of_the_users_copy_of_its_data(tmp_path, capsys):
    name = "pixelcnn-binarized-mnist"
    npz = SHARED_DATA / "binarized_mnist.npz"
    if name not in pretrained.available() or not npz.is_file():
        pytest.skip(f"needs the shipped {name} and the real data set {npz}")
    archive, decoded = tmp_path / "test.prnn", tmp_path / "decoded.npz"
    assert main(["compress", name, "--split", "test", "--max-images", "4", "--data-path", str(npz),
                 "--out", str(archive)]) == 0
    assert main(["decompress", name, str(archive), "--out", str(decoded)]) == 0
    assert np.array_equal(np.load(decoded)["images"][:, 0], np.load(npz)["x_test"][:4])
    assert main(["heatmap", name, "--test-index", "0", "5", "--data-path", str(npz),
                 "--out", str(tmp_path / "heatmap.png")]) == 0
    assert (tmp_path / "heatmap.png").is_file()


def test_a_damaged_export_is_one_line_not_a_traceback(shipped, tmp_path, capsys):
    folder = tmp_path / "models" / "tiny-digits"
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    assert main(["eval", "tiny-digits"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "is not a readable pixelrnn export" in error
