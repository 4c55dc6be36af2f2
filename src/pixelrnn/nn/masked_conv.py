"""Masked convolutions of PixelRNN and PixelCNN (van den Oord, Kalchbrenner, Kavukcuoglu, ICML 2016, §3.4).

A masked convolution lets the features at pixel (i, j) depend only on pixels that come earlier in raster
order, and, inside pixel (i, j) itself, only on the colour channels that come earlier in the R → G → B
order. The mask is a fixed buffer multiplied into the weight on every call; the weight itself is never
modified, so the optimizer, weight decay and checkpoints see an ordinary convolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pixelrnn.errors import ConfigError

MASK_TYPES = ("A", "B")
# From this many output maps on, a masked convolution multiplies only its visible taps (two convolutions instead of
# one over mostly masked-out taps): faster on the CPU measured (docs/benchmarks.md), slower below it.
VISIBLE_TAPS_MIN_OUT_CHANNELS = 64


def channel_groups(num_channels: int, color_channels: int) -> torch.Tensor:
    """Colour group (0 = R, 1 = G, 2 = B) of each feature map: channel k of n is in group ``k * colors // n``.

    The groups are contiguous and as equal as possible: equal when ``n`` is a multiple of the number of
    colours, else their sizes differ by one (the paper's 2h = 256 maps over R, G, B: 86, 85, 85).

    Returns:
        int64 (num_channels,) with values in [0, color_channels − 1].

    Raises:
        ConfigError: fewer feature maps than colours (a colour would get no feature map at all).
    """
    if color_channels < 1:
        raise ConfigError(f"color_channels must be at least 1, got {color_channels}")
    if num_channels < color_channels:
        raise ConfigError(f"a masked convolution needs at least one feature map per colour: {num_channels} "
                          f"feature map(s) cannot be split into {color_channels} colour groups")
    return torch.arange(num_channels) * color_channels // num_channels


def _kernel_hw(kernel_size: int | tuple[int, int]) -> tuple[int, int]:
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    if kh < 1 or kw < 1 or kh % 2 == 0 or kw % 2 == 0:
        raise ConfigError(f"masked convolutions need odd kernel sizes, got {kh}×{kw}")
    return kh, kw


def causal_mask(in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], mask_type: str,
                color_channels: int = 1) -> torch.Tensor:
    """The 0/1 mask of a masked convolution, shaped like its weight.

    Spatially, the rows above the centre (kh // 2, kw // 2) and the pixels left of the centre in the centre
    row are visible; the pixels right of the centre and every row below are not. At the centre pixel, output
    group g sees input groups < g (mask ``A``) or <= g (mask ``B``), see :func:`channel_groups`.

    Args:
        in_channels: input feature maps.
        out_channels: output feature maps.
        kernel_size: odd spatial size k (square) or (kh, kw).
        mask_type: ``"A"`` (first layer: a sub-pixel never sees itself) or ``"B"`` (later layers).
        color_channels: number of colour groups (1 for grey images, 3 for RGB).

    Returns:
        float32 (out_channels, in_channels, kh, kw) of zeros and ones.

    Raises:
        ConfigError: an even kernel size, an unknown mask type, or fewer feature maps than colours.
    """
    if mask_type not in MASK_TYPES:
        raise ConfigError(f"unknown mask type '{mask_type}' (choose from: A, B)")
    kh, kw = _kernel_hw(kernel_size)
    out_groups = channel_groups(out_channels, color_channels)[:, None]  # (out, 1)
    in_groups = channel_groups(in_channels, color_channels)[None, :]  # (1, in)
    centre_visible = in_groups < out_groups if mask_type == "A" else in_groups <= out_groups  # (out, in)
    mask = torch.zeros(out_channels, in_channels, kh, kw)
    mask[:, :, : kh // 2, :] = 1.0  # every row above the centre
    mask[:, :, kh // 2, : kw // 2] = 1.0  # left of the centre, in the centre row
    mask[:, :, kh // 2, kw // 2] = centre_visible.float()
    return mask


class MaskedConv2d(nn.Conv2d):
    """A "same"-padded convolution whose output at a pixel sees only the past of that pixel.

    Spatial masks for k = 5 (1 = visible; the centre ``c`` depends on the colour groups)::

        1 1 1 1 1
        1 1 1 1 1
        1 1 c 0 0        mask A: c = input groups <  output group (a grey image: c = 0)
        0 0 0 0 0        mask B: c = input groups <= output group (a grey image: c = 1)
        0 0 0 0 0

    Channel groups at the centre pixel, for colour images: the input and output feature maps are each split
    in three contiguous groups R | G | B (feature map k of n belongs to group ``k * 3 // n``)::

                     input R  input G  input B            input R  input G  input B
        output R  [     0        0        0   ]       [     1        0        0   ]
        output G  [     1        0        0   ]       [     1        1        0   ]
        output B  [     1        1        0   ]       [     1        1        1   ]
                            mask A                               mask B

    With mask A in the first layer and mask B in every later one, the prediction of sub-pixel c at (i, j)
    depends on the pixels before (i, j) and on the sub-pixels of (i, j) before c, never on itself. A 1×1
    mask-B convolution keeps only the channel-group mask. The mask is a non-persistent buffer (rebuilt from
    the constructor's arguments, never read from a checkpoint) applied as ``F.conv2d(x, weight * mask)``; from
    ``VISIBLE_TAPS_MIN_OUT_CHANNELS`` output maps on, the same function is computed without the masked-out taps
    (:func:`visible_taps_conv2d`: the rows above, and the centre row up to the centre).

    Args:
        in_channels: input feature maps (at least ``color_channels``).
        out_channels: output feature maps (at least ``color_channels``).
        kernel_size: odd spatial size k, or (kh, kw); the padding keeps H×W.
        mask_type: ``"A"`` or ``"B"``.
        color_channels: colour groups: 1 (grey) or 3 (RGB).
        bias: learn an additive bias per output map.

    Shape:
        (B, in_channels, H, W) → (B, out_channels, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], mask_type: str,
                 color_channels: int = 1, bias: bool = True) -> None:
        kh, kw = _kernel_hw(kernel_size)
        mask = causal_mask(in_channels, out_channels, (kh, kw), mask_type, color_channels)
        super().__init__(in_channels, out_channels, (kh, kw), padding=(kh // 2, kw // 2), bias=bias)
        self.mask_type = mask_type
        self.color_channels = color_channels
        self.register_buffer("mask", mask, persistent=False)
        self.visible_taps_only = out_channels >= VISIBLE_TAPS_MIN_OUT_CHANNELS and kh * kw > 1

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.visible_taps_only:
            return visible_taps_conv2d(inputs, self.weight * self.mask, self.bias)
        return F.conv2d(inputs, self.weight * self.mask, self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mask_type={self.mask_type}, color_channels={self.color_channels}"


def visible_taps_conv2d(inputs: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """A "same"-padded masked convolution that multiplies only the taps its mask can leave visible.

    ``weight`` (out, in, kh, kw) is already masked: every tap below the centre row and right of the centre is
    zero. The result is that of ``F.conv2d(inputs, weight, bias, padding=(kh // 2, kw // 2))`` (equal up to the
    order of the sums), computed as two convolutions: the kh // 2 rows above, padded on top, and the centre row
    from kw // 2 left of the centre to the centre (whose channel-group mask stays in ``weight``), padded on the
    left; each extra output row or column of a symmetric padding is dropped. A 3×3 kernel multiplies 5 of its
    9 taps, a 7×7 one 25 of 49, a 1×3 one 2 of 3.

    Shape:
        (B, in, H, W) → (B, out, H, W).
    """
    height, width = inputs.shape[-2:]
    above, reach = weight.shape[2] // 2, weight.shape[3] // 2
    out = F.conv2d(inputs, weight[:, :, above:above + 1, :reach + 1], bias, padding=(0, reach))[..., :width]
    if above:  # output row i reads rows i − above … i − 1
        out = out + F.conv2d(inputs, weight[:, :, :above], None, padding=(above, reach))[..., :height, :]
    return out
