"""Incremental PixelCNN and Gated PixelCNN: every layer's activation at (i, j) is computed once, from caches.

A masked convolution's output at (i, j) reads only positions at or before (i, j) of its input, all cached by
then, so each layer costs one kernel window per pixel (Fast Generation for Convolutional Autoregressive Models,
Ramachandran et al., 2017, in its simplest form: full activation maps as the caches).

- PixelCNN: per residual block, the map that feeds its k×k convolution is cached (per plain layer, its ReLU'd
  input).
- Gated PixelCNN: the horizontal stack is computed at (i, j); the vertical stack of row i — whose convolution
  also reads pixels to the right of j in row i — is computed for the whole row once the row is finished
  (:meth:`GatedPixelCNNStepper.end_row`), and read down-shifted, from row i − 1, as the model does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pixelrnn.models.gated_pixelcnn import GatedPixelCNN, gate
from pixelrnn.models.pixelcnn import PixelCNN, PlainBlock
from pixelrnn.sampling.steppers.common import Convolutions, Stepper, conv_weight, window, zero_maps


def _rows(model: torch.nn.Module, images: torch.Tensor, first: int, last: int, dtype: torch.dtype) -> torch.Tensor:
    """Rows [first, last) of the preprocessed image (clipped to the image): (B, C, ≤ last − first, W)."""
    return model.preprocess(images[:, :, max(first, 0):last]).to(dtype)


class PixelCNNStepper(Stepper):
    """Incremental evaluation of a :class:`PixelCNN`."""

    steps = PixelCNN

    def __init__(self, model: PixelCNN, batch: int, labels: torch.Tensor | None = None) -> None:
        self.model, self.convs = model, Convolutions()
        h = model.config.hidden_channels
        # what each block's k×k convolution reads: h maps in a residual block, 2h in a plain layer
        self.middle = [zero_maps(model, batch, 2 * h if isinstance(block, PlainBlock) else h)
                       for block in model.blocks]
        self.codes = model.class_codes(labels)
        self.reach = model.input_conv.kernel_size[0] // 2

    def params_at(self, images: torch.Tensor, row: int, col: int) -> torch.Tensor:
        model, convs = self.model, self.convs
        first = max(row - self.reach, 0)
        rows = _rows(model, images, first, row + self.reach + 1, self.middle[0].dtype)
        features = self._condition(convs.at(model.input_conv, rows, row - first, col), 0)  # (B, 2h)
        skipped = 0
        for index, block in enumerate(model.blocks):
            features = self._condition(self._block_at(index, block, features, row, col), index + 1)  # (B, 2h)
            if model.skips is not None:
                skipped = skipped + convs.pointwise(model.skips[index], features)
        return convs.sequential(model.output, features if model.skips is None else skipped)  # (B, C·P)

    def _block_at(self, index: int, block: torch.nn.Module, features: torch.Tensor, row: int, col: int) -> torch.Tensor:
        """Block ``index``'s output (B, 2h) at (row, col) from its input ``features`` (B, 2h) there."""
        convs = self.convs
        if isinstance(block, PlainBlock):
            _, spatial = block.body  # ReLU, k×k
            self.middle[index][:, :, row, col] = F.relu(features)
            return convs.at(spatial, self.middle[index], row, col)
        _, squeeze, _, spatial, _, expand = block.body  # ReLU, 1×1, ReLU, k×k, ReLU, 1×1
        self.middle[index][:, :, row, col] = F.relu(convs.pointwise(squeeze, F.relu(features)))
        update = convs.pointwise(expand, F.relu(convs.at(spatial, self.middle[index], row, col)))  # (B, 2h)
        return features + update if block.residual else update


class GatedPixelCNNStepper(Stepper):
    """Incremental evaluation of a :class:`GatedPixelCNN`."""

    steps = GatedPixelCNN

    def __init__(self, model: GatedPixelCNN, batch: int, labels: torch.Tensor | None = None) -> None:
        self.model, self.convs = model, Convolutions()
        p, colors = model.config.hidden_channels, model.config.image_channels
        self.horizontal = [zero_maps(model, batch, colors if index == 0 else p) for index in range(len(model.layers))]
        self.vertical = [zero_maps(model, batch, colors if index == 0 else p) for index in range(len(model.layers))]
        self.a_vertical = [zero_maps(model, batch, 2 * p) for _ in model.layers]  # before conditioning, as the link
        self.codes = model.class_codes(labels)
        self.images = None

    def params_at(self, images: torch.Tensor, row: int, col: int) -> torch.Tensor:
        convs, dtype = self.convs, self.a_vertical[0].dtype
        self.images = images
        self.horizontal[0][:, :, row] = _rows(self.model, images, row, row + 1, dtype)[:, :, 0]  # (B, C, W)
        features = None
        for index, layer in enumerate(self.model.layers):
            taps = layer.horizontal.kernel_size[1]
            a_horizontal = convs.at(layer.horizontal, self.horizontal[index], row, col, corner=(row, col - taps + 1))
            above = window(self.a_vertical[index], (row - 1, row), (col, col + 1))[:, :, 0, 0]  # down-shifted
            a_horizontal = self._condition(a_horizontal + convs.pointwise(layer.link, above), 2 * index + 1)
            update = convs.pointwise(layer.residual, gate(a_horizontal[:, :, None, None])[:, :, 0, 0])  # (B, p)
            features = update if layer.first else self.horizontal[index][:, :, row, col] + update
            if index + 1 < len(self.model.layers):
                self.horizontal[index + 1][:, :, row, col] = features
        return convs.sequential(self.model.output, features)  # (B, C·P)

    def end_row(self, row: int) -> None:
        """The vertical stack of the finished row, every layer, all columns at once."""
        self.vertical[0][:, :, row] = _rows(self.model, self.images, row, row + 1, self.a_vertical[0].dtype)[:, :, 0]
        for index, layer in enumerate(self.model.layers):
            kh, kw = layer.vertical.kernel_size
            width = self.vertical[index].shape[-1]
            rows = window(self.vertical[index], (row - kh + 1, row + 1), (-(kw // 2), width + kw // 2))
            a_vertical = F.conv2d(rows, conv_weight(layer.vertical), layer.vertical.bias)  # (B, 2p, 1, W)
            self.a_vertical[index][:, :, row] = a_vertical[:, :, 0]
            if index + 1 < len(self.model.layers):
                conditioned = a_vertical if self.codes is None else self.model.conditioning.apply(
                    a_vertical, 2 * index, self.codes)
                self.vertical[index + 1][:, :, row] = gate(conditioned)[:, :, 0]  # (B, p, W)
