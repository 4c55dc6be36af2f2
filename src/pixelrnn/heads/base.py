"""The contract every output head keeps: network parameters → exact log p in nats, and samples.

A model's network returns ``params`` (B, num_params(C), H, W). A per-sub-pixel head (``joint_channels`` False:
:mod:`~pixelrnn.heads.categorical`) reads sub-pixel c's P = num_params(1) parameters in channels [c·P, (c+1)·P);
a joint head (``joint_channels`` True: :mod:`~pixelrnn.heads.logistic_mixture`) has parameters for whole pixels,
and a sampler draws all C channels of a pixel in one call. ``log_prob`` is in **nats per image**; ``sample``
draws from a ``torch.Generator``, so the same seed gives the same images; ``temperature`` is checked here, once.
"""

from __future__ import annotations

import torch

from pixelrnn.errors import ConfigError, DataError


class OutputHead:
    """Base class of the output heads.

    Attributes:
        num_levels: L, the integer values of a sub-pixel are [0, L − 1].
        joint_channels: True when the parameters belong to whole pixels (every channel drawn at once).
    """

    num_levels: int
    params_per_subpixel: int  # per-sub-pixel heads only
    joint_channels: bool = False

    def num_params(self, channels: int) -> int:
        """The network's output channels for images of ``channels`` colour channels."""
        raise NotImplementedError

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Exact log-likelihood of integer images.

        Args:
            params: float (B, C·P, H, W), sub-pixel c in channels [c·P, (c+1)·P).
            x: integer (B, C, H, W) with values in [0, L − 1].

        Returns:
            (B,) log p(x | params) in nats per image, float64: the sum over all C·H·W sub-pixel terms (float32,
            float64 for float64 ``params``), taken in float64 so that the sum loses nothing.

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

    @staticmethod
    def check_temperature(temperature: float) -> None:
        """ConfigError unless ``temperature`` > 0 (the one check every sampler relies on)."""
        if not temperature > 0:
            raise ConfigError(f"temperature must be positive, got {temperature}")


def at_least_float32(params: torch.Tensor) -> torch.Tensor:
    """Low-precision (bf16/fp16) parameters are scored in float32; float64 stays float64."""
    return params if params.dtype == torch.float64 else params.float()
