"""PixelCNN++ (Salimans, Karpathy, Chen, Kingma, ICLR 2017): the network of :mod:`pixelrnn.nn.shifted_conv` and
the discretized logistic mixture head of :mod:`pixelrnn.heads.logistic_mixture`.

The network gives every pixel the parameters of a K-component mixture over its whole colour (R, then G given R,
then B given R and G through linear mean shifts inside the head), computed from the pixels strictly before it;
so this model's head samples whole pixels, and its causality is checked per pixel. Config fields:
``hidden_channels`` = filters F (160 in the paper), ``num_layers`` = ResNet blocks per stage R (5),
``num_mixtures`` = K (10), ``dropout`` (0.5 on CIFAR-10), ``weight_norm`` (weight normalisation of every layer,
with :meth:`PixelCNNPlusPlus.initialize_from_data`, as the authors' code); Polyak averaging of the weights is the
trainer's ``ema_decay`` (0.9995 in the paper presets).
"""

from __future__ import annotations

import torch

from pixelrnn.config import ModelConfig
from pixelrnn.errors import ConfigError
from pixelrnn.heads.logistic_mixture import DiscretizedLogisticMixture
from pixelrnn.models.base import AutoregressiveImageModel
from pixelrnn.nn.shifted_conv import PixelCNNPlusPlusNetwork
from pixelrnn.nn.weight_norm import initialize_from_data


class PixelCNNPlusPlus(AutoregressiveImageModel):
    """PixelCNN++: ``forward(x, y) -> (B, params_per_pixel, H, W)`` mixture parameters, exact ``log_prob``.

    Raises:
        ConfigError: image height or width not divisible by 4, or bad sizes (from the network and the head).
    """

    config_fields = ("num_mixtures", "dropout", "weight_norm")
    # the authors' code: Adam with β 0.95 / 0.9995, lr 10⁻³ × 0.999995 per step, Polyak averaging 0.9995
    training_defaults = {"optimizer": "adam", "lr": 1e-3, "adam_beta1": 0.95, "adam_beta2": 0.9995,
                         "schedule": "exponential", "lr_decay": 0.999995, "ema_decay": 0.9995}

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        channels, height, width = config.image_shape
        self.unet = PixelCNNPlusPlusNetwork(channels, self.head.num_params(channels), filters=config.hidden_channels,
                                            blocks_per_stage=config.num_layers, dropout=config.dropout,
                                            num_classes=config.num_classes, conditioning=config.conditioning,
                                            weight_norm=config.weight_norm)
        self.unet.check_image_size(height, width)

    def build_head(self, config: ModelConfig) -> DiscretizedLogisticMixture:
        """The discretized logistic mixture of whole pixels (§2.1–2.2), not the paper's softmax."""
        return DiscretizedLogisticMixture(config.num_mixtures, config.image_channels, config.num_levels)

    def network(self, inputs: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Float (B, C, H, W) in [−1, 1] → (B, params_per_pixel, H, W); pixel (i, j) sees only earlier pixels."""
        return self.unet(inputs, y)

    def initialize_from_data(self, images: torch.Tensor, labels: torch.Tensor | None = None, seed: int = 0) -> None:
        """Data-dependent initialisation of the weight-normalised network on one batch (call it before training).

        Every layer's direction v is drawn anew from N(0, 0.05²); then one forward pass in training mode (dropout
        on, as in the reference's init pass) sets every layer's g and bias so that its pre-activations on this
        batch have mean 0 and standard deviation ``init_scale`` per channel: see
        :func:`pixelrnn.nn.weight_norm.initialize_from_data` (openai/pixel-cnn ``train.py`` runs it once, on
        ``init_batch_size`` = 100 training images). v comes from a generator seeded with ``seed``, dropout from
        the global generator seeded with ``seed`` inside a fork: the result is reproducible and the caller's
        random stream is left as it was.

        Args:
            images: integer (B, C, H, W) images with values in [0, num_levels − 1], on the model's device.
            labels: int64 (B,) class labels for a class-conditional model, else None.
            seed: seed of the directions v and of the dropout masks.

        Raises:
            ConfigError: the model is not weight-normalised (``weight_norm`` is False).
        """
        if not self.config.weight_norm:
            raise ConfigError("data-dependent initialisation needs a weight-normalised PixelCNN++ (weight_norm)")
        devices = [images.device] if images.device.type == "cuda" else []
        directions = torch.Generator(device=images.device).manual_seed(seed)
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            was_training = self.training
            self.train()
            try:
                initialize_from_data(self.unet.convolutions(), lambda: self(images, labels), directions)
            finally:
                self.train(was_training)
