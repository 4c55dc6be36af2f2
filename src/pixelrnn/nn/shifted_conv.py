"""The layers of PixelCNN++: shifted convolutions, concat_elu and the gated ResNet block.

Reference: T. Salimans, A. Karpathy, X. Chen, D. P. Kingma, *PixelCNN++*, ICLR 2017, §2; layer definitions as in
the authors' code (openai/pixel-cnn, pixel_cnn_pp/nn.py). Two streams replace masked convolutions: a down-shifted
convolution (DS: pad kh − 1 rows on top, (kw − 1)/2 columns on both sides) sees only the rows above a pixel once
its input is shifted down one row; a down-right-shifted one (DRS: pad kh − 1 rows on top, kw − 1 columns on the
left) the rows above and the pixels to its left. A gated ResNet block (concat_elu, dropout, a gated second
convolution whose initial scale is 0.1, as the reference's ``init_scale``) keeps its stream's causality. The
network wired from them is :class:`pixelrnn.models.pixelcnn_pp.PixelCNNPlusPlusNetwork`; ``down_shift`` also
serves the Gated PixelCNN and the Diagonal BiLSTM.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pixelrnn.nn.conditioning import ClassConditioning
from pixelrnn.nn.dropout import Dropout

SECOND_CONV_INIT_SCALE = 0.1  # the reference's init_scale of each gated ResNet block's second convolution


def down_shift(x: torch.Tensor) -> torch.Tensor:
    """Move the map one row down (zeros enter at the top): output row i is input row i − 1."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1, :]  # (B, C, H, W)


def right_shift(x: torch.Tensor) -> torch.Tensor:
    """Move the map one column right (zeros enter on the left): output column j is input column j − 1."""
    return F.pad(x, (1, 0, 0, 0))[:, :, :, :-1]  # (B, C, H, W)


def concat_elu(x: torch.Tensor) -> torch.Tensor:
    """ELU of [x, −x] along the channels: (B, C, H, W) → (B, 2C, H, W); keeps both signs' information."""
    return F.elu(torch.cat([x, -x], dim=1))


class DownShiftedConv2d(nn.Module):
    """Convolution whose output (i, j) reads input rows i − kh + 1 … i, columns j − (kw − 1)/2 … j + (kw − 1)/2.

    With stride 2 and even H, W it halves the map; output row r then reads input rows 2r − 1 and 2r only.
    Shape: (B, in, H, W) → (B, out, ⌈H/stride⌉, ⌈W/stride⌉).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, int] = (2, 3),
                 stride: int = 1) -> None:
        super().__init__()
        rows, cols = kernel_size
        self.padding = (cols // 2, cols // 2, rows - 1, 0)  # (left, right, top, bottom)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, self.padding))


class DownRightShiftedConv2d(nn.Module):
    """Convolution whose output (i, j) reads input rows i − kh + 1 … i and columns j − kw + 1 … j.

    Shape: (B, in, H, W) → (B, out, ⌈H/stride⌉, ⌈W/stride⌉).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, int] = (2, 2),
                 stride: int = 1) -> None:
        super().__init__()
        rows, cols = kernel_size
        self.padding = (cols - 1, 0, rows - 1, 0)  # (left, right, top, bottom)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, self.padding))


class DownShiftedConvTranspose2d(nn.Module):
    """Transposed DS convolution, stride 2: input row q feeds output rows 2q and 2q + 1 only.

    The full transposed output (2H + kh − 2, 2W + kw − 2) is cropped to its top 2H rows and the 2W columns
    centred by dropping (kw − 1)/2 on the left. Shape: (B, in, H, W) → (B, out, 2H, 2W).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, int] = (2, 3),
                 stride: int = 2) -> None:
        super().__init__()
        self.stride, self.left = stride, (kernel_size[1] - 1) // 2
        self.conv = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2] * self.stride, x.shape[-1] * self.stride
        return self.conv(x)[:, :, :height, self.left:self.left + width]  # (B, out, 2H, 2W)


class DownRightShiftedConvTranspose2d(nn.Module):
    """Transposed DRS convolution, stride 2: input (q, p) feeds outputs (2q + a, 2p + b), a, b ∈ {0, …, k − 1}.

    Cropped to the top-left 2H × 2W. Shape: (B, in, H, W) → (B, out, 2H, 2W).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, int] = (2, 2),
                 stride: int = 2) -> None:
        super().__init__()
        self.stride = stride
        self.conv = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2] * self.stride, x.shape[-1] * self.stride
        return self.conv(x)[:, :, :height, :width]  # (B, out, 2H, 2W)


class GatedResnet(nn.Module):
    """Gated ResNet block of the paper: x + a ⊙ σ(b) with [a, b] = conv(dropout(concat_elu(conv(concat_elu x)))).

    Args:
        filters: F, the channels of x and of the output.
        conv: ``DownShiftedConv2d`` (u stream, 2×3) or ``DownRightShiftedConv2d`` (ul stream, 2×2).
        shortcut_channels: channels of the extra input ``a`` (0: none), added through a 1×1 "nin" conv.
        dropout: drop probability on the hidden maps.
        index: the block's number, its layer in the network's :class:`ClassConditioning`.

    Shape: x (B, F, H, W), a (B, shortcut_channels, H, W) → (B, F, H, W); ``condition`` = (the network's
    conditioning, its codes (B, d)) conditions the 2F maps before the gate.
    """

    def __init__(self, filters: int, conv: type[nn.Module], shortcut_channels: int = 0, dropout: float = 0.5,
                 index: int = 0) -> None:
        super().__init__()
        self.conv_in = conv(2 * filters, filters)
        self.shortcut = nn.Conv2d(2 * shortcut_channels, filters, 1) if shortcut_channels else None
        self.dropout = Dropout(dropout)  # nn.Dropout's, with a mask cheap to draw on a CPU
        self.conv_out = conv(2 * filters, 2 * filters)
        with torch.no_grad():
            for parameter in self.conv_out.parameters():
                parameter.mul_(SECOND_CONV_INIT_SCALE)  # each block starts close to the identity
        self.index = index

    def forward(self, x: torch.Tensor, a: torch.Tensor | None = None,
                condition: tuple[ClassConditioning, torch.Tensor] | None = None) -> torch.Tensor:
        hidden = self.conv_in(concat_elu(x))  # (B, F, H, W)
        if self.shortcut is not None and a is not None:
            hidden = hidden + self.shortcut(concat_elu(a))  # (B, F, H, W)
        hidden = self.conv_out(self.dropout(concat_elu(hidden)))  # (B, 2F, H, W)
        if condition is not None:
            conditioning, codes = condition
            hidden = conditioning.apply(hidden, self.index, codes)  # the same at every pixel
        value, gate = hidden.chunk(2, dim=1)  # 2 × (B, F, H, W)
        return x + value * torch.sigmoid(gate)
