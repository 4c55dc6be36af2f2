"""The plain sampler draws from exactly the distribution that ``log_prob`` scores.

On images small enough to enumerate, the frequencies of many samples must match exp(log_prob(x)) for every
possible image x: this checks the pixel order (raster, or the Multi-Scale PixelRNN's small image first),
R→G→B, the head's sampler and the model's causality together.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from pixelrnn.models import build_model, model_config
from pixelrnn.sampling.plain import sample_images


def _all_images(shape: tuple[int, int, int], levels: int) -> torch.Tensor:
    values = list(itertools.product(range(levels), repeat=shape[0] * shape[1] * shape[2]))
    return torch.tensor(values).reshape(-1, *shape)  # (L^(C·H·W), C, H, W)


TINY_RECURRENT = {"hidden_channels": 3, "num_layers": 1, "output_channels": 6, "first_kernel_size": 3}


@pytest.mark.parametrize("model_name,fields,shape,levels", [
    ("pixelcnn-tiny", {"first_kernel_size": 3}, (1, 2, 2), 3),
    ("pixelcnn-tiny", {"first_kernel_size": 3}, (3, 1, 1), 3),
    ("pixelcnn-tiny", {"first_kernel_size": 3}, (1, 2, 3), 2),
    ("pixelrnn", {**TINY_RECURRENT, "recurrent_layer": "row_lstm"}, (1, 2, 3), 2),
    ("pixelrnn", {**TINY_RECURRENT, "recurrent_layer": "diagonal_bilstm"}, (3, 1, 2), 2),
    ("multiscale_pixelrnn", {**TINY_RECURRENT, "recurrent_layer": "diagonal_bilstm"}, (1, 2, 2), 3),
    ("gated_pixelcnn", {**TINY_RECURRENT, "num_layers": 2}, (3, 1, 2), 2),
])
def test_sample_frequencies_match_exact_probabilities(model_name, fields, shape, levels):
    torch.manual_seed(0)
    config = model_config(model_name, shape, levels, **fields)
    model = build_model(config).double()
    with torch.no_grad():  # sharpen the untrained model so that its distribution is far from uniform
        for parameter in model.parameters():
            parameter.mul_(3.0)
    candidates = _all_images(shape, levels)
    with torch.no_grad():
        probabilities = model.log_prob(candidates).exp()
    assert probabilities.sum().item() == pytest.approx(1.0, abs=1e-9)  # the model is a normalised distribution

    num_samples = 40_000
    samples = sample_images(model, num_samples, generator=torch.Generator().manual_seed(1))
    index = torch.zeros(num_samples, dtype=torch.long)
    for value in samples.flatten(1).unbind(1):  # images → their row in `candidates` (base-L digits)
        index = index * levels + value
    frequencies = torch.bincount(index, minlength=len(candidates)).double() / num_samples
    total_variation = 0.5 * (frequencies - probabilities).abs().sum().item()
    assert total_variation < 0.02, total_variation
    expected_counts = probabilities * num_samples
    chi_square = ((frequencies * num_samples - expected_counts) ** 2 / expected_counts).sum().item()
    assert chi_square < len(candidates) + 6 * (2 * len(candidates)) ** 0.5  # ≈ 6σ above its mean


def test_completion_keeps_known_subpixels_and_same_seed_repeats():
    config = model_config("pixelcnn-tiny", (3, 4, 4), 256)
    model = build_model(config)
    known = torch.full((5, 3, 4, 4), -1, dtype=torch.long)
    known[:, :, :2] = torch.randint(0, 256, (5, 3, 2, 4))  # the top two rows are given
    first = sample_images(model, 5, known=known, generator=torch.Generator().manual_seed(3))
    again = sample_images(model, 5, known=known, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first[:, :, :2], known[:, :, :2])
    assert torch.equal(first, again)
    assert first.min() >= 0 and first.max() <= 255
