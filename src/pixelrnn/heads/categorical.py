"""The PixelRNN paper's output heads: an L-way softmax or one sigmoid per sub-pixel.

A model's network returns ``params`` of shape (B, C·P, H, W): sub-pixel c's P parameters sit in channels
[c·P, (c+1)·P), the same contiguous R | G | B groups that the masked convolutions use. A head turns them
into an exactly normalised distribution over the integer levels [0, L − 1] of each sub-pixel:

- :class:`Categorical`: the paper's L-way softmax (256-way for 8-bit images), P = L logits.
- :class:`Bernoulli`: one sigmoid per pixel for binary images (binarized MNIST), P = 1 logit.

``log_prob`` is in **nats per image** (summed over every sub-pixel); ``sample`` draws every sub-pixel
independently from its own distribution with a ``torch.Generator``, so the same seed gives the same
images. The autoregressive loop that feeds samples back lives in :mod:`pixelrnn.sampling.plain`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pixelrnn.errors import ConfigError
from pixelrnn.heads.base import OutputHead, at_least_float32


class Categorical(OutputHead):
    """An L-way softmax per sub-pixel (§2.2 of the paper: "a 256-way softmax").

    Args:
        num_levels: L >= 2; P = L logits per sub-pixel.
    """

    def __init__(self, num_levels: int) -> None:
        if num_levels < 2:
            raise ConfigError(f"a categorical head needs at least 2 levels, got {num_levels}")
        self.num_levels = num_levels
        self.params_per_subpixel = num_levels

    def num_params(self, channels: int) -> int:
        return channels * self.num_levels  # L logits per sub-pixel

    def _logits(self, params: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = params.shape
        return params.reshape(batch, -1, self.num_levels, height, width)  # (B, C, L, H, W)

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.log_prob_per_subpixel(params, x).sum(dim=(1, 2, 3), dtype=torch.float64)  # (B,) nats

    def log_prob_per_subpixel(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        self._check(params, x)
        log_p = F.log_softmax(at_least_float32(self._logits(params)), dim=2)  # (B, C, L, H, W), exactly normalised
        return log_p.gather(2, x.long().unsqueeze(2)).squeeze(2)  # (B, C, H, W) nats

    def level_log_probs(self, params: torch.Tensor, x: torch.Tensor, channel: int) -> torch.Tensor:
        self._check(params, x)
        return F.log_softmax(at_least_float32(self._logits(params)[:, channel]), dim=1)  # (B, L, H, W)

    def sample(self, params: torch.Tensor, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        self.check_temperature(temperature)
        logits = self._logits(params).movedim(2, -1).double() / temperature  # (B, C, H, W, L)
        cdf = torch.softmax(logits, dim=-1).cumsum(dim=-1)  # (B, C, H, W, L)
        cdf = cdf / cdf[..., -1:]  # the last entry is exactly 1, so every u in [0, 1) finds a level
        u = torch.rand(cdf.shape[:-1], generator=generator, device=cdf.device, dtype=cdf.dtype)  # (B, C, H, W)
        levels = torch.searchsorted(cdf, u.unsqueeze(-1), right=True).squeeze(-1)  # first level with cdf > u
        return levels.clamp_(max=self.num_levels - 1)  # (B, C, H, W) int64


class Bernoulli(OutputHead):
    """One sigmoid per sub-pixel for binary images (§4 of the paper, binarized MNIST). P = 1 logit."""

    num_levels = 2
    params_per_subpixel = 1

    def num_params(self, channels: int) -> int:
        return channels  # one logit per sub-pixel

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.log_prob_per_subpixel(params, x).sum(dim=(1, 2, 3), dtype=torch.float64)  # (B,) nats

    def log_prob_per_subpixel(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        self._check(params, x)
        logits = at_least_float32(params)  # (B, C, H, W)
        return -F.binary_cross_entropy_with_logits(logits, x.to(logits.dtype), reduction="none")  # stable log σ(±l)

    def level_log_probs(self, params: torch.Tensor, x: torch.Tensor, channel: int) -> torch.Tensor:
        self._check(params, x)
        logits = at_least_float32(params[:, channel])  # (B, H, W)
        zero = logits.new_zeros(())
        return torch.stack([-torch.logaddexp(logits, zero), -torch.logaddexp(-logits, zero)], dim=1)  # (B, 2, H, W)

    def sample(self, params: torch.Tensor, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        self.check_temperature(temperature)
        p_one = torch.sigmoid(params.double() / temperature)  # (B, C, H, W)
        u = torch.rand(p_one.shape, generator=generator, device=p_one.device, dtype=p_one.dtype)
        return (u < p_one).long()  # (B, C, H, W) int64


def make_head(num_levels: int) -> OutputHead:
    """The paper's head for ``num_levels``: :class:`Bernoulli` for 2 levels, else :class:`Categorical`."""
    if num_levels == 2:
        return Bernoulli()
    return Categorical(num_levels)
