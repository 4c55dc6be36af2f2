"""Output heads: the distribution of every sub-pixel given the network's parameters.

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

from pixelrnn.errors import ConfigError, DataError


class OutputHead:
    """Base class of the output heads.

    Attributes:
        num_levels: L, the integer values of a sub-pixel are [0, L − 1].
        params_per_subpixel: P, the network's output channels per sub-pixel.
    """

    num_levels: int
    params_per_subpixel: int

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Exact log-likelihood of integer images.

        Args:
            params: float (B, C·P, H, W), sub-pixel c in channels [c·P, (c+1)·P).
            x: integer (B, C, H, W) with values in [0, L − 1].

        Returns:
            (B,) log p(x | params) in nats per image, the sum over all C·H·W sub-pixels; float32 (float64
            when ``params`` are float64).

        Raises:
            DataError: ``x`` is not integer, does not fit ``params``, or has a value outside [0, L − 1].
        """
        raise NotImplementedError

    def log_prob_per_subpixel(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x_c | x_<c, params) of every sub-pixel: (B, C, H, W) nats, summing over (C, H, W) to
        :meth:`log_prob` (joint heads: the terms of their R, G | R, B | R, G factorisation).

        Arguments, dtype and errors as in :meth:`log_prob`.
        """
        raise NotImplementedError

    def level_log_probs(self, params: torch.Tensor, x: torch.Tensor, channel: int) -> torch.Tensor:
        """log p(v | x_<c, params) for every level v of sub-pixel ``channel`` c: (B, L, H, W) nats.

        Exactly normalised over v. The values of ``x`` at channels ≥ c are not read (give any level there);
        an entropy coder reads one table per sub-pixel from it.

        Args:
            params: as in :meth:`log_prob`.
            x: integer (B, C, H, W), the levels of the channels before c.
            channel: c in [0, C).
        """
        raise NotImplementedError

    def sample(self, params: torch.Tensor, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw every sub-pixel independently from its own distribution.

        Args:
            params: float (B, C·P, H, W).
            temperature: divides the logits; 1.0 samples the distribution itself, → 0 gives its mode.
            generator: source of the random numbers (on ``params``' device); None uses the global one.

        Returns:
            int64 (B, C, H, W) with values in [0, L − 1].
        """
        raise NotImplementedError

    def _check(self, params: torch.Tensor, x: torch.Tensor) -> None:
        """Raise DataError unless ``x`` is an integer (B, C, H, W) image that fits ``params``, within range."""
        self._check_integer(x)
        batch, channels = params.shape[0], params.shape[1] // self.params_per_subpixel
        expected = (batch, channels, *params.shape[2:])
        if params.dim() != 4 or params.shape[1] % self.params_per_subpixel or tuple(x.shape) != expected:
            raise DataError(f"images of shape {tuple(x.shape)} do not fit output parameters of shape "
                            f"{tuple(params.shape)} ({self.params_per_subpixel} per sub-pixel)")
        self._check_range(x)

    @staticmethod
    def _check_integer(x: torch.Tensor) -> None:
        """DataError unless ``x`` holds integer levels."""
        if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
            raise DataError(f"images must hold integer levels, got dtype {x.dtype}")

    def _check_range(self, x: torch.Tensor) -> None:
        """DataError for a value outside [0, L − 1] (an empty batch passes)."""
        if x.numel() == 0:
            return
        low, high = int(x.min()), int(x.max())
        if low < 0 or high > self.num_levels - 1:
            bad = low if low < 0 else high
            raise DataError(f"pixel value {bad} is outside [0, {self.num_levels - 1}] "
                            f"(the model has {self.num_levels} levels)")


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ConfigError(f"temperature must be positive, got {temperature}")


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

    def _logits(self, params: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = params.shape
        return params.reshape(batch, -1, self.num_levels, height, width)  # (B, C, L, H, W)

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.log_prob_per_subpixel(params, x).sum(dim=(1, 2, 3))  # (B,) nats

    def log_prob_per_subpixel(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        self._check(params, x)
        log_p = F.log_softmax(_at_least_float32(self._logits(params)), dim=2)  # (B, C, L, H, W), exactly normalised
        return log_p.gather(2, x.long().unsqueeze(2)).squeeze(2)  # (B, C, H, W) nats

    def level_log_probs(self, params: torch.Tensor, x: torch.Tensor, channel: int) -> torch.Tensor:
        self._check(params, x)
        return F.log_softmax(_at_least_float32(self._logits(params)[:, channel]), dim=1)  # (B, L, H, W)

    def sample(self, params: torch.Tensor, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        _check_temperature(temperature)
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

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.log_prob_per_subpixel(params, x).sum(dim=(1, 2, 3))  # (B,) nats

    def log_prob_per_subpixel(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        self._check(params, x)
        logits = _at_least_float32(params)  # (B, C, H, W)
        return -F.binary_cross_entropy_with_logits(logits, x.to(logits.dtype), reduction="none")  # stable log σ(±l)

    def level_log_probs(self, params: torch.Tensor, x: torch.Tensor, channel: int) -> torch.Tensor:
        self._check(params, x)
        logits = _at_least_float32(params[:, channel])  # (B, H, W)
        zero = logits.new_zeros(())
        return torch.stack([-torch.logaddexp(logits, zero), -torch.logaddexp(-logits, zero)], dim=1)  # (B, 2, H, W)

    def sample(self, params: torch.Tensor, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        _check_temperature(temperature)
        p_one = torch.sigmoid(params.double() / temperature)  # (B, C, H, W)
        u = torch.rand(p_one.shape, generator=generator, device=p_one.device, dtype=p_one.dtype)
        return (u < p_one).long()  # (B, C, H, W) int64


def _at_least_float32(params: torch.Tensor) -> torch.Tensor:
    """Low-precision (bf16/fp16) parameters are scored in float32; float64 stays float64."""
    return params if params.dtype == torch.float64 else params.float()


def make_head(num_levels: int) -> OutputHead:
    """The paper's head for ``num_levels``: :class:`Bernoulli` for 2 levels, else :class:`Categorical`."""
    if num_levels == 2:
        return Bernoulli()
    return Categorical(num_levels)
