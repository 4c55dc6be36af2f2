"""Out-of-distribution scores: AUROC / AUPR on constructed cases, the image sets, the scores' definitions, and the
command end to end (the raw likelihood's failure on blank images, corrected by the complexity score)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pixelrnn.checkpoint import load_checkpoint, model_from_checkpoint
from pixelrnn.cli import main
from pixelrnn.ood import auroc, average_precision, image_set, nll_bits, png_bits

CLI_RUN = ["--data", "digits", "--max-train-images", "256", "--max-test-images", "64", "--model", "pixelcnn",
           "--layers", "2", "--hidden-channels", "8", "--output-channels", "16", "--batch-size", "32",
           "--epochs", "3", "--sample-every", "0", "--device", "cpu"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ood") / "run"
    assert main(["train", "--run-dir", str(folder), *CLI_RUN]) == 0
    return folder


def test_auroc_and_aupr_on_a_hand_computed_case():
    in_scores, out_scores = np.array([0.0, 1.0, 2.0]), np.array([1.5, 3.0])
    assert auroc(in_scores, out_scores) == pytest.approx(5 / 6)  # 5 of the 6 (out, in) pairs are ordered right
    assert average_precision(in_scores, out_scores) == pytest.approx((1 + 2 / 3) / 2)  # precisions at the 2 hits
    assert auroc(in_scores, in_scores + 10) == 1.0 and auroc(in_scores + 10, in_scores) == 0.0
    assert auroc(np.ones(4), np.ones(3)) == 0.5  # ties count half


def test_auroc_and_aupr_agree_with_scikit_learn_with_ties():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    in_scores, out_scores = rng.integers(0, 6, 50).astype(float), rng.integers(2, 9, 30).astype(float)
    labels, scores = np.r_[np.zeros(50), np.ones(30)], np.r_[in_scores, out_scores]
    assert auroc(in_scores, out_scores) == pytest.approx(metrics.roc_auc_score(labels, scores), abs=1e-12)
    assert average_precision(in_scores, out_scores) == pytest.approx(
        metrics.average_precision_score(labels, scores), abs=1e-12)


def test_image_sets_have_the_models_shape_and_levels(run):
    checkpoint = load_checkpoint(run / "last.pt")
    reference = image_set("test", checkpoint, 10)
    assert reference.shape == (10, 1, 8, 8) and int(reference.min()) >= 0 and int(reference.max()) <= 16
    assert torch.equal(image_set("inverted", checkpoint, 10, reference=reference), 16 - reference)
    assert int(image_set("blank", checkpoint, 5).abs().sum()) == 0
    constant = image_set("constant", checkpoint, 5, seed=1)
    assert all(len(image.unique()) == 1 for image in constant)
    noise = image_set("noise", checkpoint, 5, seed=1)
    assert torch.equal(noise, image_set("noise", checkpoint, 5, seed=1)) and len(noise.unique()) > 8


def test_other_data_sets_are_converted_to_the_models_channels_size_and_levels(tmp_path, run):
    rgb = np.zeros((4, 16, 16, 3), dtype=np.uint8)
    rgb[..., 0] = 255  # pure red: luminance 0.299 · 255
    np.savez(tmp_path / "red.npz", x_train=rgb, x_test=rgb)
    images = image_set(f"{tmp_path / 'red.npz'}", load_checkpoint(run / "last.pt"), 4)
    assert images.shape == (4, 1, 8, 8) and images.unique().tolist() == [round(0.299 * 16)]


def test_the_scores_are_what_they_say(run):
    checkpoint = load_checkpoint(run / "last.pt")
    model = model_from_checkpoint(checkpoint)
    images = image_set("test", checkpoint, 7)
    bits = nll_bits(model, images, None, batch_size=3)
    expected = -model.log_prob(images).detach().double().numpy() / math.log(2)
    assert np.allclose(bits, expected, rtol=1e-6)  # batches of 3 vs 7: the convolutions round differently
    blank, noise = png_bits(image_set("blank", checkpoint, 2), 17), png_bits(image_set("noise", checkpoint, 2), 17)
    assert (blank < noise).all()


def test_the_command_shows_the_raw_scores_failure_on_blank_images_and_its_correction(run, tmp_path, capsys):
    report = tmp_path / "report"
    assert main(["ood", str(run), "--out", "blank", "noise", "inverted", "-n", "64", "--report", str(report),
                 "--background", str(run), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    rows = {tuple(cells[1:3]): float(cells[3]) for line in out.splitlines()
            if (cells := [cell.strip() for cell in line.split("|")]) and len(cells) > 4 and cells[1] != "out set"
            and not cells[1].startswith("---")}
    assert rows[("blank", "nll")] < 0.5 < 0.9 < rows[("blank", "complexity")]  # blank: likelier than real digits
    assert rows[("noise", "nll")] > 0.9
    assert rows[("blank", "ratio")] == 0.5  # against itself as background: the ratio is 0 for every image
    assert {path.name for path in report.iterdir()} == {"ood.md", "ood.csv", "ood.png"}
    assert len((report / "ood.csv").read_text().splitlines()) == 1 + 4 * 64


def test_bad_sets_are_one_line_errors(run, capsys):
    for argv, expected in ((["--out", "nonsense"], "unknown image set"), (["--out", "mnist:holdout"], "split"),
                           (["--in", "inverted", "--out", "noise"], "inverts the in-distribution")):
        assert main(["ood", str(run), *argv, "--device", "cpu"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("pixelrnn: error:") and len(err.splitlines()) == 1 and expected in err, err
