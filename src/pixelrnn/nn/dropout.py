"""Dropout whose mask is cheap to draw on a CPU (PixelCNN++'s gated ResNet blocks drop half their hidden maps).

``nn.Dropout`` draws its mask on a CPU with ``bernoulli_``, one generator call per element: in a profiled training
step of the PixelCNN++ paper preset (batch 16) its 64 masks took 2.2 s, 11 % of the float32 step and 17 % of the
bfloat16 one (docs/benchmarks.md, "Dropout"). Here the keep mask at the paper's p = ½ comes from the bits of
64-bit random integers, 64 elements per draw (each bit of a uniform 64-bit integer is a fair coin), and any other
p from ``rand >= p``; the output and its gradient are the input's and the gradient's times mask / (1 − p), the mask
saved as booleans, as ``nn.Dropout`` saves it. Same distribution as ``nn.Dropout`` (a different draw of it); on a
GPU, where ``nn.Dropout``'s fused kernel is fast, it is ``nn.Dropout``. Every draw comes from PyTorch's default
generator, so ``torch.manual_seed`` and a checkpoint's generator state make it repeat exactly.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

BITS_PER_DRAW = 64
_SHIFTS = torch.arange(8, dtype=torch.uint8)  # the bits of a byte


def keep_mask(shape: tuple[int, ...], p: float, device: torch.device | str = "cpu") -> torch.Tensor:
    """A boolean tensor of ``shape``, each element True (kept) with probability 1 − p, independently.

    p = ½: the bits of ⌈n / 64⌉ random 64-bit integers; otherwise uniform [0, 1) floats ≥ p.
    """
    count = math.prod(shape)
    if p != 0.5:
        return torch.rand(shape, device=device) >= p
    # torch.randint over [−2⁶³, 2⁶³ − 1) draws a full 64-bit word per value (one value of 2⁶⁴ is never drawn)
    words = torch.randint(-2**63, 2**63 - 1, (-(-count // BITS_PER_DRAW),), dtype=torch.int64, device=device)
    bits = (words.view(torch.uint8).unsqueeze(-1) >> _SHIFTS.to(device)) & 1  # (⌈n/64⌉·8, 8) of 0 / 1
    return bits.view(-1)[:count].view(shape).bool()


class _KeepAndScale(torch.autograd.Function):
    """inputs · keep · scale, forward and backward, keeping only the boolean mask for the backward."""

    @staticmethod
    def forward(ctx, inputs: torch.Tensor, keep: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return torch.mul(inputs, keep).mul_(scale)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (keep,) = ctx.saved_tensors
        return torch.mul(grad, keep).mul_(ctx.scale), None, None


def dropout(inputs: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """``F.dropout(inputs, p, training)`` with the mask drawn as :func:`keep_mask` on a CPU.

    Shape: any → the same.
    """
    if not training or p == 0.0:
        return inputs
    if inputs.device.type != "cpu" or p == 1.0:
        return F.dropout(inputs, p, training)
    return _KeepAndScale.apply(inputs, keep_mask(tuple(inputs.shape), p, inputs.device), 1.0 / (1.0 - p))


class Dropout(nn.Module):
    """``nn.Dropout(p)`` with :func:`dropout`: zero each element with probability p in training, scale the rest
    by 1 / (1 − p); the identity in evaluation."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return dropout(inputs, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
