"""PixelCNN++'s discretized logistic mixture: exact normalisation, hand values, stable tails, exact sampling."""

from __future__ import annotations

import itertools
import math

import mpmath
import pytest
import torch

from pixelrnn.errors import ConfigError, DataError
from pixelrnn.heads.logistic_mixture import DiscretizedLogisticMixture, _log_bin_mass, discretized_logistic_quantile


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def _layout(logits, means, log_scales, coeffs=None) -> torch.Tensor:
    """One pixel's float64 params (1, P, 1, 1) in the documented order, from per-component lists.

    means, log_scales: C lists of K values (R, G, B); coeffs: raw α, β, γ, 3 lists of K values (C = 3).
    """
    values = list(logits)
    for channel_means, channel_log_scales in zip(means, log_scales, strict=True):
        values += list(channel_means) + list(channel_log_scales)
    for row in coeffs or []:
        values += list(row)
    return torch.tensor(values, dtype=torch.float64).reshape(1, -1, 1, 1)


def _random_pixels(head: DiscretizedLogisticMixture, num_pixels: int, seed: int, *, mean_scale: float = 0.7,
                   log_scale_low: float = -4.0, log_scale_high: float = 0.0) -> torch.Tensor:
    """float64 params (1, P, 1, num_pixels): logits ~ 2·N(0, 1), means ~ mean_scale·N(0,1), uniform log-scales."""
    generator = torch.Generator().manual_seed(seed)
    k, c = head.num_mixtures, head.channels
    params = torch.empty(1, head.params_per_pixel, 1, num_pixels, dtype=torch.float64)
    params[0, :k] = 2 * torch.randn(k, 1, num_pixels, generator=generator, dtype=torch.float64)
    for channel in range(c):
        first = k + 2 * k * channel
        params[0, first:first + k] = mean_scale * torch.randn(k, 1, num_pixels, generator=generator,
                                                              dtype=torch.float64)
        uniform = torch.rand(k, 1, num_pixels, generator=generator, dtype=torch.float64)
        params[0, first + k:first + 2 * k] = log_scale_low + (log_scale_high - log_scale_low) * uniform
    if c == 3:
        params[0, 7 * k:] = 2 * torch.randn(3 * k, 1, num_pixels, generator=generator, dtype=torch.float64)
    return params


# ---------------------------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize("num_levels", [256, 17, 2])
def test_grey_probabilities_of_all_levels_sum_to_one(num_levels):
    head = DiscretizedLogisticMixture(3, 1, num_levels)
    random = _random_pixels(head, 40, seed=0)  # (1, 9, 1, 40)
    extreme = _layout([0.0, 1.0, -2.0], [[0.999, -0.999, 0.0]], [[-7.0, -7.0, -7.0]])  # tiny scales at the edges
    beyond = _layout([0.0, 0.0, 5.0], [[1.5, -3.0, 1.0]], [[-30.0, -9.0, -7.0]])  # clamped, outside [-1, 1]
    wide = _layout([0.0, 0.0, 0.0], [[0.3, -0.9, 0.0]], [[3.0, 12.0, 40.0]])  # bins tiny against the scale
    between = _layout([0.0], [[1.0 / (num_levels - 1)]], [[-7.0]]).repeat(1, 3, 1, 1)  # mean on a bin boundary
    params = torch.cat([random, extreme, beyond, wide, between], dim=3)  # (1, 9, 1, N)
    levels = torch.arange(num_levels).reshape(-1, 1, 1, 1).expand(-1, 1, 1, params.shape[3])  # (L, 1, 1, N)
    log_p = head.log_prob_per_pixel(params.expand(num_levels, -1, -1, -1), levels)  # (L, 1, N)
    assert log_p.dtype == torch.float64 and torch.isfinite(log_p).all()
    totals = log_p.exp().sum(dim=0)  # (1, N)
    assert (totals - 1).abs().max().item() < 1e-6, totals


def _colour_settings(num_levels: int = 256) -> list[tuple[DiscretizedLogisticMixture, torch.Tensor]]:
    """(head, one pixel's float64 params (1, 10K, 1, 1)): random; wide scales; tiny scales at the edges."""
    three, two = DiscretizedLogisticMixture(3, 3, num_levels), DiscretizedLogisticMixture(2, 3, num_levels)
    return [
        (three, _random_pixels(three, 1, seed=1)),
        (three, _random_pixels(three, 1, seed=2, mean_scale=2.0, log_scale_low=0.0, log_scale_high=3.0)),
        (two, _layout([0.3, -0.2], [[0.999, -0.5], [-0.999, 0.2], [0.0, 0.995]], [[-7.0, -2.0]] * 3,
                      [[3.0, -0.5], [-3.0, 1.0], [2.0, -2.0]])),  # tanh ≈ ±1: G and B means pushed past the edges
    ]


def _all_colours(num_levels: int) -> torch.Tensor:
    """Every colour as one pixel each of a single image: int64 (1, 3, 1, L³), R major, then G, then B."""
    grids = torch.meshgrid(*[torch.arange(num_levels)] * 3, indexing="ij")
    return torch.stack(grids).reshape(1, 3, 1, -1)


@pytest.mark.parametrize("setting", [0, 1, 2])
def test_colour_probabilities_of_all_colours_sum_to_one(setting):
    # The public head, every one of 32³ colours (and 4³), each as a pixel with the same parameters.
    for num_levels in (32, 4):
        head, params = _colour_settings(num_levels)[setting]
        colours = _all_colours(num_levels)  # (1, 3, 1, L³)
        log_p = head.log_prob_per_pixel(params.expand(-1, -1, -1, colours.shape[3]), colours)  # (1, 1, L³)
        assert log_p.exp().sum().item() == pytest.approx(1.0, abs=1e-9)


def _colour_log_probs_by_broadcast(params: torch.Tensor, num_mixtures: int, reds: torch.Tensor) -> torch.Tensor:
    """log p(r, g, b) of one pixel for r in ``reds`` and all g, b at L = 256: (len(reds), 256, 256) nats.

    Written from the paper's formula with the head's bin-mass kernel, R, G and B on their own broadcast axes
    (the B term is the only full-size one), so that all 256³ colours take seconds instead of minutes.
    """
    k = num_mixtures
    p = params[0, :, 0, 0]  # (10K,)
    log_weights = torch.log_softmax(p[:k], dim=0).reshape(k, 1, 1, 1)  # (K, 1, 1, 1)
    per_channel = p[k:7 * k].reshape(3, 2, k, 1, 1, 1)  # (C, mean | log-scale, K, 1, 1, 1)
    means, log_scales = per_channel[:, 0], per_channel[:, 1].clamp(min=-7.0)  # (C, K, 1, 1, 1)
    alpha, beta, gamma = torch.tanh(p[7 * k:]).reshape(3, k, 1, 1, 1)  # (K, 1, 1, 1) each
    green, blue = torch.arange(256).reshape(1, 256, 1), torch.arange(256)  # G on axis 2, B on axis 3
    red = reds.reshape(-1, 1, 1)  # R on axis 1
    r, g = ((2 * v - 255).double() / 255 for v in (red, green))  # bin centres in [−1, 1]
    log_red = _log_bin_mass(red, means[0], log_scales[0], 256)  # (K, R, 1, 1)
    log_green = _log_bin_mass(green, means[1] + alpha * r, log_scales[1], 256)  # (K, R, 256, 1)
    log_blue = _log_bin_mass(blue, means[2] + beta * r + gamma * g, log_scales[2], 256)  # (K, R, 256, 256)
    return torch.logsumexp(log_weights + log_red + log_green + log_blue, dim=0)  # (R, 256, 256)


@pytest.mark.parametrize("setting", [0, 2])
def test_colour_probabilities_of_all_256_cubed_colours_sum_to_one(setting):
    head, params = _colour_settings()[setting]
    generator = torch.Generator().manual_seed(3)
    total = 0.0
    for reds in torch.arange(256).split(32):
        log_p = _colour_log_probs_by_broadcast(params, head.num_mixtures, reds)  # (32, 256, 256)
        total += log_p.exp().sum().item()
        # These are the public head's probabilities: compare on 2 000 random colours of this block.
        colours = torch.stack([reds[0] + torch.randint(0, len(reds), (2000,), generator=generator),
                               *torch.randint(0, 256, (2, 2000), generator=generator)])  # (3, N)
        by_head = head.log_prob_per_pixel(params.expand(-1, -1, -1, 2000), colours.reshape(1, 3, 1, -1))[0, 0]
        assert torch.allclose(by_head, log_p[colours[0] - reds[0], colours[1], colours[2]], rtol=1e-12, atol=1e-12)
    assert total == pytest.approx(1.0, abs=1e-6)


# ---------------------------------------------------------------------------------------------- exact values


def test_grey_one_component_by_hand():
    mean, scale = 0.1, 0.05
    head = DiscretizedLogisticMixture(1, 1)
    params = _layout([0.7], [[mean]], [[math.log(scale)]]).expand(3, -1, -1, -1)  # one logit: π = 1
    levels = torch.tensor([140, 0, 255]).reshape(3, 1, 1, 1)
    centre = 140 * 2 / 255 - 1
    middle = _sigmoid((centre + 1 / 255 - mean) / scale) - _sigmoid((centre - 1 / 255 - mean) / scale)
    bottom = _sigmoid((-1 + 1 / 255 - mean) / scale)  # the tail below bin 0
    top = _sigmoid(-(1 - 1 / 255 - mean) / scale)  # the tail above bin 255: 1 − σ(z) = σ(−z), no cancellation
    log_p = head.log_prob(params, levels)  # (3,)
    assert log_p.tolist() == pytest.approx([math.log(middle), math.log(bottom), math.log(top)], rel=1e-12)
    assert middle > 1e-3 and bottom > 1e-12 and top > 1e-12  # every term is a real test
    float32 = head.log_prob(params.float(), levels)
    assert float32.dtype == torch.float64 and float32.tolist() == pytest.approx(log_p.tolist(), rel=1e-5)


def test_colour_two_components_by_hand():
    # Checks the channel layout and the linear mean shifts G|R (α), B|R (β), B|G (γ) on the observed values.
    logits, means, log_scales = [0.2, -0.4], [[0.1, -0.3], [0.0, 0.5], [-0.2, 0.4]], [[-2.0, -1.5]] * 3
    raw = [[0.5, -1.0], [0.3, 0.8], [-0.7, 0.2]]  # α, β, γ before tanh
    params = _layout(logits, means, log_scales, raw)
    colour = (200, 37, 128)
    scaled = [v * 2 / 255 - 1 for v in colour]

    def mass(value: int, mean: float, log_scale: float) -> float:
        centre, scale = value * 2 / 255 - 1, math.exp(log_scale)
        return _sigmoid((centre + 1 / 255 - mean) / scale) - _sigmoid((centre - 1 / 255 - mean) / scale)

    weights = [math.exp(v) / sum(math.exp(w) for w in logits) for v in logits]
    expected = 0.0
    for k in range(2):
        alpha, beta, gamma = (math.tanh(raw[i][k]) for i in range(3))
        shifted = [means[0][k], means[1][k] + alpha * scaled[0], means[2][k] + beta * scaled[0] + gamma * scaled[1]]
        expected += weights[k] * math.prod(mass(colour[c], shifted[c], log_scales[c][k]) for c in range(3))
    image = torch.tensor(colour).reshape(1, 3, 1, 1)
    assert DiscretizedLogisticMixture(2, 3).log_prob(params, image).item() == pytest.approx(math.log(expected),
                                                                                            rel=1e-12)


def test_far_tails_are_exact_in_float32():
    # Bin masses down to ~e^-2000, where σ(a) − σ(b) underflows and cancels; mpmath is the reference.
    cases = [(0.9, -7.0, 3), (-0.99, -7.0, 250), (0.0, -7.0, 128), (0.0, -7.0, 129), (0.2, -3.0, 0), (0.2, -3.0, 255),
             (5.0, -7.0, 10), (-0.5, 20.0, 77), (0.0, -7.0, 255)]
    head = DiscretizedLogisticMixture(1, 1)
    params = torch.cat([_layout([0.0], [[m]], [[ls]]) for m, ls, _ in cases], dim=3).float()  # (1, 3, 1, N)
    levels = torch.tensor([v for *_, v in cases]).reshape(1, 1, 1, -1)
    log_p = head.log_prob_per_pixel(params, levels)[0, 0]  # (N,) float32
    mpmath.mp.dps = 1000  # σ(a) − σ(b) ≈ e^−2135 next to 1 needs ~930 digits
    for (mean, log_scale, value), got in zip(cases, log_p.tolist(), strict=True):
        mean, log_scale = (mpmath.mpf(torch.tensor(v).float().item()) for v in (mean, log_scale))  # float32 inputs
        centre, half, scale = mpmath.mpf(value) * 2 / 255 - 1, mpmath.mpf(1) / 255, mpmath.exp(log_scale)

        upper = 1 / (1 + mpmath.exp(-(centre + half - mean) / scale)) if value < 255 else 1
        lower = 1 / (1 + mpmath.exp(-(centre - half - mean) / scale)) if value > 0 else 0
        want = float(mpmath.log(upper - lower))
        assert got == pytest.approx(want, rel=1e-5, abs=1e-5), (mean, log_scale, value)


def test_log_scales_are_clamped_at_minus_seven_and_gradients_stay_finite():
    head = DiscretizedLogisticMixture(2, 3)
    params = _random_pixels(head, 6, seed=3, mean_scale=3.0, log_scale_low=-30.0, log_scale_high=30.0).float()
    images = torch.randint(0, 256, (1, 3, 1, 6), generator=torch.Generator().manual_seed(4))
    params.requires_grad_(True)
    log_p = head.log_prob(params, images)
    log_p.sum().backward()
    assert torch.isfinite(log_p).all() and torch.isfinite(params.grad).all()
    at_floor = _layout([0.0], [[0.1]], [[-7.0]])
    below = _layout([0.0], [[0.1]], [[-25.0]])
    level = torch.tensor([[[[140]]]])
    grey = DiscretizedLogisticMixture(1, 1)
    assert grey.log_prob(below, level).item() == grey.log_prob(at_floor, level).item()


def test_layout_and_dtypes():
    colour, grey = DiscretizedLogisticMixture(10, 3), DiscretizedLogisticMixture(4, 1, 17)
    assert colour.params_per_pixel == 100 and grey.params_per_pixel == 12  # the paper's 10 components → 100
    assert colour.joint_channels and colour.num_params(3) == 100 and grey.num_params(1) == 12
    images = torch.zeros(2, 3, 3, 4, dtype=torch.uint8)
    dtypes = [(torch.float32, torch.float32), (torch.bfloat16, torch.float32), (torch.float64, torch.float64)]
    for dtype, want in dtypes:  # per-pixel terms in float32 (float64 params: float64), per-image sums in float64
        params = torch.zeros(2, 100, 3, 4, dtype=dtype)
        assert colour.log_prob_per_pixel(params, images).dtype == want
        log_p = colour.log_prob(params, images)
        assert log_p.shape == (2,) and log_p.dtype == torch.float64
    per_pixel = colour.log_prob_per_pixel(torch.zeros(2, 100, 3, 4), images)
    assert per_pixel.shape == (2, 3, 4)
    assert torch.allclose(per_pixel.double().sum(dim=(1, 2)), colour.log_prob(torch.zeros(2, 100, 3, 4), images))


# ---------------------------------------------------------------------------------------------- sampling


def _cdf_table(mean: torch.Tensor, scale: torch.Tensor, num_levels: int) -> torch.Tensor:
    """F(v) for every level, by definition: (n, L), the top edge taking the tail (F(L − 1) = 1)."""
    upper = (2 * torch.arange(num_levels - 1) + 2 - num_levels).double() / (num_levels - 1)  # (L − 1,) x̃ + Δ
    cdf = torch.sigmoid((upper - mean.unsqueeze(1)) / scale.unsqueeze(1))  # (n, L − 1)
    return torch.cat([cdf, torch.ones(len(mean), 1, dtype=torch.float64)], dim=1)  # (n, L)


@pytest.mark.parametrize("num_levels", [256, 5, 2])
def test_quantile_is_the_smallest_level_whose_cdf_reaches_u(num_levels):
    generator = torch.Generator().manual_seed(5)
    n = 200_000
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    mean = 3 * torch.rand(n, generator=generator, dtype=torch.float64) - 1.5
    scale = torch.exp(11 * torch.rand(n, generator=generator, dtype=torch.float64) - 9)
    want = torch.searchsorted(_cdf_table(mean, scale, num_levels), u.unsqueeze(1)).squeeze(1)  # first F ≥ u
    got = discretized_logistic_quantile(u, mean, scale, num_levels)
    assert got.dtype == torch.int64 and torch.equal(got, want)
    bottom, top = (want == 0).float().mean().item(), (want == num_levels - 1).float().mean().item()
    assert bottom > 0.05 and top > 0.05  # the edge bins are exercised


@pytest.mark.parametrize("num_levels", [256, 5])
def test_quantile_is_exact_at_bin_edges_and_in_saturated_tails(num_levels):
    # u = F(v) must give v and the next double above it v + 1 (or the first level whose F reaches it, where
    # F rounds to the same value on several levels). Rounding μ + s·logit(u) gets 16–50 % of these wrong.
    generator = torch.Generator().manual_seed(6)
    n = 50_000
    mean = 24 * torch.rand(n, generator=generator, dtype=torch.float64) - 12  # many far outside [−1, 1]
    scale = torch.exp(8 * torch.rand(n, generator=generator, dtype=torch.float64) - 7)
    cdf = _cdf_table(mean, scale, num_levels)  # (n, L)
    level = torch.randint(0, num_levels - 1, (n, 1), generator=generator)
    on_edge = cdf.gather(1, level).squeeze(1)  # (n,)
    for u in (on_edge, torch.nextafter(on_edge, torch.ones_like(on_edge))):
        keep = u < 1
        want = torch.searchsorted(cdf[keep], u[keep].unsqueeze(1)).squeeze(1)
        got = discretized_logistic_quantile(u[keep], mean[keep], scale[keep], num_levels)
        # torch's sigmoid may round differently by one ulp between tensor shapes: forgive only those draws
        disputed = cdf[keep].gather(1, torch.minimum(got, want).unsqueeze(1)).squeeze(1)  # F at the lower answer
        near = (disputed - u[keep]).abs() <= 4e-16 * u[keep]
        assert ((got == want) | near).all() and (got != want).sum() <= 5


def _frequency_check(draws: torch.Tensor, probabilities: torch.Tensor) -> tuple[float, float, float]:
    """Total variation, chi-square over bins with ≥ 5 expected draws (the rest pooled), and its 6σ bound."""
    num = len(draws)
    counts = torch.bincount(draws, minlength=len(probabilities)).double()
    total_variation = 0.5 * (counts / num - probabilities).abs().sum().item()
    expected = probabilities * num
    big = expected >= 5
    observed = torch.cat([counts[big], counts[~big].sum().reshape(1)])
    expected = torch.cat([expected[big], expected[~big].sum().reshape(1)])
    keep = expected > 0
    chi_square = ((observed[keep] - expected[keep]) ** 2 / expected[keep]).sum().item()
    dof = int(keep.sum()) - 1
    return total_variation, chi_square, dof + 6 * (2 * dof) ** 0.5


def test_grey_sample_frequencies_match_probabilities():
    head = DiscretizedLogisticMixture(3, 1, 17)
    pixel = _layout([0.5, 0.0, -0.3], [[0.97, -0.4, 0.1]], [[-2.5, -1.0, -3.5]])  # big mass on the top edge
    levels = torch.arange(17).reshape(17, 1, 1, 1)
    probabilities = head.log_prob(pixel.expand(17, -1, -1, -1), levels).exp()  # (17,)
    assert probabilities[-1] > 0.2
    draws = head.sample(pixel.expand(-1, -1, 100, 1000), generator=torch.Generator().manual_seed(6))
    assert draws.shape == (1, 1, 100, 1000) and draws.dtype == torch.int64
    total_variation, chi_square, bound = _frequency_check(draws.flatten(), probabilities)
    assert total_variation < 0.02 and chi_square < bound, (total_variation, chi_square, bound)


def test_colour_sample_frequencies_match_probabilities():
    head = DiscretizedLogisticMixture(2, 3, 4)
    pixel = _layout([0.3, -0.1], [[-0.2, 0.5], [0.1, -0.6], [0.4, 0.0]], [[-1.0, -1.5], [-1.2, -0.8], [-1.0, -2.0]],
                    [[1.5, -0.8], [-1.0, 0.6], [0.9, 1.2]])  # strong linear dependence
    colours = torch.tensor(list(itertools.product(range(4), repeat=3)))  # (64, 3) in base-4 order
    probabilities = head.log_prob(pixel.expand(64, -1, -1, -1), colours.reshape(64, 3, 1, 1)).exp()  # (64,)
    assert probabilities.sum().item() == pytest.approx(1.0, abs=1e-12)
    draws = head.sample(pixel.expand(-1, -1, 100, 1000), generator=torch.Generator().manual_seed(7))  # (1, 3, H, W)
    red, green, blue = draws.flatten(2)[0]
    total_variation, chi_square, bound = _frequency_check(red * 16 + green * 4 + blue, probabilities)
    assert total_variation < 0.02 and chi_square < bound, (total_variation, chi_square, bound)


def test_same_seed_same_sample():
    head = DiscretizedLogisticMixture(3, 3)
    params = torch.randn(2, head.params_per_pixel, 5, 6, generator=torch.Generator().manual_seed(8))
    first = head.sample(params, generator=torch.Generator().manual_seed(9))
    again = head.sample(params, generator=torch.Generator().manual_seed(9))
    other = head.sample(params, generator=torch.Generator().manual_seed(10))
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert first.shape == (2, 3, 5, 6) and first.dtype == torch.int64 and first.min() >= 0 and first.max() <= 255


def test_low_temperature_gives_the_top_component_and_its_nearest_levels():
    # T → 0: the component with the largest logit, then R, G, B each at the level nearest to its mean, where
    # G's and B's means are shifted by the R (and G) just chosen.
    head = DiscretizedLogisticMixture(3, 3)
    params = _random_pixels(head, 40, seed=11, mean_scale=1.5).float()  # (1, 30, 1, 40), some means beyond ±1
    drawn = head.sample(params, temperature=1e-9, generator=torch.Generator().manual_seed(12))  # (1, 3, 1, 40)
    p = params[0, :, 0].double()  # (30, N)
    top = p[:3].argmax(dim=0)  # (N,)

    def at_top(first: int) -> torch.Tensor:
        return p[first:first + 3].gather(0, top.unsqueeze(0)).squeeze(0)  # (N,)

    def nearest(mean: torch.Tensor) -> torch.Tensor:
        return torch.round((mean + 1) * 127.5).clamp(0, 255)

    red = nearest(at_top(3))
    green = nearest(at_top(9) + torch.tanh(at_top(21)) * (red / 127.5 - 1))
    red_scaled, green_scaled = red / 127.5 - 1, green / 127.5 - 1
    blue = nearest(at_top(15) + torch.tanh(at_top(24)) * red_scaled + torch.tanh(at_top(27)) * green_scaled)
    assert torch.equal(drawn[0, :, 0], torch.stack([red, green, blue]).long())
    assert (red == 0).any() and (red == 255).any() and ((red > 0) & (red < 255)).any()  # edges and inside
    with pytest.raises(ConfigError, match="temperature"):
        head.sample(params, temperature=0.0)


# ---------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("args", "match"), [((0, 3), "component"), ((2, 2), "1 or 3 channels"),
                                             ((2, 3, 1), "levels"), ((1.5, 1), "component")])
def test_bad_constructor_arguments_raise_config_error(args, match):
    with pytest.raises(ConfigError, match=match):
        DiscretizedLogisticMixture(*args)


@pytest.mark.parametrize("bad_value", [-1, 256])
def test_out_of_range_values_raise_data_error(bad_value):
    image = torch.zeros(1, 3, 2, 2, dtype=torch.long)
    image[0, 1, 1, 0] = bad_value
    with pytest.raises(DataError, match=f"pixel value {bad_value}"):
        DiscretizedLogisticMixture(2, 3).log_prob(torch.zeros(1, 20, 2, 2), image)


def test_images_or_params_of_the_wrong_shape_raise_data_error():
    head = DiscretizedLogisticMixture(2, 3)
    image = torch.zeros(1, 3, 2, 2, dtype=torch.long)
    with pytest.raises(DataError, match="do not fit"):
        head.log_prob(torch.zeros(1, 20, 2, 2), torch.zeros(1, 1, 2, 2, dtype=torch.long))  # grey image
    with pytest.raises(DataError, match="do not fit"):
        head.log_prob(torch.zeros(1, 20, 2, 2), torch.zeros(2, 3, 2, 2, dtype=torch.long))  # batch
    with pytest.raises(DataError, match="do not fit"):
        head.log_prob(torch.zeros(1, 3 * 256, 2, 2), image)  # params of a per-sub-pixel head
    with pytest.raises(DataError, match="do not fit"):
        head.sample(torch.zeros(1, 21, 2, 2))
    with pytest.raises(DataError, match="integer"):
        head.log_prob(torch.zeros(1, 20, 2, 2), image.float())
