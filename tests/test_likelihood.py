"""Exact likelihood anchors through the real evaluation path: uniform = log2(L) bits/dim, a hand-computed case."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pixelrnn.checkpoint import make_checkpoint, save_checkpoint
from pixelrnn.config import DataConfig, to_dict
from pixelrnn.data import load_dataset
from pixelrnn.evaluate import evaluate
from pixelrnn.likelihood import NLLMeter, nats_to_bits_per_dim, uniform_bits_per_dim
from pixelrnn.models import build_model, model_config


def _constant_output_model(tmp_path, data: DataConfig, subpixel_logits: torch.Tensor):
    """A PixelCNN whose every weight is zero and whose last layer's bias is ``subpixel_logits``.

    Every ReLU then sees zeros, so each sub-pixel's distribution is softmax(subpixel_logits), whatever the
    image: its exact NLL can be computed by hand.
    """
    dataset = load_dataset(data)
    model = build_model(model_config("pixelcnn", dataset.image_shape, dataset.num_levels, hidden_channels=3,
                                     num_layers=1, output_channels=6))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        last = [module for module in model.modules() if getattr(module, "bias", None) is not None][-1]
        last.bias.copy_(subpixel_logits.repeat(dataset.image_shape[0]))
    info = {"name": dataset.name, "num_levels": dataset.num_levels, "num_classes": dataset.num_classes,
            "image_shape": list(dataset.image_shape), "config": to_dict(data)}
    path = save_checkpoint(make_checkpoint(model, info), tmp_path / "constant.pt")
    return path, dataset


@pytest.mark.parametrize("levels_file", ["grey256", "rgb256"])
def test_uniform_model_gives_exactly_8_bits_per_dim(tmp_path, levels_file):
    shape = (12, 28, 28) if levels_file == "grey256" else (12, 32, 32, 3)  # summing 784 / 3072 terms per image
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "x.npz", x_train=rng.integers(0, 256, shape, dtype=np.uint8),
             x_test=rng.integers(0, 256, shape, dtype=np.uint8))
    data = DataConfig(name="npz", path=str(tmp_path / "x.npz"), valid_fraction=0.0)
    path, _ = _constant_output_model(tmp_path, data, torch.zeros(256))
    evaluation = evaluate(path, device="cpu")
    assert evaluation.result.num_images == 12
    # each sub-pixel's log-probability is float32 (log 256 to ~3e-9 relative); every sum over sub-pixels and images
    # is float64, so no rounding accumulates (a float32 sum per image gave 8.0000015)
    assert evaluation.result.bits_per_dim == pytest.approx(8.0, abs=1e-7)
    assert evaluation.uniform_bits_per_dim == 8.0


def test_hand_computed_nll_on_the_digits(tmp_path):
    data = DataConfig(name="digits")
    logits = torch.linspace(-2.0, 3.0, 17)
    path, dataset = _constant_output_model(tmp_path, data, logits)
    log_p = torch.log_softmax(logits.double(), dim=0).numpy()
    test_images = dataset.test.images.numpy()
    expected_total = -log_p[test_images.astype(np.int64)].sum()  # Σ over every test sub-pixel, float64
    evaluation = evaluate(path, batch_size=50, device="cpu")  # 297 images: the last batch is partial
    assert evaluation.result.num_images == len(test_images) == 297
    assert evaluation.result.total_nats == pytest.approx(expected_total, rel=1e-6)
    expected_bpd = expected_total / (297 * 64 * math.log(2))
    assert evaluation.result.bits_per_dim == pytest.approx(expected_bpd, rel=1e-6)
    assert evaluation.uniform_bits_per_dim == pytest.approx(math.log2(17))


def test_unit_conversions():
    assert uniform_bits_per_dim(256) == 8.0 and uniform_bits_per_dim(2) == 1.0
    assert nats_to_bits_per_dim(3072 * 8 * math.log(2), 3072) == pytest.approx(8.0)
    meter = NLLMeter(dims_per_image=4)
    meter.update(torch.tensor([1.0, 2.0]))
    meter.update(torch.tensor([3.0]))
    result = meter.result()
    assert (result.total_nats, result.num_images, result.nats_per_image) == (6.0, 3, 2.0)
