"""PixelCNN++ network: shifted convolutions, gated ResNet blocks and a three-resolution U-Net.

Reference: T. Salimans, A. Karpathy, X. Chen, D. P. Kingma, *PixelCNN++: Improving the PixelCNN with Discretized
Logistic Mixture Likelihood and Other Modifications*, ICLR 2017, §2, modifications 2)–5) of its abstract: the
network conditions on whole pixels (the colour dependence lives in the output head), downsampling instead of dilated
convolutions, short-cut connections, dropout; layer order as in the authors' code (openai/pixel-cnn,
pixel_cnn_pp/model.py).

Two streams replace masked convolutions: u (vertical) sees only the rows above a pixel, ul (horizontal) the rows
above and the pixels to its left. Causality comes from padding on the top/left before a VALID convolution and from
one-pixel shifts of the first layer, so output (i, j) never sees any channel of pixel (i, j). F = ``filters``,
R = ``blocks_per_stage``; every line is (B, channels, height, width):

    [x, 1]                                              (B, C+1, H, W)   a ones channel tells data from padding
    u  = down_shift(DS 2×3)                             (B, F, H, W)
    ul = down_shift(DS 1×3) + right_shift(DRS 2×1)      (B, F, H, W)
    down: R × block → DS/DRS stride 2 → R × block → DS/DRS stride 2 → R × block
          H×W, then H/2×W/2, then H/4×W/4; the ul block also reads u; all 3R + 3 (u, ul) pairs are stored
    up:   R × block → DS/DRS-transposed stride 2 → (R+1) × block → transposed stride 2 → (R+1) × block
          H/4, H/2, H; each block pops the latest stored pair: the u block reads nin(stored u), the ul block
          nin([u, stored ul]), so the U-Net shortcuts join equal resolutions
    ELU → 1×1 conv on ul                                (B, out_channels, H, W)

DS: down-shifted conv (pad kh − 1 rows on top, (kw − 1)/2 columns on both sides); DRS: down-right-shifted conv
(pad kh − 1 rows on top, kw − 1 columns on the left). A block is a gated ResNet with concat_elu and dropout.
Receptive field: bounded. For odd i the downsampled stages bring nothing of row i, nor of row i − 1 to the right of
(i, j), so output (i, j) reaches only 4R + 2 columns back along row i and forward along row i − 1 (22 for R = 5, less
than a 32-wide image; the reference's layer order has the same bound).

Initialisation: plain PyTorch init, the second convolution of every block scaled by 0.1 (the reference's
``init_scale``). With ``weight_norm`` every convolution, transposed convolution and 1×1 layer is weight-normalised
as in the reference (:mod:`pixelrnn.nn.weight_norm`); the data-dependent initialisation that goes with it is
:meth:`pixelrnn.models.pixelcnn_pp.PixelCNNPlusPlus.initialize_from_data`, which the trainer runs on a new run.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pixelrnn.errors import ConfigError, DataError
from pixelrnn.nn.conditioning import ClassConditioning
from pixelrnn.nn.weight_norm import weight_normalise

NUM_STAGES = 3  # full, 1/2 and 1/4 resolution
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
        self.dropout = nn.Dropout(dropout)
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


class PixelCNNPlusPlusNetwork(nn.Module):
    """The PixelCNN++ network (see the module docstring): float images → per-pixel head parameters.

    Args:
        image_channels: C of the input images.
        out_channels: parameters per pixel for the head (100 for 10 logistic mixtures of RGB images).
        filters: F, the width of both streams (160 in the paper).
        blocks_per_stage: R, gated ResNet blocks per resolution on the way down (5 in the paper).
        dropout: drop probability inside every block (0.5 in the paper for CIFAR-10).
        num_classes: K > 0 makes the network class-conditional (labels y in [0, K − 1]).
        conditioning: how the label enters every block (:mod:`pixelrnn.nn.conditioning`); the paper adds a
            learned per-block bias (``embedding``/``onehot``).
        weight_norm: weight-normalise every layer of :meth:`convolutions` (the reference does; the label's
            conditioning layers are not, as there).

    Raises:
        ConfigError: a size below 1, ``num_classes`` < 0 or ``dropout`` outside [0, 1).
    """

    def __init__(self, image_channels: int, out_channels: int, filters: int = 160, blocks_per_stage: int = 5,
                 dropout: float = 0.5, num_classes: int = 0, conditioning: str = "embedding",
                 weight_norm: bool = False) -> None:
        super().__init__()
        _validate(image_channels=image_channels, out_channels=out_channels, filters=filters,
                  blocks_per_stage=blocks_per_stage, dropout=dropout, num_classes=num_classes)
        self.image_channels, self.num_classes = image_channels, num_classes
        f, r = filters, blocks_per_stage
        self.u_input = DownShiftedConv2d(image_channels + 1, f, (2, 3))
        self.ul_input_above = DownShiftedConv2d(image_channels + 1, f, (1, 3))
        self.ul_input_left = DownRightShiftedConv2d(image_channels + 1, f, (2, 1))

        made = []

        def blocks(count: int, conv: type[nn.Module], shortcut: int) -> nn.ModuleList:
            first = len(made)  # the blocks' indices in the conditioning
            made.extend([GatedResnet(f, conv, shortcut, dropout, first + index) for index in range(count)])
            return nn.ModuleList(made[-count:])

        self.down_u = nn.ModuleList([blocks(r, DownShiftedConv2d, 0) for _ in range(NUM_STAGES)])
        self.down_ul = nn.ModuleList([blocks(r, DownRightShiftedConv2d, f) for _ in range(NUM_STAGES)])
        self.downsample_u = nn.ModuleList([DownShiftedConv2d(f, f, (2, 3), 2) for _ in range(NUM_STAGES - 1)])
        self.downsample_ul = nn.ModuleList([DownRightShiftedConv2d(f, f, (2, 2), 2) for _ in range(NUM_STAGES - 1)])
        self.up_u = nn.ModuleList([blocks(n, DownShiftedConv2d, f) for n in (r, r + 1, r + 1)])
        self.up_ul = nn.ModuleList([blocks(n, DownRightShiftedConv2d, 2 * f) for n in (r, r + 1, r + 1)])
        self.upsample_u = nn.ModuleList([DownShiftedConvTranspose2d(f, f) for _ in range(NUM_STAGES - 1)])
        self.upsample_ul = nn.ModuleList([DownRightShiftedConvTranspose2d(f, f) for _ in range(NUM_STAGES - 1)])
        self.output = nn.Sequential(nn.ELU(), nn.Conv2d(f, out_channels, 1))
        self.conditioning = (ClassConditioning(num_classes, [2 * f] * len(made), conditioning, embedding_dim=f)
                             if num_classes else None)
        if weight_norm:
            for layer, _ in self.convolutions():
                weight_normalise(layer)

    def convolutions(self) -> list[tuple[nn.Conv2d | nn.ConvTranspose2d, float]]:
        """Every convolution, transposed convolution and 1×1 layer with its init scale for the data-dependent
        initialisation: 0.1 for each block's second convolution, else 1.0 (the reference's ``init_scale``)."""
        second = {id(block.conv_out.conv) for block in self.modules() if isinstance(block, GatedResnet)}
        return [(layer, SECOND_CONV_INIT_SCALE if id(layer) in second else 1.0) for layer in self.modules()
                if isinstance(layer, nn.Conv2d | nn.ConvTranspose2d)]

    def forward(self, inputs: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Head parameters of every pixel given the pixels before it in raster order.

        Args:
            inputs: float (B, C, H, W) images scaled to [−1, 1]; H and W divisible by 4.
            y: int64 (B,) class labels, given if and only if ``num_classes`` > 0.

        Returns:
            (B, out_channels, H, W); output (i, j) depends only on input pixels strictly before (i, j).

        Raises:
            ConfigError: H or W not divisible by 4, labels given to an unconditional network or missing.
            DataError: inputs that are not (B, C, H, W) with C = ``image_channels``, or labels not (B,).
        """
        self._check_inputs(inputs, y)
        ones = inputs.new_ones(inputs.shape[0], 1, *inputs.shape[2:])  # (B, 1, H, W)
        padded = torch.cat([inputs, ones], dim=1)  # (B, C+1, H, W)
        u = down_shift(self.u_input(padded))  # (B, F, H, W): rows above only
        ul = down_shift(self.ul_input_above(padded)) + right_shift(self.ul_input_left(padded))  # (B, F, H, W)
        condition = (self.conditioning, self.conditioning(y)) if self.conditioning is not None else None
        stored = self._down_pass(u, ul, condition)
        return self.output(self._up_pass(stored, condition))  # (B, out_channels, H, W)

    def _down_pass(self, u: torch.Tensor, ul: torch.Tensor,
                   y: tuple[ClassConditioning, torch.Tensor] | None) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Full → 1/4 resolution; returns every (u, ul) pair for the shortcut connections (3R + 3 of them)."""
        stored = [(u, ul)]
        for stage in range(NUM_STAGES):
            if stage:
                u = self.downsample_u[stage - 1](u)  # (B, F, H/2^stage, W/2^stage)
                ul = self.downsample_ul[stage - 1](ul)  # (B, F, H/2^stage, W/2^stage)
                stored.append((u, ul))
            for u_block, ul_block in zip(self.down_u[stage], self.down_ul[stage], strict=True):
                u = u_block(u, None, y)
                ul = ul_block(ul, u, y)
                stored.append((u, ul))
        return stored

    def _up_pass(self, stored: list[tuple[torch.Tensor, torch.Tensor]],
                 y: tuple[ClassConditioning, torch.Tensor] | None) -> torch.Tensor:
        """1/4 → full resolution, consuming the stored pairs last-in first-out; returns ul (B, F, H, W)."""
        u, ul = stored.pop()
        for stage in range(NUM_STAGES):
            if stage:
                u = self.upsample_u[stage - 1](u)  # (B, F, H/2^(2−stage), W/2^(2−stage))
                ul = self.upsample_ul[stage - 1](ul)
            for u_block, ul_block in zip(self.up_u[stage], self.up_ul[stage], strict=True):
                skip_u, skip_ul = stored.pop()
                u = u_block(u, skip_u, y)
                ul = ul_block(ul, torch.cat([u, skip_ul], dim=1), y)  # shortcut (B, 2F, h, w)
        if stored:
            raise RuntimeError(f"{len(stored)} stored activations were not used")  # a bug, never user input
        return ul

    @staticmethod
    def check_image_size(height: int, width: int) -> None:
        """ConfigError unless H and W are divisible by 4 (two downsamplings by 2)."""
        if height % 4 or width % 4:
            raise ConfigError(f"PixelCNN++ downsamples twice by 2: image height and width must be divisible by 4, "
                              f"got {height}×{width}")

    def _check_inputs(self, inputs: torch.Tensor, y: torch.Tensor | None) -> None:
        if inputs.dim() != 4 or inputs.shape[1] != self.image_channels:
            raise DataError(f"PixelCNN++ expects (B, {self.image_channels}, H, W) inputs, got {tuple(inputs.shape)}")
        self.check_image_size(*inputs.shape[-2:])
        if self.num_classes == 0 and y is not None:
            raise ConfigError("the PixelCNN++ network is unconditional (num_classes = 0): do not pass labels y")
        if self.num_classes > 0 and y is None:
            raise ConfigError(f"the PixelCNN++ network is conditioned on {self.num_classes} classes: pass labels y")
        if y is not None and tuple(y.shape) != (inputs.shape[0],):
            raise DataError(f"labels must have shape ({inputs.shape[0]},), got {tuple(y.shape)}")


def _validate(*, dropout: float, num_classes: int, **sizes: int) -> None:
    for name, value in sizes.items():
        if value < 1:
            raise ConfigError(f"PixelCNN++ {name} must be at least 1, got {value}")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"PixelCNN++ dropout must be in [0, 1), got {dropout}")
    if num_classes < 0:
        raise ConfigError(f"PixelCNN++ num_classes must be >= 0, got {num_classes}")
