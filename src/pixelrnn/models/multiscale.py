"""Multi-Scale PixelRNN (van den Oord et al., ICML 2016, §3.6): a small image first, then the rest given it.

The s×s small image keeps every f-th row and column of the n×n image (s = n / f, f = ``subsample_factor``):
the pixels (f·a, f·b), the top-left pixel of every f×f block. An unconditional PixelRNN models the small image;
a second PixelRNN models the full image given it, the small image being upsampled (a 3×3 convolution and an
f×f stride-f transposed convolution, ReLUs) to a 2h × n × n map that biases the gates of every recurrent layer.

Exact likelihood. The small image is a subset of the pixels, so
``log p(x) = log p_small(x_grid) + Σ_{pixels off the grid} log p_large(x_ij | x_<ij, x_grid)``: the conditional
model scores only the pixels it generates. The network returns one parameter tensor in which the grid
positions hold the small model's parameters and the others the conditional model's, so the output head scores
an image exactly as for any other model. The generation order is the grid's pixels first (in raster order),
then the other pixels in raster order (:meth:`MultiScalePixelRNN.pixel_order`); the sampler and the causality
test follow it.

Both halves share the architecture fields of the config (layer type, cell, h, layers, skips).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from pixelrnn.config import ModelConfig, ModelField
from pixelrnn.errors import ConfigError
from pixelrnn.models.base import AutoregressiveImageModel
from pixelrnn.models.pixelrnn import PixelRNN


def _check_factor(config: ModelConfig) -> None:
    if config.subsample_factor < 2:
        raise ConfigError(f"subsample_factor must be at least 2, got {config.subsample_factor}")


SUBSAMPLE_FACTOR = ModelField("subsample_factor", int, 2, "the small image keeps every f-th row and column (§3.6)",
                              check=_check_factor)


class MultiScalePixelRNN(AutoregressiveImageModel):
    """§3.6 of the paper; see the module docstring.

    Args:
        config: a PixelRNN config plus ``subsample_factor`` f, which must divide the image height and width.

    Attributes:
        small_model: the unconditional PixelRNN of the (C, H/f, W/f) small image.
        large_model: the PixelRNN of the full image, conditioned on the upsampled small image.
    """

    model_fields = (*PixelRNN.model_fields, SUBSAMPLE_FACTOR)
    config_fields = PixelRNN.config_fields
    training_defaults = PixelRNN.training_defaults
    presets = {  # ours: two small Diagonal BiLSTMs (8×8 digits: a 4×4 image, then the rest)
        "multiscale-pixelrnn-small": {"recurrent_layer": "diagonal_bilstm", "hidden_channels": 16, "num_layers": 2,
                                      "kernel_size": 3, "first_kernel_size": 7, "output_channels": 32,
                                      "subsample_factor": 2},
    }

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        factor, (colors, height, width) = config.subsample_factor, config.image_shape
        if height % factor or width % factor:
            raise ConfigError(f"subsample_factor {factor} must divide the image size {height}×{width}")
        pixelrnn = dataclasses.replace(config, name="pixelrnn")
        self.small_model = PixelRNN(dataclasses.replace(pixelrnn, image_height=height // factor,
                                                        image_width=width // factor))
        condition_channels = 2 * config.hidden_channels
        self.upsample = nn.Sequential(
            nn.Conv2d(colors, condition_channels, 3, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(condition_channels, condition_channels, factor, stride=factor),
            nn.ReLU(),
        )
        self.large_model = PixelRNN(pixelrnn, condition_channels=condition_channels)
        grid = torch.zeros(1, 1, height, width, dtype=torch.bool)
        grid[..., ::factor, ::factor] = True
        self.register_buffer("grid", grid, persistent=False)  # (1, 1, H, W): the small image's pixels

    def subsample(self, images: torch.Tensor) -> torch.Tensor:
        """The small image: (B, C, H, W) → (B, C, H/f, W/f), every f-th row and column from the first."""
        factor = self.config.subsample_factor
        return images[..., ::factor, ::factor]

    def network(self, inputs: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Float (B, C, H, W) → (B, C·P, H, W): small-model parameters on the grid, conditional ones elsewhere."""
        factor = self.config.subsample_factor
        small = self.subsample(inputs)  # (B, C, H/f, W/f)
        large_params = self.large_model.network(inputs, y, self.upsample(small))  # (B, C·P, H, W)
        small_params = self.small_model.network(small, y)  # (B, C·P, H/f, W/f)
        spread = small_params.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)  # (B, C·P, H, W)
        return torch.where(self.grid, spread, large_params)  # grid (1, 1, H, W) broadcast over B and C·P

    def pixel_order(self) -> list[tuple[int, int]]:
        """The grid's pixels in raster order, then every other pixel in raster order."""
        _, height, width = self.config.image_shape
        factor = self.config.subsample_factor
        raster = [(row, col) for row in range(height) for col in range(width)]
        on_grid = [(row, col) for row, col in raster if row % factor == 0 and col % factor == 0]
        return on_grid + [(row, col) for row, col in raster if row % factor or col % factor]
