"""Gated PixelCNN: a vertical and a horizontal stack of gated convolutions, with no blind spot.

Reference: A. van den Oord, N. Kalchbrenner, O. Vinyals, L. Espeholt, A. Graves, K. Kavukcuoglu, *Conditional
Image Generation with PixelCNN Decoders*, NeurIPS 2016, §2.1 (gated activation), §2.2 (blind spot, Figure 2),
§2.3 (conditioning). With p = ``hidden_channels``, n = ``kernel_size`` (``first_kernel_size`` in layer 0):

    gated layer × num_layers                                   vertical v (p)        horizontal h (p)
        vertical:    (n//2+1)×n conv over rows i−n//2 … i      v → 2p  = a_v
        horizontal:  1×(n//2+1) conv over columns j−n//2 … j   h → 2p  = a_h  (mask A in layer 0, else B)
        link:        a_h += 1×1 conv (down_shift(a_v))        2p → 2p  (rows strictly above only)
        condition:   a_v, a_h += V·h(y)                        (``num_classes > 0``, per layer and stack)
        gate:        v' = tanh(a_v[:p]) ⊙ σ(a_v[p:]),  h' = h + 1×1 conv (tanh(a_h[:p]) ⊙ σ(a_h[p:]))
    ReLU → 1×1 conv, mask B                                    p → output_channels
    ReLU → 1×1 conv, mask B                                    output_channels → C·P   (P params per sub-pixel)

Layer 0 reads the image (C maps) in both stacks and has no residual addition (its input is not p maps wide).

Causality. The vertical stack's feature at row i covers rows ≤ i, the current row included, and widens to
both sides with depth; it reaches the horizontal stack only through ``down_shift`` (one row down), so the
horizontal stack gets exactly the rows strictly above: no current or future pixel, and no colour masks needed
on the vertical side or on the link. The horizontal stack reads only columns ≤ j of row i; its centre tap
and every 1×1 convolution at the same pixel (the residual 1×1, the output layers) split the feature maps into
C colour groups as in the PixelRNN paper (§3.4 there, :mod:`pixelrnn.nn.masked_conv`): group c sees the
groups before c (mask A) or up to c (mask B). The tanh and sigmoid halves of a gate are each grouped like the
p output maps, so the product keeps the groups. Together, sub-pixel c of pixel (i, j) sees every pixel before
(i, j) in raster order — the PixelCNN's blind spot is gone — and the sub-pixels of (i, j) before c.

Conditioning: the label enters every gate of both stacks as a per-layer bias, by the strategy
``config.conditioning`` (:mod:`pixelrnn.nn.conditioning`); ``onehot`` is the paper's V·h with h = onehot(y),
``embedding`` (the library default) and ``film`` are the library's other options.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pixelrnn.config import ModelConfig
from pixelrnn.errors import ConfigError
from pixelrnn.models.base import AutoregressiveImageModel, check_colour_groups, class_conditioning, output_layers
from pixelrnn.nn.masked_conv import MaskedConv2d, causal_mask
from pixelrnn.nn.shifted_conv import down_shift


def gate(pre_activations: torch.Tensor) -> torch.Tensor:
    """tanh(first half) ⊙ σ(second half): (B, 2p, H, W) → (B, p, H, W)."""
    filters, gates = pre_activations.chunk(2, dim=1)  # 2 × (B, p, H, W)
    return torch.tanh(filters) * torch.sigmoid(gates)


class VerticalConv(nn.Conv2d):
    """The vertical stack's (n//2+1)×n convolution: output (i, j) sees rows i − n//2 … i, columns j ± n//2.

    The current row is included, so its output may only be used down-shifted (:func:`down_shift`) by the
    horizontal stack; within the vertical stack it is harmless. Unmasked: every weight is used.

    Shape:
        (B, in_channels, H, W) → (B, out_channels, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__(in_channels, out_channels, (kernel_size // 2 + 1, kernel_size))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        reach = self.kernel_size[1] // 2
        padded = F.pad(inputs, (reach, reach, reach, 0))  # (B, in, H + n//2, W + 2·(n//2))
        return super().forward(padded)  # (B, out, H, W)


class HorizontalConv(nn.Conv2d):
    """The horizontal stack's 1×(n//2+1) convolution: output (i, j) sees row i, columns j − n//2 … j.

    The columns left of j are earlier pixels and fully visible; the last tap (column j itself) is a 1×1 mask
    of type A or B over colour groups, repeated for each of the ``chunks`` blocks of p output maps so that the
    tanh and the sigmoid half of a gate are both grouped like the gate's p outputs. For k = 2 (n = 3)::

        [ 1  c ]        c = input groups < output group (mask A) or <= (mask B); grey: c = 0 (A) or 1 (B)

    Shape:
        (B, in_channels, H, W) → (B, chunks·p, H, W).
    """

    def __init__(self, in_channels: int, p: int, kernel_size: int, mask_type: str, color_channels: int,
                 chunks: int = 2) -> None:
        width = kernel_size // 2 + 1
        super().__init__(in_channels, chunks * p, (1, width))
        centre = causal_mask(in_channels, p, 1, mask_type, color_channels)  # (p, in, 1, 1)
        mask = torch.ones(chunks * p, in_channels, 1, width)
        mask[:, :, :, -1:] = centre.repeat(chunks, 1, 1, 1)  # (chunks·p, in, 1, 1): each chunk like the p maps
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        padded = F.pad(inputs, (self.kernel_size[1] - 1, 0))  # (B, in, H, W + n//2): only left padding
        return F.conv2d(padded, self.weight * self.mask, self.bias)  # (B, chunks·p, H, W)


class GatedLayer(nn.Module):
    """One gated layer of both stacks (Figure 2 of the paper); see the module docstring.

    Args:
        in_channels: maps of both stacks' inputs (C in layer 0, else p).
        p: feature maps of each stack's output.
        kernel_size: odd n of the n×n receptive field.
        first: layer 0: horizontal mask A over the image, no residual addition.
        color_channels: colour groups of the horizontal stack's masks (1 or 3).

    Use ``pre_activations`` (where the caller may add the conditioning bias), then ``activate``.
    """

    def __init__(self, in_channels: int, p: int, kernel_size: int, first: bool, color_channels: int) -> None:
        super().__init__()
        self.first = first
        self.vertical = VerticalConv(in_channels, 2 * p, kernel_size)
        self.horizontal = HorizontalConv(in_channels, p, kernel_size, "A" if first else "B", color_channels)
        self.link = nn.Conv2d(2 * p, 2 * p, 1)  # unmasked: its input holds only the rows strictly above
        self.residual = MaskedConv2d(p, p, 1, "B", color_channels)

    def pre_activations(self, vertical: torch.Tensor, horizontal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gate inputs of both stacks: 2 × (B, in, H, W) → 2 × (B, 2p, H, W)."""
        a_vertical = self.vertical(vertical)  # (B, 2p, H, W), rows ≤ i
        a_horizontal = self.horizontal(horizontal) + self.link(down_shift(a_vertical))  # (B, 2p, H, W)
        return a_vertical, a_horizontal

    def activate(self, a_vertical: torch.Tensor, a_horizontal: torch.Tensor,
                 horizontal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gated outputs of both stacks (B, p, H, W); ``horizontal`` is the layer's horizontal input."""
        update = self.residual(gate(a_horizontal))  # (B, p, H, W)
        return gate(a_vertical), update if self.first else horizontal + update


class GatedPixelCNN(AutoregressiveImageModel):
    """The Gated PixelCNN of the paper (§2.1–2.3, Figure 2); see the module docstring for the layer list.

    Args:
        config: uses ``image_channels``, ``num_levels``, ``num_classes``, ``conditioning``, ``hidden_channels``
            (p, maps of each stack), ``num_layers`` (gated layers), ``kernel_size`` (n), ``first_kernel_size``
            (layer 0's n, 7 in the paper) and ``output_channels``.

    Raises:
        ConfigError: p or ``output_channels`` smaller than the number of colour channels, or an even kernel.
    """

    config_fields = ("kernel_size", "first_kernel_size", "output_channels")
    presets = {
        # The ImageNet model of the paper's Table 2: "20 layers (Figure 2), each of which has 384 hidden units and
        # filter size of 5 × 5"; the 7×7 first layer and the 1024 output maps follow the PixelCNN's. The paper
        # conditions with V·onehot(y).
        "gated-pixelcnn-imagenet": {"hidden_channels": 384, "num_layers": 20, "kernel_size": 5,
                                    "first_kernel_size": 7, "output_channels": 1024, "conditioning": "onehot"},
        # The CIFAR-10 row of its Table 1 (3.03 bits/dim) comes without a size: guessed, not the paper's. The
        # ImageNet model's depth and filters (20 layers, 5×5), the width of the PixelRNN paper's CIFAR-10 residual
        # stream (2h = 256 maps), and its 1024 output maps.
        "gated-pixelcnn-cifar10": {"hidden_channels": 256, "num_layers": 20, "kernel_size": 5,
                                   "first_kernel_size": 7, "output_channels": 1024, "conditioning": "onehot"},
        # Ours: minutes on a CPU on the 8×8 digits.
        "gated-pixelcnn-small": {"hidden_channels": 16, "num_layers": 4, "kernel_size": 3, "first_kernel_size": 7,
                                 "output_channels": 32, "conditioning": "onehot"},
    }

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        colors, p = config.image_channels, config.hidden_channels
        check_colour_groups(config, "Gated PixelCNN")
        for field_name in ("kernel_size", "first_kernel_size"):
            if getattr(config, field_name) < 1 or getattr(config, field_name) % 2 == 0:
                raise ConfigError(f"Gated PixelCNN {field_name} must be odd, got {getattr(config, field_name)}")
        self.layers = nn.ModuleList([
            GatedLayer(colors if index == 0 else p, p,
                       config.first_kernel_size if index == 0 else config.kernel_size, index == 0, colors)
            for index in range(config.num_layers)
        ])
        self.conditioning = class_conditioning(config, [2 * p] * (2 * config.num_layers))  # vertical, horizontal
        self.output = output_layers(p, config, self.head.num_params(colors))

    def network(self, inputs: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Gated stacks: float (B, C, H, W) → (B, C·P, H, W) distribution parameters."""
        codes = self.class_codes(y)
        vertical = horizontal = inputs  # (B, C, H, W): both stacks start from the image
        for index, layer in enumerate(self.layers):
            a_vertical, a_horizontal = layer.pre_activations(vertical, horizontal)  # 2 × (B, 2p, H, W)
            if codes is not None:  # constant over the image: V·h inside every gate of both stacks
                a_vertical = self.conditioning.apply(a_vertical, 2 * index, codes)
                a_horizontal = self.conditioning.apply(a_horizontal, 2 * index + 1, codes)
            vertical, horizontal = layer.activate(a_vertical, a_horizontal, horizontal)  # 2 × (B, p, H, W)
        return self.output(horizontal)  # (B, C·P, H, W)
