"""PixelCNN++'s output head: a discretized logistic mixture with linear dependence between colour channels.

Salimans, Karpathy, Chen, Kingma, *PixelCNN++* (ICLR 2017), §2.1–2.2. Unlike the heads in
:mod:`pixelrnn.heads.categorical`, which give every sub-pixel its own parameters, this head models the C
channels of a pixel **jointly**: one mixture component k is shared by R, G and B, and G's and B's means
move linearly with the (scaled) values of the channels before them,

    p(x | params) = Σ_k π_k · P(x_R | μ_R,k, s_R,k)
                          · P(x_G | μ_G,k + α_k·x̃_R, s_G,k)
                          · P(x_B | μ_B,k + β_k·x̃_R + γ_k·x̃_G, s_B,k),

where x̃ = x·2/(L − 1) − 1 ∈ [−1, 1] is the level x ∈ {0, …, L − 1} scaled as in the paper, and
P(x | μ, s) is the logistic distribution's mass on the bin [x̃ − Δ, x̃ + Δ], Δ = 1/(L − 1); the edge
bins take the tails: P(0) = σ((x̃ + Δ − μ)/s), P(L − 1) = 1 − σ((x̃ − Δ − μ)/s). The distribution over
the L^C colours of a pixel is exactly normalised.

Parameter layout — channels of the (B, params_per_pixel, H, W) tensor, K = ``num_mixtures``:

    C = 3 (params_per_pixel = 10·K):
        [0,  K)    mixture logits (π = softmax)
        [K,  2K)   R means μ_R          [2K, 3K)  R log-scales log s_R
        [3K, 4K)   G means μ_G          [4K, 5K)  G log-scales log s_G
        [5K, 6K)   B means μ_B          [6K, 7K)  B log-scales log s_B
        [7K, 8K)   α (G|R)   [8K, 9K)  β (B|R)   [9K, 10K)  γ (B|G)   — raw, passed through tanh
    C = 1 (params_per_pixel = 3·K):
        [0, K) mixture logits · [K, 2K) means · [2K, 3K) log-scales

Log-scales are clamped from below at −7, as in the paper's code. For K = 10 and C = 3 this is the
paper's 100 output channels per pixel (in our own order).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from pixelrnn.errors import ConfigError, DataError
from pixelrnn.heads.base import OutputHead

MIN_LOG_SCALE = -7.0  # the paper's floor on log s


class DiscretizedLogisticMixture(OutputHead):
    """The discretized logistic mixture likelihood of PixelCNN++ (§2.1–2.2), exactly normalised.

    The channels of a pixel share their parameters, so there is no per-sub-pixel parameter block:
    ``joint_channels`` is True and :meth:`num_params` counts a whole pixel's. A sampler must therefore draw all C
    channels of a pixel in one call to :meth:`sample` (it samples R, then G given R, then B given R and G).

    Args:
        num_mixtures: K ≥ 1 logistic components per pixel.
        channels: C, 1 (grey) or 3 (RGB, with the linear dependence G|R, B|R, B|G).
        num_levels: L ≥ 2 integer levels per sub-pixel.

    Attributes:
        params_per_pixel: 10·K for C = 3, 3·K for C = 1 (layout in the module docstring).
    """

    joint_channels = True

    def __init__(self, num_mixtures: int, channels: int, num_levels: int = 256) -> None:
        if not isinstance(num_mixtures, int) or num_mixtures < 1:
            raise ConfigError(f"a logistic mixture needs at least 1 component, got {num_mixtures!r}")
        if channels not in (1, 3):
            raise ConfigError(f"a logistic mixture models 1 or 3 channels, got {channels!r}")
        if not isinstance(num_levels, int) or num_levels < 2:
            raise ConfigError(f"a logistic mixture needs at least 2 levels, got {num_levels!r}")
        self.num_mixtures = num_mixtures
        self.channels = channels
        self.num_levels = num_levels
        self.params_per_pixel = num_mixtures * (1 + 2 * channels + (3 if channels == 3 else 0))

    def num_params(self, channels: int) -> int:
        if channels != self.channels:
            raise ConfigError(f"this mixture models {self.channels} channel(s), not {channels}")
        return self.params_per_pixel

    def __repr__(self) -> str:
        return (f"DiscretizedLogisticMixture(num_mixtures={self.num_mixtures}, channels={self.channels}, "
                f"num_levels={self.num_levels})")

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Exact log-likelihood of integer images.

        Args:
            params: float (B, params_per_pixel, H, W), laid out as in the module docstring.
            x: integer (B, C, H, W) with values in [0, L − 1].

        Returns:
            (B,) log p(x | params) in nats per image, float64: the per-pixel terms (float32, float64 for
            float64 ``params``) are summed in float64.

        Raises:
            DataError: ``x`` is not integer, does not fit ``params``, or has a value outside [0, L − 1].
        """
        return self.log_prob_per_pixel(params, x).sum(dim=(1, 2), dtype=torch.float64)  # (B,) nats

    def log_prob_per_pixel(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x_ij | params_ij) of every pixel, all C channels jointly: (B, H, W) nats.

        Arguments and errors as in :meth:`log_prob`.
        """
        logits, means, log_scales = self._conditioned(params, x)  # (B, K, H, W), 2× (B, C, K, H, W)
        log_mass = _log_bin_mass(x.long().unsqueeze(2), means, log_scales, self.num_levels)  # (B, C, K, H, W)
        log_joint = F.log_softmax(logits, dim=1) + log_mass.sum(dim=1)  # (B, K, H, W)
        return torch.logsumexp(log_joint, dim=1)  # (B, H, W)

    def log_prob_per_subpixel(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(R), log p(G | R), log p(B | R, G) of every pixel: (B, C, H, W) nats.

        The component is shared by the channels, so channel c's mixture weights are the posterior of the
        component given the channels before it: w_c,k ∝ π_k · Π_{c' < c} P(x_c' | k). The C terms of a pixel sum
        to :meth:`log_prob_per_pixel` up to float rounding. Arguments and errors as in :meth:`log_prob`.
        """
        logits, means, log_scales = self._conditioned(params, x)
        log_mass = _log_bin_mass(x.long().unsqueeze(2), means, log_scales, self.num_levels)  # (B, C, K, H, W)
        return torch.logsumexp(_channel_weights(logits, log_mass) + log_mass, dim=2)  # (B, C, H, W)

    def level_log_probs(self, params: torch.Tensor, x: torch.Tensor, channel: int) -> torch.Tensor:
        """log p(v | x_<c) for every level v of channel c: (B, L, H, W) nats; see :meth:`log_prob_per_subpixel`."""
        logits, means, log_scales = self._conditioned(params, x)
        log_mass = _log_bin_mass(x.long().unsqueeze(2), means, log_scales, self.num_levels)  # (B, C, K, H, W)
        weights = _channel_weights(logits, log_mass)[:, channel].unsqueeze(1)  # (B, 1, K, H, W)
        levels = torch.arange(self.num_levels, device=params.device).view(1, -1, 1, 1, 1)  # (1, L, 1, 1, 1)
        every_level = _log_bin_mass(levels, means[:, channel].unsqueeze(1), log_scales[:, channel].unsqueeze(1),
                                    self.num_levels)  # (B, L, K, H, W)
        return torch.logsumexp(weights + every_level, dim=2)  # (B, L, H, W)

    def _conditioned(self, params: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Checked params → logits (B, K, H, W), means shifted by the earlier channels of ``x`` and clamped
        log-scales (B, C, K, H, W); float32 (float64 for float64 params)."""
        self._check_image(params, x)
        params = params if params.dtype == torch.float64 else params.float()
        logits, means, log_scales, coeffs = self._split(params)  # (B, K, H, W), 2× (B, C, K, H, W), (B, 3, K, H, W)
        scaled = self._scale(x.long(), params.dtype).unsqueeze(2)  # (B, C, 1, H, W) in [−1, 1]
        if self.channels == 3:  # the paper's linear dependence, on the observed values
            alpha, beta, gamma = coeffs.unbind(1)  # (B, K, H, W) each
            red, green = scaled[:, 0], scaled[:, 1]  # (B, 1, H, W)
            means = torch.stack([means[:, 0], means[:, 1] + alpha * red,
                                 means[:, 2] + beta * red + gamma * green], dim=1)  # (B, 3, K, H, W)
        return logits, means, log_scales

    def sample(self, params: torch.Tensor, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw every pixel independently: a component, then R, then G given R, then B given R and G.

        Each channel is drawn by inverse CDF of its discretized logistic, so the samples follow exactly the
        distribution that :meth:`log_prob` scores (see :func:`discretized_logistic_quantile`). The random
        numbers are one (1 + C, B, H, W) uniform draw: the component's, then R's, G's and B's.

        Args:
            params: float (B, params_per_pixel, H, W).
            temperature: T > 0 divides the mixture logits and multiplies every scale s (after the clamp of
                log s at −7). T = 1 samples the distribution itself; T → 0 gives the most likely component
                and, channel by channel, the level nearest to its (shifted) mean.
            generator: source of the random numbers (on ``params``' device); None uses the global one.

        Returns:
            int64 (B, C, H, W) with values in [0, L − 1].
        """
        self.check_temperature(temperature)
        self._check_params(params)
        logits, means, log_scales, coeffs = self._split(params.double())
        batch, _, height, width = params.shape
        uniforms = torch.rand((1 + self.channels, batch, height, width), generator=generator,
                              device=params.device, dtype=torch.float64)  # (1 + C, B, H, W)
        cdf = torch.softmax(logits / temperature, dim=1).movedim(1, -1).cumsum(dim=-1)  # (B, H, W, K)
        cdf = cdf / cdf[..., -1:]  # the last entry is exactly 1, so every u in [0, 1) finds a component
        component = torch.searchsorted(cdf, uniforms[0].unsqueeze(-1), right=True)  # (B, H, W, 1)
        index = component.clamp_(max=self.num_mixtures - 1).reshape(batch, 1, 1, height, width)

        def pick(values: torch.Tensor) -> torch.Tensor:  # (B, n, K, H, W) -> (B, n, H, W) at the component
            return values.gather(2, index.expand(-1, values.shape[1], -1, -1, -1)).squeeze(2)

        mean, scale = pick(means), pick(log_scales).exp() * temperature  # (B, C, H, W)
        levels = [discretized_logistic_quantile(uniforms[1], mean[:, 0], scale[:, 0], self.num_levels)]
        if self.channels == 3:
            alpha, beta, gamma = pick(coeffs).unbind(1)  # (B, H, W) each
            red = self._scale(levels[0], torch.float64)
            levels.append(discretized_logistic_quantile(uniforms[2], mean[:, 1] + alpha * red, scale[:, 1],
                                                        self.num_levels))
            green = self._scale(levels[1], torch.float64)
            levels.append(discretized_logistic_quantile(uniforms[3], mean[:, 2] + beta * red + gamma * green,
                                                        scale[:, 2], self.num_levels))
        return torch.stack(levels, dim=1)  # (B, C, H, W) int64

    def _scale(self, levels: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Integer levels {0, …, L − 1} → bin centres x̃ = 2x/(L − 1) − 1 in [−1, 1] (the paper's scaling)."""
        return (2 * levels - (self.num_levels - 1)).to(dtype) / (self.num_levels - 1)  # correctly rounded

    def _split(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """params (B, P, H, W) → logits (B, K, H, W), means and clamped log-scales (B, C, K, H, W),
        tanh'd coefficients α, β, γ (B, 3, K, H, W) (None for C = 1)."""
        batch, _, height, width = params.shape
        k, c = self.num_mixtures, self.channels
        logits = params[:, :k]  # (B, K, H, W)
        per_channel = params[:, k:k + 2 * k * c].reshape(batch, c, 2, k, height, width)  # (B, C, 2, K, H, W)
        means = per_channel[:, :, 0]  # (B, C, K, H, W)
        log_scales = per_channel[:, :, 1].clamp(min=MIN_LOG_SCALE)  # (B, C, K, H, W)
        coeffs = None
        if c == 3:
            coeffs = torch.tanh(params[:, k + 2 * k * c:].reshape(batch, 3, k, height, width))  # (B, 3, K, H, W)
        return logits, means, log_scales, coeffs

    def _check_params(self, params: torch.Tensor) -> None:
        if params.dim() != 4 or params.shape[1] != self.params_per_pixel or not params.is_floating_point():
            raise DataError(f"output parameters of shape {tuple(params.shape)} and dtype {params.dtype} do not "
                            f"fit {self!r}: expected float (B, {self.params_per_pixel}, H, W)")

    def _check_image(self, params: torch.Tensor, x: torch.Tensor) -> None:
        """Raise DataError unless ``x`` is an integer (B, C, H, W) image that fits ``params``, within range."""
        self._check_params(params)
        self._check_integer(x)
        expected = (params.shape[0], self.channels, *params.shape[2:])
        if tuple(x.shape) != expected:
            raise DataError(f"images of shape {tuple(x.shape)} do not fit output parameters of shape "
                            f"{tuple(params.shape)} (expected images of shape {expected})")
        self._check_range(x)


def _channel_weights(logits: torch.Tensor, log_mass: torch.Tensor) -> torch.Tensor:
    """log w_c,k: the component's posterior given the channels before c, (B, C, K, H, W), from the logits
    (B, K, H, W) and the log masses (B, C, K, H, W) of the observed levels."""
    before = torch.cat([torch.zeros_like(log_mass[:, :1]), log_mass[:, :-1].cumsum(dim=1)], dim=1)  # Σ_{c' < c}
    return F.log_softmax(F.log_softmax(logits, dim=1).unsqueeze(1) + before, dim=2)  # (B, C, K, H, W)


def _log_bin_mass(levels: torch.Tensor, means: torch.Tensor, log_scales: torch.Tensor,
                  num_levels: int) -> torch.Tensor:
    """log P(level | μ, s) of the discretized logistic, exact and stable in float32.

    With a = (x̃ + Δ − μ)/s and b = (x̃ − Δ − μ)/s (so a − b = 2Δ/s > 0):
    P(0) = σ(a), P(L − 1) = 1 − σ(b) = σ(−b), and in between
    σ(a) − σ(b) = σ(a)·σ(−b)·(1 − e^{−(a − b)}), whose log is a sum of softplus terms and log1mexp(2Δ/s):
    no cancellation in either tail, and no density-at-the-centre approximation.

    Args:
        levels: integer levels x, broadcast with the others.
        means, log_scales: μ and log s (already clamped), float.
    """
    twice = (2 * levels - num_levels).to(means.dtype)  # exact integers: the edges below are correctly rounded
    inv_scale = torch.exp(-log_scales)
    upper = ((twice + 2) / (num_levels - 1) - means) * inv_scale  # a; x̃ + Δ = (2x + 2 − L)/(L − 1)
    lower = (twice / (num_levels - 1) - means) * inv_scale  # b; x̃ − Δ = (2x − L)/(L − 1)
    zero = upper.new_zeros(())
    log_cdf_upper = -torch.logaddexp(-upper, zero)  # log σ(a) = −softplus(−a); F.softplus cuts off at 20
    log_sf_lower = -torch.logaddexp(lower, zero)  # log(1 − σ(b)) = −softplus(b)
    middle = log_cdf_upper + log_sf_lower + _log1mexp(math.log(2 / (num_levels - 1)) - log_scales)
    return torch.where(levels == 0, log_cdf_upper, torch.where(levels == num_levels - 1, log_sf_lower, middle))


def _log1mexp(log_d: torch.Tensor) -> torch.Tensor:
    """log(1 − e^{−d}) for d = exp(log_d) > 0, accurate from d ≈ 0 (where it is log d − d/2) to d ≫ 1.

    Every branch gets an input at which it is finite, so ``torch.where`` passes finite gradients.
    """
    d = torch.exp(log_d)
    tiny = log_d - d / 2  # series: log d + log(1 − d/2 + …), exact to float precision for d < e^−20
    small = torch.log(-torch.expm1(-d.clamp(min=1e-30)))  # accurate for d ≤ ln 2
    large = torch.log1p(-torch.exp(-d.clamp(min=math.log(2))))  # accurate for d > ln 2
    return torch.where(log_d < -20, tiny, torch.where(d <= math.log(2), small, large))


def discretized_logistic_quantile(u: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor,
                                  num_levels: int) -> torch.Tensor:
    """The smallest level v with F(v) ≥ u, where F is the discretized logistic's CDF.

    F(v) = σ((x̃_v + Δ − μ)/s) for v < L − 1 and F(L − 1) = 1 (the edge bins take the tails), so for
    u ~ U(0, 1) the result has exactly the law that :meth:`DiscretizedLogisticMixture.log_prob` scores.
    It is found by bisection over the levels (⌈log2 L⌉ evaluations of F), not by rounding the continuous
    draw μ + s·logit(u): that closed form is the same map in exact arithmetic, but in floating point it puts
    draws next to a bin edge, or in a tail where F rounds to 1, into a neighbouring bin. Bisection is
    exact for F as computed, because F is monotone in v after rounding.

    Args:
        u: float64 uniforms in [0, 1).
        mean, scale: μ (in the scaled [−1, 1] units) and s > 0, broadcast with ``u``.
        num_levels: L.

    Returns:
        int64 levels, the broadcast shape of the inputs.
    """
    u, mean, scale = torch.broadcast_tensors(u, mean, scale)
    low = torch.zeros(u.shape, dtype=torch.long, device=u.device)  # invariant: low ≤ answer ≤ high
    high = torch.full_like(low, num_levels - 1)  # F(L − 1) = 1 ≥ u
    for _ in range(math.ceil(math.log2(num_levels))):  # each step halves high − low + 1
        middle = (low + high) // 2
        upper_edge = (2 * middle + 2 - num_levels).to(mean.dtype) / (num_levels - 1)  # x̃ + Δ, as in log_prob
        reached = (middle == num_levels - 1) | (torch.sigmoid((upper_edge - mean) / scale) >= u)  # F(middle) ≥ u
        high = torch.where(reached, middle, high)
        low = torch.where(reached, low, middle + 1)
    return high
