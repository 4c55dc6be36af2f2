"""PixelRNN: a stack of Row LSTM or Diagonal BiLSTM layers with residual connections.

Reference: A. van den Oord, N. Kalchbrenner, K. Kavukcuoglu, *Pixel Recurrent Neural Networks*, ICML 2016,
§3.1 (Row LSTM), §3.2 (Diagonal BiLSTM), §3.3 (residual and skip connections), §3.4 (masks), Table 1::

    7×7 conv, mask A                                   C → 2h
    recurrent layer × num_layers, each residual:       2h → 2h
        Row LSTM or Diagonal BiLSTM (LSTM or GRU cell)  2h → h
        1×1 conv, mask B                               h → 2h      (+ the layer's input)
    [skip connections: Σ over layers of a 1×1 mask-B conv of each layer's output]
    ReLU → 1×1 conv, mask B                            2h → output_channels
    ReLU → 1×1 conv, mask B                            output_channels → C·P   (P logits per sub-pixel)

Row LSTM and Diagonal BiLSTM are one model: ``ModelConfig.recurrent_layer`` picks the layer, ``cell`` the
recurrent cell (the paper's LSTM, or a GRU), ``skip_connections`` adds §3.3's learnable skip connections (the
sum of the layers' projected outputs replaces the last layer's output as the input of the output layers; §4 uses
them in all three networks, Table 2: 3.06 bits/dim with them and residual connections, 3.09 with residual ones only),
``learned_initial_state`` learns the state before the first row / column (the paper's; zeros when off) and
``residual_connections`` can be turned off for Table 2's ablation.

Class conditioning (``num_classes > 0``): the label enters the 2h maps after the input layer and after every
recurrent layer, by the strategy ``config.conditioning`` (:mod:`pixelrnn.nn.conditioning`). A network built
with ``condition_channels > 0`` also takes a given map that biases the gates of every recurrent layer (the
conditional half of the Multi-Scale PixelRNN).
"""

from __future__ import annotations

import torch
from torch import nn

from pixelrnn.config import ModelConfig, ModelField
from pixelrnn.models.base import AutoregressiveImageModel, check_colour_groups, class_conditioning, output_layers
from pixelrnn.models.presets import PAPER_CONNECTIONS, PAPER_RMSPROP, PAPER_TRAINING
from pixelrnn.nn.masked_conv import MaskedConv2d
from pixelrnn.nn.recurrent import CELLS, RECURRENT_LAYERS, recurrent_layer

# The ModelConfig fields of the PixelRNNs (the Multi-Scale PixelRNN reads them too).
MODEL_FIELDS = (
    ModelField("recurrent_layer", str, "row_lstm", "the recurrent layer: the Row LSTM (§3.1) or the Diagonal "
               "BiLSTM (§3.2)", choices=RECURRENT_LAYERS),
    ModelField("cell", str, "lstm", "the recurrent cell: the paper's LSTM, or a GRU", choices=CELLS,
               label="recurrent cell"),
    ModelField("learned_initial_state", bool, False, "learn the recurrent state before the first row / column, "
               "per layer and direction, as the paper does; off: zeros"),
)


class ResidualRecurrentLayer(nn.Module):
    """§3.3: a recurrent layer 2h → h, a 1×1 mask-B convolution h → 2h, added to the layer's input.

    Args:
        config: uses ``recurrent_layer``, ``cell``, ``hidden_channels`` (h), ``kernel_size`` (Row LSTM's k),
            ``learned_initial_state`` and ``residual_connections`` (off: the projection alone, Table 2's ablation).
        condition_channels: channels of the given map that biases the gates (0: none).

    Shape:
        (B, 2h, H, W) [+ condition (B, condition_channels, H, W)] → (B, 2h, H, W).
    """

    def __init__(self, config: ModelConfig, condition_channels: int = 0) -> None:
        super().__init__()
        h, colors = config.hidden_channels, config.image_channels
        self.recurrent = recurrent_layer(config.recurrent_layer, 2 * h, h, config.kernel_size, colors, config.cell,
                                         condition_channels, config.learned_initial_state)
        self.project = MaskedConv2d(h, 2 * h, 1, "B", colors)
        self.residual = config.residual_connections

    def forward(self, inputs: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        update = self.project(self.recurrent(inputs, condition))  # (B, 2h, H, W)
        return inputs + update if self.residual else update


class PixelRNN(AutoregressiveImageModel):
    """The PixelRNN of the paper (Row LSTM or Diagonal BiLSTM); see the module docstring for the layers.

    Args:
        config: uses ``image_channels``, ``num_levels``, ``num_classes``, ``hidden_channels`` (h), ``num_layers``,
            ``kernel_size`` (Row LSTM), ``first_kernel_size``, ``output_channels``, ``recurrent_layer``, ``cell``,
            ``skip_connections``, ``residual_connections`` and ``learned_initial_state``.
        condition_channels: channels of a given map that biases every layer's gates (0: unconditioned).

    Raises:
        ConfigError: h or ``output_channels`` smaller than the number of colour channels.
    """

    model_fields = MODEL_FIELDS
    config_fields = ("kernel_size", "first_kernel_size", "output_channels", "skip_connections",
                     "residual_connections")
    training_defaults = PAPER_RMSPROP  # the paper trains its PixelRNNs with RMSProp (§4); lr and clipping: ours
    presets = {
        # The paper's CIFAR-10 PixelRNNs (§4 "Specifications of Models"): "the Row LSTM and the Diagonal BiLSTM
        # have 12 layers and h = 128"; the Row LSTM's input-to-state and state-to-state kernels are 3 wide (k = 3,
        # §3.1); the output layers have 1024 feature maps, as for the PixelCNN.
        "row-lstm-cifar10": {"recurrent_layer": "row_lstm", "hidden_channels": 128, "num_layers": 12,
                             "kernel_size": 3, "first_kernel_size": 7, "output_channels": 1024, **PAPER_CONNECTIONS,
                             "learned_initial_state": True},
        "diagonal-bilstm-cifar10": {"recurrent_layer": "diagonal_bilstm", "hidden_channels": 128, "num_layers": 12,
                                    "kernel_size": 3, "first_kernel_size": 7, "output_channels": 1024,
                                    **PAPER_CONNECTIONS, "learned_initial_state": True},
        # Binarized MNIST (§4): "a Diagonal BiLSTM with 7 layers and a value of h = 16", output layers of 32 feature
        # maps, one sigmoid per pixel (the head follows from the data's 2 levels). The Row LSTM's MNIST size is not
        # stated (Table 4 gives its 80.54 nats only): ours, the same sizes.
        "diagonal-bilstm-mnist": {"recurrent_layer": "diagonal_bilstm", "hidden_channels": 16, "num_layers": 7,
                                  "kernel_size": 3, "first_kernel_size": 7, "output_channels": 32,
                                  **PAPER_CONNECTIONS, "learned_initial_state": True},
        "row-lstm-mnist": {"recurrent_layer": "row_lstm", "hidden_channels": 16, "num_layers": 7, "kernel_size": 3,
                           "first_kernel_size": 7, "output_channels": 32, **PAPER_CONNECTIONS,
                           "learned_initial_state": True},
        # Ours, not the paper's: minutes on a CPU on the 8×8 digits.
        "row-lstm-small": {"recurrent_layer": "row_lstm", "hidden_channels": 16, "num_layers": 2, "kernel_size": 3,
                           "first_kernel_size": 7, "output_channels": 32},
        "diagonal-bilstm-small": {"recurrent_layer": "diagonal_bilstm", "hidden_channels": 16, "num_layers": 2,
                                  "kernel_size": 3, "first_kernel_size": 7, "output_channels": 32},
    }
    preset_training = {name: PAPER_TRAINING for name in ("row-lstm-cifar10", "diagonal-bilstm-cifar10",
                                                         "row-lstm-mnist", "diagonal-bilstm-mnist")}

    def __init__(self, config: ModelConfig, condition_channels: int = 0) -> None:
        super().__init__(config)
        colors, h = config.image_channels, config.hidden_channels
        check_colour_groups(config, "PixelRNN")
        self.input_conv = MaskedConv2d(colors, 2 * h, config.first_kernel_size, "A", colors)
        self.conditioning = class_conditioning(config, [2 * h] * (config.num_layers + 1))
        self.layers = nn.ModuleList([ResidualRecurrentLayer(config, condition_channels)
                                     for _ in range(config.num_layers)])
        self.skips = (nn.ModuleList([MaskedConv2d(2 * h, 2 * h, 1, "B", colors) for _ in range(config.num_layers)])
                      if config.skip_connections else None)
        self.output = output_layers(2 * h, config, self.head.num_params(colors))

    def network(self, inputs: torch.Tensor, y: torch.Tensor | None = None,
                condition: torch.Tensor | None = None) -> torch.Tensor:
        """Masked network: float (B, C, H, W) [+ given map (B, Cc, H, W)] → (B, C·P, H, W) parameters."""
        codes = self.class_codes(y)
        features = self.input_conv(inputs)  # (B, 2h, H, W)
        if codes is not None:
            features = self.conditioning.apply(features, 0, codes)  # constant over the image
        skipped = 0
        for index, layer in enumerate(self.layers):
            features = layer(features, condition)  # (B, 2h, H, W)
            if codes is not None:
                features = self.conditioning.apply(features, index + 1, codes)
            if self.skips is not None:
                skipped = skipped + self.skips[index](features)  # (B, 2h, H, W)
        return self.output(features if self.skips is None else skipped)  # (B, C·P, H, W)
