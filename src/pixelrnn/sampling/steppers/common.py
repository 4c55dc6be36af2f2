"""Pieces shared by the incremental samplers: a convolution evaluated at one position, and the stepper interface.

A stepper evaluates a model pixel by pixel, keeping per-layer caches of everything already computed for earlier
pixels, so that the parameters of pixel (i, j) cost a constant amount of work instead of a whole network pass.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn


def conv_weight(conv: nn.Module) -> torch.Tensor:
    """The weight a (masked) convolution really applies: ``weight * mask`` for a MaskedConv2d."""
    mask = getattr(conv, "mask", None)
    return conv.weight if mask is None else conv.weight * mask


def zero_maps(model: nn.Module, batch: int, channels: int) -> torch.Tensor:
    """A cache of per-pixel values: zeros (B, channels, H, W) in the model's dtype and on its device."""
    _, height, width = model.config.image_shape
    reference = next(model.parameters())
    return torch.zeros(batch, channels, height, width, dtype=reference.dtype, device=reference.device)


def window(features: torch.Tensor, rows: tuple[int, int], cols: tuple[int, int]) -> torch.Tensor:
    """Rows [r0, r1) and columns [c0, c1) of (B, C, H, W) maps, zero outside the map: (B, C, r1 − r0, c1 − c0)."""
    (r0, r1), (c0, c1) = rows, cols
    height, width = features.shape[-2:]
    inside = features[:, :, max(r0, 0):min(r1, height), max(c0, 0):min(c1, width)]
    return F.pad(inside, (max(0, -c0), max(0, c1 - width), max(0, -r0), max(0, r1 - height)))


class Convolutions:
    """Stride-1 'same' convolutions evaluated at single positions, as matrix products.

    The (masked) weight of each convolution is flattened once, into a (C·kh·kw, out) matrix, on first use: a
    stepper calls the same convolutions at every pixel, and ``weight * mask`` per call would cost more than
    the product itself.
    """

    def __init__(self) -> None:
        self._matrices: dict[int, tuple[torch.Tensor, torch.Tensor | None]] = {}

    def _matrix(self, conv: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
        key = id(conv)
        if key not in self._matrices:
            weight = conv_weight(conv).detach()
            self._matrices[key] = (weight.reshape(weight.shape[0], -1).t().contiguous(), conv.bias)
        return self._matrices[key]

    def at(self, conv: nn.Conv2d, features: torch.Tensor, row: int, col: int,
           corner: tuple[int, int] | None = None) -> torch.Tensor:
        """The output at (row, col) of ``conv`` over ``features`` (B, C, H, W): (B, out).

        Only the kernel's window is read, so the cost does not grow with the image. The window's top-left
        corner is (row − ph, col − pw) for a 'same'-padded convolution, or ``corner`` when given.
        """
        kh, kw = conv.kernel_size
        top, left = corner if corner is not None else (row - conv.padding[0], col - conv.padding[1])
        patch = window(features, (top, top + kh), (left, left + kw))  # (B, C, kh, kw)
        return self.pointwise(conv, patch.flatten(1))

    def pointwise(self, conv: nn.Module, vectors: torch.Tensor) -> torch.Tensor:
        """A convolution applied to flattened windows (B, C·kh·kw) — for a 1×1 one, to feature vectors."""
        matrix, bias = self._matrix(conv)
        out = vectors @ matrix  # (B, out)
        return out if bias is None else out + bias

    def sequential(self, modules: nn.Sequential, vectors: torch.Tensor) -> torch.Tensor:
        """ReLU / 1×1-convolution stacks (the output layers) on feature vectors (B, C) → (B, out)."""
        for module in modules:
            vectors = F.relu(vectors) if isinstance(module, nn.ReLU) else self.pointwise(module, vectors)
        return vectors


class Stepper:
    """Incremental evaluation of one model over a batch, pixel by pixel in the model's order.

    ``params_at(images, row, col)`` returns (B, P_total) — the parameters of pixel (row, col), exactly as
    the full network would give them — and leaves the caches of (row, col) up to date with ``images``; called
    once per sub-pixel to sample, the last call (or a single one for a known pixel) makes them final.
    ``end_row(row)`` runs after the last pixel of a row (steppers that need the whole row use it). A subclass
    names the model class it evaluates in ``steps``: that is how the fast sampler and the entropy coder find it.
    """

    def params_at(self, images: torch.Tensor, row: int, col: int) -> torch.Tensor:
        raise NotImplementedError

    steps: ClassVar[type[nn.Module] | None] = None  # the model class it evaluates (found by steppers.find_stepper)
    model: nn.Module
    codes: torch.Tensor | None = None  # the model's class-conditioning codes of the batch's labels

    def end_row(self, row: int) -> None:
        """Work that needs the finished row (default: none)."""

    def _condition(self, features: torch.Tensor, index: int) -> torch.Tensor:
        """Conditioned layer ``index`` of the model on feature vectors (B, C) (unchanged when unconditional)."""
        if self.codes is None:
            return features
        return self.model.conditioning.apply(features[:, :, None, None], index, self.codes)[:, :, 0, 0]
