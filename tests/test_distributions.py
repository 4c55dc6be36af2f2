"""Output heads: exact normalisation, the uniform anchors (log2 L bits/dim), hand-computed values, sampling."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from pixelrnn.errors import ConfigError, DataError
from pixelrnn.heads.categorical import Bernoulli, Categorical, make_head


def _all_images(channels: int, height: int, width: int, num_levels: int) -> torch.Tensor:
    """Every integer image of the shape: int64 (L^(C·H·W), C, H, W)."""
    values = list(itertools.product(range(num_levels), repeat=channels * height * width))
    return torch.tensor(values).reshape(-1, channels, height, width)


@pytest.mark.parametrize(("shape", "num_levels"), [((1, 1, 2), 5), ((3, 1, 1), 4), ((3, 1, 1), 2), ((1, 2, 2), 2)])
def test_probabilities_of_all_images_sum_to_one(shape, num_levels):
    head = make_head(num_levels)
    images = _all_images(*shape, num_levels)  # (N, C, H, W)
    generator = torch.Generator().manual_seed(0)
    channels, height, width = shape
    params = 3 * torch.randn(1, channels * head.params_per_subpixel, height, width, generator=generator)
    log_p = head.log_prob(params.expand(len(images), -1, -1, -1), images)  # (N,)
    assert log_p.shape == (len(images),) and log_p.dtype == torch.float64  # per-image sums are float64
    assert log_p.double().exp().sum().item() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("num_levels", [256, 17, 2])
def test_uniform_logits_give_log_levels_per_subpixel(num_levels):
    head = make_head(num_levels)
    params = torch.zeros(2, 3 * head.params_per_subpixel, 4, 5)
    images = torch.randint(0, num_levels, (2, 3, 4, 5), generator=torch.Generator().manual_seed(1))
    nats = -head.log_prob(params, images)  # (B,)
    bits_per_dim = nats.double() / (3 * 4 * 5 * math.log(2))
    assert bits_per_dim.tolist() == pytest.approx([math.log2(num_levels)] * 2, abs=1e-6)
    if num_levels == 256:
        assert f"{bits_per_dim[0].item():.3f}" == "8.000"


def test_categorical_log_prob_by_hand():
    # One grey 1×2 image, 3 levels. Pixel 0: probabilities 1/6, 2/6, 3/6. Pixel 1: 1/3 each.
    logits = torch.tensor([[0.0, math.log(2), math.log(3)], [0.0, 0.0, 0.0]])  # (W, L)
    params = logits.T.reshape(1, 3, 1, 2)  # (B, C*L, H, W)
    image = torch.tensor([2, 0]).reshape(1, 1, 1, 2)
    expected = math.log(3 / 6) + math.log(1 / 3)
    assert Categorical(3).log_prob(params, image).item() == pytest.approx(expected, abs=1e-6)


def test_categorical_channel_layout_matches_the_masks():
    # Sub-pixel c's logits are channels [c*L, (c+1)*L): make G certain of level 1 and B of level 2.
    params = torch.zeros(1, 3 * 3, 1, 1)
    params[0, 3 + 1] = params[0, 6 + 2] = 50.0
    image = torch.tensor([0, 1, 2]).reshape(1, 3, 1, 1)
    assert Categorical(3).log_prob(params, image).item() == pytest.approx(math.log(1 / 3), abs=1e-6)


def test_bernoulli_log_prob_by_hand_and_stable():
    params = torch.tensor([0.0, math.log(3), 100.0, -100.0]).reshape(1, 1, 2, 2)
    image = torch.tensor([1, 0, 1, 1]).reshape(1, 1, 2, 2)
    expected = math.log(0.5) + math.log(0.25) + 0.0 - 100.0
    log_p = Bernoulli().log_prob(params, image)
    assert torch.isfinite(log_p).all()
    assert log_p.item() == pytest.approx(expected, abs=1e-4)


def test_make_head():
    assert isinstance(make_head(2), Bernoulli) and make_head(2).params_per_subpixel == 1
    assert isinstance(make_head(256), Categorical) and make_head(256).params_per_subpixel == 256
    assert make_head(17).num_levels == 17


@pytest.mark.parametrize("bad_value", [-1, 4])
def test_out_of_range_values_raise_data_error(bad_value):
    image = torch.zeros(1, 1, 2, 2, dtype=torch.long)
    image[0, 0, 1, 1] = bad_value
    with pytest.raises(DataError, match=f"pixel value {bad_value}"):
        Categorical(4).log_prob(torch.zeros(1, 4, 2, 2), image)
    with pytest.raises(DataError, match="outside"):
        Bernoulli().log_prob(torch.zeros(1, 1, 2, 2), torch.tensor([0, 1, 2, 1]).reshape(1, 1, 2, 2))


def test_images_that_do_not_fit_the_params_raise_data_error():
    with pytest.raises(DataError, match="do not fit"):
        Categorical(4).log_prob(torch.zeros(1, 8, 2, 2), torch.zeros(1, 1, 2, 2, dtype=torch.long))
    with pytest.raises(DataError, match="integer"):
        Categorical(4).log_prob(torch.zeros(1, 4, 2, 2), torch.zeros(1, 1, 2, 2))


def test_uint8_images_are_accepted():
    image = torch.full((1, 1, 2, 2), 255, dtype=torch.uint8)
    assert Categorical(256).log_prob(torch.zeros(1, 256, 2, 2), image).item() == pytest.approx(-4 * math.log(256))


def _chi_square(counts: torch.Tensor, probabilities: torch.Tensor) -> float:
    expected = probabilities.double() * counts.sum()
    return ((counts.double() - expected) ** 2 / expected).sum().item()


def test_categorical_sample_frequencies_match_probabilities():
    probabilities = torch.tensor([0.1, 0.2, 0.3, 0.4])
    params = probabilities.log().reshape(1, 4, 1, 1).expand(1, 4, 100, 200)  # 20 000 draws
    draws = Categorical(4).sample(params, generator=torch.Generator().manual_seed(0))
    assert draws.shape == (1, 1, 100, 200) and draws.dtype == torch.int64
    counts = torch.bincount(draws.flatten(), minlength=4)
    assert _chi_square(counts, probabilities) < 16.27  # chi-square, 3 degrees of freedom, p = 0.001


def test_bernoulli_sample_frequencies_match_probabilities():
    params = torch.full((1, 1, 100, 200), math.log(0.3 / 0.7))  # p(1) = 0.3
    draws = Bernoulli().sample(params, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(draws.flatten(), minlength=2)
    assert _chi_square(counts, torch.tensor([0.7, 0.3])) < 10.83  # 1 degree of freedom, p = 0.001


@pytest.mark.parametrize("num_levels", [2, 17])
def test_same_seed_same_sample(num_levels):
    head = make_head(num_levels)
    params = torch.randn(2, 3 * head.params_per_subpixel, 6, 6, generator=torch.Generator().manual_seed(0))
    first = head.sample(params, generator=torch.Generator().manual_seed(7))
    again = head.sample(params, generator=torch.Generator().manual_seed(7))
    other = head.sample(params, generator=torch.Generator().manual_seed(8))
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert first.shape == (2, 3, 6, 6) and first.min() >= 0 and first.max() < num_levels


@pytest.mark.parametrize("num_levels", [2, 17, 256])
def test_low_temperature_gives_the_mode(num_levels):
    head = make_head(num_levels)
    generator = torch.Generator().manual_seed(0)
    if num_levels == 2:
        params = torch.where(torch.rand(4, 3, 5, 5, generator=generator) < 0.5, -0.01, 0.01)  # (B, C, H, W)
        mode = (params > 0).long()
    else:  # distinct logits 0.01 apart: the mode is unique, and clear at this temperature
        ranks = torch.rand(4, 3, num_levels, 5, 5, generator=generator).argsort(dim=2)  # (B, C, L, H, W)
        mode = ranks.argmax(dim=2)  # (B, C, H, W)
        params = (ranks * 0.01).reshape(4, 3 * num_levels, 5, 5)  # (B, C*L, H, W)
    drawn = head.sample(params, temperature=1e-4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(drawn, mode)
    with pytest.raises(ConfigError, match="temperature"):
        head.sample(params, temperature=0.0)
