"""PixelCNN: a stack of masked convolutions with residual blocks.

Reference: A. van den Oord, N. Kalchbrenner, K. Kavukcuoglu, *Pixel Recurrent Neural Networks*, ICML 2016,
§3.5 ("PixelCNN"), §3.3 and Figure 5 (residual block), §3.4 (masks) and Table 1 (architecture):

    7×7 conv, mask A                        C → 2h
    residual block × num_layers:            2h → 2h
        ReLU → 1×1 conv, mask B             2h → h
        ReLU → k×k conv, mask B (k = 3)     h → h
        ReLU → 1×1 conv, mask B             h → 2h      (+ the block's input)
    ReLU → 1×1 conv, mask B                 2h → output_channels
    ReLU → 1×1 conv, mask B                 output_channels → C·P   (P logits per sub-pixel)

Every convolution splits its feature maps into C colour groups, so sub-pixel c of pixel (i, j) is predicted
from the pixels before (i, j) and the sub-pixels of (i, j) before c. Unlike the PixelRNNs, the PixelCNN has a
bounded receptive field with a blind spot: pixels far to the right in the rows just above are never seen
(fixed by the Gated PixelCNN's two stacks).

Skip connections (``skip_connections``): §3.3 describes learnable connections from every layer to the output,
and §4 ("Specifications of Models") says residual and layer-to-output connections are used across the layers of
all three networks, the PixelCNN included: each block's output goes through its own 1×1 mask-B convolution
2h → 2h, and their sum replaces the last block's output as the input of the output layers (as in
:mod:`pixelrnn.models.pixelrnn`). The paper presets turn them on. ``residual_connections`` off drops the
``+ the block's input`` of every block (the ablation of the paper's Table 2).

``block_type = "plain"`` replaces each residual block by a plain layer, ReLU → k×k mask-B convolution 2h → 2h:
the stack of the MNIST lab (preset ``pixelcnn-lab``: 7×7 mask A into 64 maps, five 7×7 mask-B layers of 64).

Class conditioning (``num_classes > 0``): the label enters the 2h maps after the input layer and after every
residual block, by the strategy ``config.conditioning`` (:mod:`pixelrnn.nn.conditioning`).
"""

from __future__ import annotations

import torch
from torch import nn

from pixelrnn.config import ModelConfig, ModelField
from pixelrnn.models.base import AutoregressiveImageModel, check_colour_groups, class_conditioning, output_layers
from pixelrnn.models.presets import PAPER_CONNECTIONS, PAPER_TRAINING
from pixelrnn.nn.masked_conv import MaskedConv2d

BLOCKS = ("residual", "plain")  # the layers of block_type
MODEL_FIELDS = (
    ModelField("block_type", str, "residual", "the PixelCNN's layers: the paper's residual bottleneck blocks (§3.5, "
               "Figure 5), or plain ReLU → k×k mask-B convolutions 2h → 2h (a stack like the MNIST lab's)",
               choices=BLOCKS, label="PixelCNN block type"),
)


class PlainBlock(nn.Module):
    """A plain layer: ReLU → k×k mask-B convolution 2h → 2h (no bottleneck, no residual connection).

    Shape:
        (B, 2h, H, W) → (B, 2h, H, W).
    """

    def __init__(self, hidden_channels: int, kernel_size: int, color_channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.ReLU(), MaskedConv2d(2 * hidden_channels, 2 * hidden_channels, kernel_size,
                                                          "B", color_channels))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.body(inputs)


class ResidualBlock(nn.Module):
    """Figure 5 (right) of the paper: a bottleneck of mask-B convolutions added once to its input.

    Args:
        hidden_channels: h; the block's input and output carry 2h feature maps.
        kernel_size: odd spatial size of the middle convolution.
        color_channels: colour groups of the masks (1 or 3).
        residual: add the block's input to its output (off only for the ablation of the paper's Table 2).

    Shape:
        (B, 2h, H, W) → (B, 2h, H, W).
    """

    def __init__(self, hidden_channels: int, kernel_size: int, color_channels: int, residual: bool = True) -> None:
        super().__init__()
        h = hidden_channels
        self.residual = residual
        self.body = nn.Sequential(
            nn.ReLU(),
            MaskedConv2d(2 * h, h, 1, "B", color_channels),
            nn.ReLU(),
            MaskedConv2d(h, h, kernel_size, "B", color_channels),
            nn.ReLU(),
            MaskedConv2d(h, 2 * h, 1, "B", color_channels),
        )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        update = self.body(inputs)  # (B, 2h, H, W)
        return inputs + update if self.residual else update


class PixelCNN(AutoregressiveImageModel):
    """The PixelCNN of the paper (§3.5, Table 1); see the module docstring for the layer list.

    Args:
        config: uses ``image_channels``, ``num_levels``, ``num_classes``, ``hidden_channels`` (h),
            ``num_layers`` (blocks), ``kernel_size``, ``first_kernel_size``, ``output_channels``,
            ``skip_connections``, ``residual_connections`` and ``block_type`` (residual blocks, or plain layers).

    Raises:
        ConfigError: h or ``output_channels`` smaller than the number of colour channels (every colour
            group needs at least one feature map).
    """

    model_fields = MODEL_FIELDS
    config_fields = ("kernel_size", "first_kernel_size", "output_channels", "skip_connections",
                     "residual_connections")
    presets = {
        # The paper's CIFAR-10 PixelCNN (van den Oord et al. 2016, §4 "Specifications of Models"): "The PixelCNN
        # has 15 layers and h = 128"; 3×3 mask-B convolutions after the 7×7 mask-A input layer; the two ReLU +
        # 1×1 output layers "have 1024 feature maps" for CIFAR-10 and ImageNet. We read the 15 layers as 15
        # residual blocks, as the 12 "layers" of the PixelRNNs count recurrent layers. 2h = 256 and 1024 maps are
        # not multiples of 3: the colour groups are then contiguous and as equal as possible (86/85/85).
        "pixelcnn-cifar10": {"hidden_channels": 128, "num_layers": 15, "kernel_size": 3, "first_kernel_size": 7,
                             "output_channels": 1024, **PAPER_CONNECTIONS},
        # Binarized-MNIST scale. The paper lists a PixelCNN on binarized MNIST (81.30 nats, Table 4) without its
        # size: ours, not the paper's. Its one specified MNIST model is the Diagonal BiLSTM "with 7 layers and a
        # value of h = 16", whose output layers "have 32 feature maps" (§4); we give the PixelCNN the same sizes.
        "pixelcnn-mnist": {"hidden_channels": 16, "num_layers": 7, "kernel_size": 3, "first_kernel_size": 7,
                           "output_channels": 32, **PAPER_CONNECTIONS},
        # Ours, not the paper's: trains in a minute or two on a CPU on the 8×8 digits (17 levels).
        "pixelcnn-small": {"hidden_channels": 16, "num_layers": 4, "kernel_size": 3, "first_kernel_size": 7,
                           "output_channels": 32},
        # The MNIST lab's PixelCNN (the seed project's teaching lab): a 7×7 mask-A layer into 64 maps, then five
        # plain 7×7 mask-B layers of 64 maps; its sigmoid + BCE output is our Bernoulli head. Ours: the two 1×1
        # output layers (64 maps) that every model of this library ends with.
        "pixelcnn-lab": {"hidden_channels": 32, "num_layers": 5, "kernel_size": 7, "first_kernel_size": 7,
                         "output_channels": 64, "block_type": "plain", "skip_connections": False,
                         "residual_connections": False},
        # Ours, for tests and smoke runs: the smallest PixelCNN that still has every kind of layer (h = 6 gives
        # each of R, G, B two feature maps in the bottleneck).
        "pixelcnn-tiny": {"hidden_channels": 6, "num_layers": 1, "kernel_size": 3, "first_kernel_size": 7,
                          "output_channels": 12},
    }
    preset_training = {"pixelcnn-cifar10": PAPER_TRAINING, "pixelcnn-mnist": PAPER_TRAINING}

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        colors, h = config.image_channels, config.hidden_channels
        check_colour_groups(config, "PixelCNN")
        self.input_conv = MaskedConv2d(colors, 2 * h, config.first_kernel_size, "A", colors)
        self.conditioning = class_conditioning(config, [2 * h] * (config.num_layers + 1))
        self.blocks = nn.ModuleList([
            PlainBlock(h, config.kernel_size, colors) if config.block_type == "plain" else
            ResidualBlock(h, config.kernel_size, colors, config.residual_connections)
            for _ in range(config.num_layers)])
        self.skips = (nn.ModuleList([MaskedConv2d(2 * h, 2 * h, 1, "B", colors) for _ in range(config.num_layers)])
                      if config.skip_connections else None)
        self.output = output_layers(2 * h, config, self.head.num_params(colors))

    def network(self, inputs: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Masked network: float (B, C, H, W) → (B, C·P, H, W) distribution parameters."""
        codes = self.class_codes(y)
        features = self.input_conv(inputs)  # (B, 2h, H, W)
        skipped = 0
        for index, block in enumerate([None, *self.blocks]):
            features = features if block is None else block(features)  # (B, 2h, H, W)
            if codes is not None:
                features = self.conditioning.apply(features, index, codes)  # constant over the image
            if self.skips is not None and block is not None:
                skipped = skipped + self.skips[index - 1](features)  # (B, 2h, H, W)
        return self.output(features if self.skips is None else skipped)  # (B, C·P, H, W)
