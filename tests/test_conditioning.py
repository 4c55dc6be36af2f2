"""Class conditioning in every model, the three fusion strategies, ``sample --class`` and likelihood classification."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from causality import assert_causal
from PIL import Image

from pixelrnn.classify import class_log_prior, classify
from pixelrnn.cli import main
from pixelrnn.config import CONDITIONINGS, DataConfig, TrainConfig
from pixelrnn.errors import ConfigError
from pixelrnn.models import build_model, count_parameters, model_config
from pixelrnn.plots import display_scale
from pixelrnn.run_folder import read_evaluations
from pixelrnn.train import train

SMALL = {"hidden_channels": 6, "num_layers": 2, "output_channels": 6}
MODELS_TO_CONDITION = [
    ("pixelcnn", {}),
    ("pixelrnn", {"recurrent_layer": "row_lstm"}),
    ("pixelrnn", {"recurrent_layer": "diagonal_bilstm"}),
    ("multiscale_pixelrnn", {}),
    ("gated_pixelcnn", {}),
    ("pixelcnn_pp", {"num_layers": 1}),
]


def _model(name: str, fields: dict, conditioning: str, channels: int = 3, num_classes: int = 3):
    torch.manual_seed(0)
    size = (8, 8) if name == "pixelcnn_pp" else (6, 6)  # PixelCNN++ halves the image twice
    return build_model(model_config(name, (channels, *size), 4, num_classes=num_classes,
                                    conditioning=conditioning, **{**SMALL, **fields}))


@pytest.mark.parametrize("name,fields", MODELS_TO_CONDITION)
@pytest.mark.parametrize("conditioning", CONDITIONINGS)
def test_every_model_and_strategy_is_causal_and_uses_the_label(name, fields, conditioning):
    model = _model(name, fields, conditioning)
    assert_causal(model, labels=torch.tensor([2]))
    if conditioning == "film":  # γ = β = 0 at the start: the label has no effect until trained
        for projection in model.conditioning.projections if hasattr(model, "conditioning") else []:
            torch.nn.init.normal_(projection.weight, std=0.5)
    for module in model.modules():  # multiscale: both halves carry their own conditioning
        if getattr(module, "conditioning", None) is not None and conditioning == "film":
            for projection in module.conditioning.projections:
                torch.nn.init.normal_(projection.weight, std=0.5)
    images = torch.randint(0, 4, (2, *model.config.image_shape), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        by_label = [model.log_prob(images, torch.full((2,), label)) for label in range(3)]
    assert not torch.allclose(by_label[0], by_label[1]) and not torch.allclose(by_label[1], by_label[2])


@pytest.mark.parametrize("conditioning", CONDITIONINGS)
def test_conditioning_parameters_match_the_strategy(conditioning):
    unconditional = count_parameters(_model("pixelcnn", {}, conditioning, num_classes=0))
    conditional = count_parameters(_model("pixelcnn", {}, conditioning, num_classes=3))
    layers, maps, classes, d = SMALL["num_layers"] + 1, 2 * SMALL["hidden_channels"], 3, 2 * SMALL["hidden_channels"]
    expected = {
        "embedding": classes * d + layers * (d * maps + maps),  # embedding table + a linear map per layer
        "onehot": layers * classes * maps,  # V_l · onehot(y): one bias per class and layer
        "film": classes * d + layers * (d * 2 * maps + 2 * maps),  # scale and shift per layer
    }[conditioning]
    assert conditional - unconditional == expected


def test_film_starts_as_the_identity():
    model = _model("pixelrnn", {}, "film")
    images = torch.randint(0, 4, (2, 3, 6, 6))
    with torch.no_grad():
        assert torch.equal(model.log_prob(images, torch.tensor([0, 0])), model.log_prob(images, torch.tensor([2, 2])))


def test_unknown_conditioning_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown conditioning 'concat'"):
        model_config("pixelcnn", (1, 6, 6), 4, num_classes=2, conditioning="concat")


def test_class_prior_is_smoothed_training_frequencies():
    log_prior = class_log_prior(torch.tensor([0, 0, 0, 1]), 3)
    assert torch.allclose(log_prior.exp(), torch.tensor([4 / 7, 2 / 7, 1 / 7], dtype=torch.float64))


def _two_class_npz(path) -> None:
    """Binary 8×8 images: class 0 has its top half lit, class 1 its bottom half, with 2 % flipped pixels."""
    rng = np.random.default_rng(0)

    def split(count: int):
        labels = rng.integers(0, 2, count)
        images = np.zeros((count, 8, 8), np.uint8)
        images[labels == 0, :4] = 1
        images[labels == 1, 4:] = 1
        images ^= (rng.random(images.shape) < 0.02).astype(np.uint8)
        return images, labels

    (x_train, y_train), (x_test, y_test) = split(160), split(40)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


@pytest.fixture(scope="module")
def two_class_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("two_classes")
    _two_class_npz(folder / "two.npz")
    data = DataConfig(name="npz", path=str(folder / "two.npz"), valid_fraction=0.0)
    config = TrainConfig(epochs=8, batch_size=16, lr=1e-2, sample_every=0, device="cpu")
    train(folder / "run", data=data, model="pixelcnn-tiny", config=config, conditional=True)
    return folder / "run"


def test_trained_conditional_model_gives_class_dependent_likelihoods_and_classifies(two_class_run):
    result = classify(two_class_run / "last.pt", device="cpu")
    assert result.accuracy == 1.0 and int(result.confusion.sum()) == 40
    assert result.confusion.sum(dim=1).tolist() == torch.bincount(torch.tensor(
        np.load(two_class_run.parent / "two.npz")["y_test"]), minlength=2).tolist()
    per_class = result.bits_per_dim_per_class
    assert torch.isfinite(per_class).all() and result.marginal_bits_per_dim < 1.0  # a uniform binary model: 1.0


def test_classify_and_per_class_sampling_from_the_command_line(two_class_run, tmp_path, capsys):
    assert main(["classify", str(two_class_run), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "accuracy 1.0000 (40/40)" in out and "confusion matrix" in out
    recorded = read_evaluations(two_class_run)[-1]  # kept for `pixelrnn compare`
    assert recorded["kind"] == "classify" and recorded["accuracy"] == 1.0 and recorded["num_images"] == 40
    assert recorded["split"] == "test" and recorded["checkpoint"] == "last.pt"
    grid = tmp_path / "grid.png"
    assert main(["sample", str(two_class_run), "--per-class", "3", "--out", str(grid), "--device", "cpu"]) == 0
    saved = np.load(grid.with_suffix(".npz"))
    assert saved["images"].shape == (6, 1, 8, 8) and saved["labels"].tolist() == [0, 0, 0, 1, 1, 1]
    assert Image.open(grid).width > 3 * 8 * display_scale(8, 8) + 30  # a margin of class labels left of the rows
    top, bottom = saved["images"][:, 0, :4].mean(axis=(1, 2)), saved["images"][:, 0, 4:].mean(axis=(1, 2))
    assert (top[:3] > bottom[:3]).all() and (bottom[3:] > top[3:]).all()  # each row looks like its class
    assert main(["sample", str(two_class_run), "--class", "1", "-n", "2", "--out", str(grid), "--device", "cpu"]) == 0
    assert np.load(grid.with_suffix(".npz"))["labels"].tolist() == [1, 1]
    for argv, expected in ((["--class", "2"], "--class must be in [0, 1]"), ([], None)):
        if expected:
            assert main(["sample", str(two_class_run), *argv, "--out", str(grid)]) == 2
            assert expected in capsys.readouterr().err


def test_classify_prints_a_headed_confusion_matrix_and_no_nan_for_a_class_without_images(two_class_run, capsys):
    y_test = np.load(two_class_run.parent / "two.npz")["y_test"]
    only_first = int(np.argmax(y_test != y_test[0]))  # the first test images are all of class y_test[0]
    assert main(["classify", str(two_class_run), "--device", "cpu", "--max-test-images", str(only_first)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = lines.index("  true \\ predicted    0    1  images")
    counts = [lines[header + 1 + k].split() for k in range(2)]
    assert counts[y_test[0]] == [str(y_test[0]), *(["0", str(only_first)] if y_test[0] else [str(only_first), "0"]),
                                 str(only_first)]
    assert counts[1 - y_test[0]] == [str(1 - y_test[0]), "0", "0", "0"]
    assert "nan" not in out and f"{1 - y_test[0]}: no test images" in out
