"""PixelCNN++ (Salimans, Karpathy, Chen, Kingma, ICLR 2017): its three-resolution U-Net of shifted convolutions
(:mod:`pixelrnn.nn.shifted_conv`) and the discretized logistic mixture head of
:mod:`pixelrnn.heads.logistic_mixture`.

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
from torch import nn

from pixelrnn.config import ModelConfig, ModelField
from pixelrnn.errors import ConfigError, DataError
from pixelrnn.heads.logistic_mixture import DiscretizedLogisticMixture
from pixelrnn.models.base import AutoregressiveImageModel
from pixelrnn.nn.conditioning import ClassConditioning
from pixelrnn.nn.shifted_conv import (
    SECOND_CONV_INIT_SCALE,
    DownRightShiftedConv2d,
    DownRightShiftedConvTranspose2d,
    DownShiftedConv2d,
    DownShiftedConvTranspose2d,
    GatedResnet,
    down_shift,
    right_shift,
)
from pixelrnn.nn.weight_norm import initialize_from_data, weight_normalise

NUM_STAGES = 3  # full, 1/2 and 1/4 resolution


def _check_mixtures(config: ModelConfig) -> None:
    if config.num_mixtures < 1 or not 0.0 <= config.dropout < 1.0:
        raise ConfigError(f"num_mixtures must be >= 1 and dropout in [0, 1), got {config.num_mixtures} and "
                          f"{config.dropout}")


def _check_weight_norm(config: ModelConfig) -> None:
    if config.weight_norm and config.name != "pixelcnn_pp":
        raise ConfigError(f"weight_norm is implemented for PixelCNN++ only, not for model '{config.name}'")


MODEL_FIELDS = (
    ModelField("num_mixtures", int, 10, "logistic mixture components per pixel, 10 in the paper",
               check=_check_mixtures),
    ModelField("dropout", float, 0.0, "drop probability inside every gated ResNet block, 0.5 on CIFAR-10"),
    ModelField("weight_norm", bool, False, "weight normalisation of every convolution, with data-dependent "
               "initialisation on a new run, as the authors' code", check=_check_weight_norm),
)


class PixelCNNPlusPlus(AutoregressiveImageModel):
    """PixelCNN++: ``forward(x, y) -> (B, params_per_pixel, H, W)`` mixture parameters, exact ``log_prob``.

    Raises:
        ConfigError: image height or width not divisible by 4, or bad sizes (from the network and the head).
    """

    model_fields = MODEL_FIELDS
    # the authors' code: Adam with β 0.95 / 0.9995, lr 10⁻³ × 0.999995 per step, Polyak averaging 0.9995
    training_defaults = {"optimizer": "adam", "lr": 1e-3, "adam_beta1": 0.95, "adam_beta2": 0.9995,
                         "schedule": "exponential", "lr_decay": 0.999995, "ema_decay": 0.9995}
    presets = {  # 5 ResNet blocks per stage, 160 filters, 10 mixtures, dropout 0.5 (CIFAR-10), weight norm; ours: small
        "pixelcnn-pp-cifar10": {"hidden_channels": 160, "num_layers": 5, "num_mixtures": 10, "dropout": 0.5,
                                "weight_norm": True},
        "pixelcnn-pp-small": {"hidden_channels": 40, "num_layers": 1, "num_mixtures": 5, "dropout": 0.0},
    }

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
