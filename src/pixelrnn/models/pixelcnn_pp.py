"""PixelCNN++ (Salimans, Karpathy, Chen, Kingma, ICLR 2017): the network of :mod:`pixelrnn.nn.shifted_conv` and
the discretized logistic mixture head of :mod:`pixelrnn.heads.logistic_mixture`.

The network gives every pixel the parameters of a K-component mixture over its whole colour (R, then G given R,
then B given R and G through linear mean shifts inside the head), computed from the pixels strictly before it;
so this model's head samples whole pixels, and its causality is checked per pixel. Config fields:
``hidden_channels`` = filters F (160 in the paper), ``num_layers`` = ResNet blocks per stage R (5),
``num_mixtures`` = K (10), ``dropout`` (0.5 on CIFAR-10); Polyak averaging of the weights is the trainer's
``ema_decay`` (0.9995 in the paper presets).
"""

from __future__ import annotations

import torch

from pixelrnn.config import ModelConfig
from pixelrnn.heads.logistic_mixture import DiscretizedLogisticMixture
from pixelrnn.models.base import AutoregressiveImageModel
from pixelrnn.nn.shifted_conv import PixelCNNPlusPlusNetwork


class PixelCNNPlusPlus(AutoregressiveImageModel):
    """PixelCNN++: ``forward(x, y) -> (B, params_per_pixel, H, W)`` mixture parameters, exact ``log_prob``.

    Raises:
        ConfigError: image height or width not divisible by 4, or bad sizes (from the network and the head).
    """

    config_fields = ("num_mixtures", "dropout")
    training_defaults = {"optimizer": "adam", "lr": 1e-3, "schedule": "exponential", "lr_decay": 0.999995,
                         "ema_decay": 0.9995}  # the authors' code: Adam, lr 10⁻³ × 0.999995 per step, Polyak 0.9995

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        channels, height, width = config.image_shape
        self.unet = PixelCNNPlusPlusNetwork(channels, self.head.num_params(channels), filters=config.hidden_channels,
                                            blocks_per_stage=config.num_layers, dropout=config.dropout,
                                            num_classes=config.num_classes, conditioning=config.conditioning)
        self.unet.check_image_size(height, width)

    def build_head(self, config: ModelConfig) -> DiscretizedLogisticMixture:
        """The discretized logistic mixture of whole pixels (§2.1–2.2), not the paper's softmax."""
        return DiscretizedLogisticMixture(config.num_mixtures, config.image_channels, config.num_levels)

    def network(self, inputs: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Float (B, C, H, W) in [−1, 1] → (B, params_per_pixel, H, W); pixel (i, j) sees only earlier pixels."""
        return self.unet(inputs, y)
