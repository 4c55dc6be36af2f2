"""FID: the statistic's maths, the two feature networks, ``pixelrnn fid`` end to end, and its one-line errors."""

from __future__ import annotations

import json
import logging
import re
import sys

import numpy as np
import pytest
import torch
from torch import nn

from pixelrnn.cli import main
from pixelrnn.config import DataConfig, TrainConfig
from pixelrnn.data import load_dataset
from pixelrnn.errors import CheckpointError, DataError, PixelRNNError
from pixelrnn.experiments.feature_classifier import (
    ClassifierConfig,
    FeatureClassifier,
    classifier_config,
    load_classifier,
    orient,
    save_classifier,
    to_unit_range,
)
from pixelrnn.experiments.fid import fid, frechet_distance
from pixelrnn.experiments.inception import FID_WEIGHTS_URL, FIDInceptionV3, load_fid_inception
from pixelrnn.run_folder import read_evaluations
from pixelrnn.train import train

DATA = DataConfig(name="digits", max_train_images=64, max_test_images=48)
TINY = {"hidden_channels": 4, "num_layers": 1, "output_channels": 8}
TORCHVISION_INCEPTION_V3_PARAMETERS = 21_785_568  # torchvision's Inception3 without its aux and fc heads


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("fid-run")
    config = TrainConfig(epochs=1, batch_size=16, eval_batch_size=64, sample_every=0, device="cpu")
    train(run_dir, data=DATA, model="pixelcnn-small", model_overrides=TINY, config=config)
    return run_dir / "last.pt"


@pytest.fixture(scope="module")
def first_fid(checkpoint):
    """A library FID run naming a classifier file that does not exist yet: it is trained and saved there.

    The file is where ``pixelrnn fid`` caches it by default, so that the command-line test reuses it.
    """
    path = checkpoint.parent / "fid-classifier-digits.pt"
    assert not path.exists()
    result = fid(checkpoint, num_samples=8, features="classifier", feature_weights=path, split="valid", device="cpu")
    return result, path.stat().st_mtime_ns


@pytest.fixture(scope="module")
def classifier(first_fid):
    return load_classifier(first_fid[0].classifier_path, torch.device("cpu"))[0]


class MeanBrightness(nn.Module):
    """One feature per image: its mean value (no parameters)."""

    num_features = 1

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.mean(dim=(1, 2, 3))[:, None]  # (B, 1)


def test_one_feature_fid_is_the_closed_form_of_two_gaussians():
    generator = torch.Generator().manual_seed(0)
    real = torch.rand(300, 1, 4, 4, generator=generator) * 0.5
    fake = torch.rand(200, 1, 4, 4, generator=generator) * 0.8 + 0.1
    a, b = real.double().mean(dim=(1, 2, 3)), fake.double().mean(dim=(1, 2, 3))
    expected = (a.mean() - b.mean()) ** 2 + (a.std() - b.std()) ** 2  # d² of N(μ1, σ1²) and N(μ2, σ2²)
    assert frechet_distance(real, fake, MeanBrightness(), batch_size=64) == pytest.approx(float(expected), rel=1e-4)


def test_classifier_fid_is_zero_against_itself_and_grows_with_noise(classifier):
    dataset = load_dataset(DATA)
    images = to_unit_range(dataset.test.images, dataset.num_levels)  # (48, 1, 8, 8) in [0, 1]
    with torch.no_grad():
        scale = float(classifier(images).var(dim=0).sum())  # trace of the feature covariance
    assert frechet_distance(images, images, classifier) < 1e-3 * scale
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(1))
    distances = [frechet_distance(images, (images + level * noise).clamp(0, 1), classifier)
                 for level in (0.05, 0.2, 0.6)]
    assert 1e-3 * scale < distances[0] < distances[1] < distances[2], (scale, distances)


def test_named_classifier_file_is_trained_when_missing_then_reused(checkpoint, first_fid):
    first, written = first_fid
    path = checkpoint.parent / "fid-classifier-digits.pt"
    assert first.classifier_path == str(path) and first.features == "classifier trained on digits"
    assert 0.5 < first.classifier_accuracy <= 1  # on the digits' class labels; chance: 0.1
    assert (first.split, first.num_reference, first.num_samples, first.data_name) == ("valid", 48, 8, "digits")
    second = fid(checkpoint, num_samples=8, features="classifier", feature_weights=path, split="valid", device="cpu")
    assert path.stat().st_mtime_ns == written and second.value == first.value > 0


def test_orientation_task_for_unlabeled_data():
    dataset = load_dataset(DATA)
    dataset.num_classes = 0
    config = classifier_config(dataset)
    assert (config.task, config.num_classes, config.image_shape, config.num_levels) == ("orientation", 4,
                                                                                         (1, 8, 8), 17)
    images = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 1, 3, 4)
    turned = orient(images.repeat(4, 1, 1, 1), torch.tensor([0, 0, 1, 1, 2, 2, 3, 3]))
    for k, expected in enumerate((images, images.flip(2), images.flip(3), images.rot90(2, dims=(2, 3)))):
        assert torch.equal(turned[2 * k:2 * k + 2], expected)
    for shape in ((1, 1, 1), (1, 5, 7), (3, 32, 32)):  # any image shape of our data sets
        network = FeatureClassifier(ClassifierConfig(*shape, num_levels=2, task="orientation", num_classes=4))
        images = torch.rand(3, *shape)
        assert network(images).shape == (3, 128) and network.logits(images).shape == (3, 4)


def test_inception_features_and_weight_file_round_trip(tmp_path):
    torch.manual_seed(0)
    network = FIDInceptionV3().eval()
    assert sum(p.numel() for p in network.parameters()) == TORCHVISION_INCEPTION_V3_PARAMETERS
    state = network.state_dict()
    for key in ("Conv2d_1a_3x3.conv.weight", "Conv2d_1a_3x3.bn.running_mean", "Mixed_5b.branch1x1.conv.weight",
                "Mixed_6e.branch7x7dbl_5.bn.running_var", "Mixed_7c.branch3x3dbl_3b.conv.weight"):
        assert key in state
    assert network.Conv2d_1a_3x3.bn.eps == 0.001
    with torch.no_grad():
        grey, colour = network(torch.rand(2, 1, 8, 8)), network(torch.rand(1, 3, 32, 32))
    assert grey.shape == (2, 2048) and colour.shape == (1, 2048)
    assert torch.isfinite(grey).all() and torch.isfinite(colour).all() and not torch.equal(grey[0], grey[1])
    for key, value in state.items():  # random running statistics: a load that skipped buffers would show
        if key.endswith("running_mean") or key.endswith("running_var"):
            value.copy_(torch.rand(value.shape) + 0.5)
    saved = {key: value for key, value in state.items() if not key.endswith("num_batches_tracked")}
    saved.update({"fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)})  # as pytorch-fid's file
    torch.save(saved, tmp_path / "inception.pth")
    loaded = load_fid_inception(tmp_path / "inception.pth").state_dict()
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[key], value) for key, value in saved.items() if key in loaded)


def _fid_error(argv: list[str], capsys) -> str:
    status = main(argv)
    err = capsys.readouterr().err.strip()
    assert status == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("pixelrnn: error:"), err
    return err


def test_missing_inception_weights_is_a_one_line_error_naming_the_download(checkpoint, tmp_path, capsys):
    for extra in ([], ["--feature-weights", str(tmp_path / "nowhere.pth")]):
        err = _fid_error(["fid", str(checkpoint), "-n", "4", "--features", "inception", *extra], capsys)
        assert FID_WEIGHTS_URL in err and "--feature-weights" in err
    assert "not found" in err and "nowhere.pth" in err


def test_wrong_inception_weight_files_are_one_line_errors(checkpoint, tmp_path, capsys):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pth")
    err = _fid_error(["fid", str(checkpoint), "-n", "4", "--features", "inception", "--feature-weights",
                      str(tmp_path / "other.pth")], capsys)
    assert "does not hold the FID Inception weights" in err and "1 unexpected (first: weights)" in err
    state = FIDInceptionV3().state_dict()
    state["Mixed_6b.branch7x7_2.conv.weight"] = torch.zeros(128, 128, 7, 1)  # 7×1 where 1×7 belongs
    torch.save(state, tmp_path / "misshapen.pth")
    with pytest.raises(CheckpointError, match=r"1 misshapen \(first: Mixed_6b.branch7x7_2.conv.weight\)"):
        load_fid_inception(tmp_path / "misshapen.pth")
    (tmp_path / "garbage.pth").write_bytes(b"\x80\x02not a pickle at all")
    with pytest.raises(CheckpointError, match="not a readable weight file"):
        load_fid_inception(tmp_path / "garbage.pth")


def test_pixelrnn_fid_end_to_end_with_classifier_features(checkpoint, first_fid, capsys):
    argv = ["fid", str(checkpoint), "-n", "16", "--seed", "3", "--device", "cpu"]
    assert main(argv) == 0  # digits have 17 levels: the classifier features by default, from the cached file
    line = capsys.readouterr().out.strip()
    match = re.fullmatch(r"FID (\d+\.\d\d) \(features: classifier trained on digits, N=16 samples vs the test "
                         r"split's 48 images\)", line)
    assert match, line
    assert main([*argv, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert f"{result['value']:.2f}" == match.group(1)  # same seed, same samples, same value
    assert result["classifier_accuracy"] == first_fid[0].classifier_accuracy and result["num_reference"] == 48
    assert (checkpoint.parent / "fid-classifier-digits.pt").stat().st_mtime_ns == first_fid[1]  # reused
    assert result["value"] > 0
    recorded = [record for record in read_evaluations(checkpoint.parent) if record["kind"] == "fid"]
    assert len(recorded) == 2 and recorded[-1]["value"] == result["value"]  # both runs kept, for compare
    assert recorded[-1]["num_samples"] == 16 and recorded[-1]["seed"] == 3 and recorded[-1]["checkpoint"] == "last.pt"


def test_data_set_mismatches_are_one_line_errors(checkpoint, tmp_path, capsys):
    np.savez(tmp_path / "big.npz", x_train=np.zeros((4, 28, 28), np.uint8), x_test=np.zeros((4, 28, 28), np.uint8))
    err = _fid_error(["fid", str(checkpoint), "-n", "4", "--data", "npz", "--data-path", str(tmp_path / "big.npz")],
                     capsys)
    assert "expects 1×8×8 images with 17 levels" in err and "1×28×28" in err
    other = FeatureClassifier(ClassifierConfig(1, 28, 28, num_levels=256, task="labels", num_classes=10))
    save_classifier(other, "mnist", 0.0, tmp_path / "mnist-classifier.pt")
    with pytest.raises(DataError, match="trained on 1×28×28 images with 256 levels"):
        fid(checkpoint, num_samples=4, features="classifier", feature_weights=tmp_path / "mnist-classifier.pt",
            device="cpu")


def test_missing_torchmetrics_names_the_extra(checkpoint, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchmetrics.image.fid", None)  # makes the import fail
    with pytest.raises(PixelRNNError, match=re.escape("pip install 'pixelrnn[fid]'")):
        fid(checkpoint, num_samples=4, device="cpu")


def test_training_the_classifier_says_so_first_and_shows_progress(tmp_path, caplog, monkeypatch):
    from pixelrnn.experiments import feature_classifier

    monkeypatch.setattr(feature_classifier, "PROGRESS_SECONDS", 0.0)  # a line after every epoch
    caplog.set_level(logging.INFO)
    dataset = load_dataset(DataConfig(name="digits", max_train_images=256, max_test_images=16))
    path = tmp_path / "classifier.pt"
    feature_classifier.classifier_for(dataset, path, torch.device("cpu"))
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0] == (f"training the FID feature classifier on digits (labels task, 256 training images; "
                           f"once: it is saved to {path} and reused)")
    epochs = [message for message in messages if message.startswith("FID feature classifier: epoch")]
    assert len(epochs) == 100 and epochs[-1].startswith("FID feature classifier: epoch 100/100, loss ")
    assert messages[-1].startswith("trained the FID feature classifier on digits")
