"""The interface every autoregressive image model of the library implements.

A model maps integer images (B, C, H, W) to the parameters of each sub-pixel's distribution given the
sub-pixels before it (raster order over pixels, R → G → B inside a pixel), and scores images exactly with its
output head (:mod:`pixelrnn.heads.categorical`). Subclasses implement only :meth:`network`, which takes the float
input map, so that tests can differentiate through it to prove causality.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import torch
from torch import nn

from pixelrnn.config import ModelConfig, ModelField
from pixelrnn.errors import ConfigError, DataError, describe_shape
from pixelrnn.heads import OutputHead, make_head
from pixelrnn.nn.conditioning import ClassConditioning
from pixelrnn.nn.masked_conv import MaskedConv2d


def check_colour_groups(config: ModelConfig, model_name: str) -> None:
    """ConfigError unless h and the output width give every colour group at least one feature map."""
    colors = config.image_channels
    for field_name in ("hidden_channels", "output_channels"):
        if getattr(config, field_name) < colors:
            raise ConfigError(f"{model_name} {field_name} must be at least the number of colour channels ({colors}) "
                              f"so that each colour group has feature maps, got {getattr(config, field_name)}")


def class_conditioning(config: ModelConfig, layer_channels: list[int]) -> ClassConditioning | None:
    """The model's :class:`ClassConditioning` over layers of ``layer_channels`` maps, or None if unconditional."""
    if config.num_classes == 0:
        return None
    return ClassConditioning(config.num_classes, layer_channels, config.conditioning, 2 * config.hidden_channels)



def output_layers(in_channels: int, config: ModelConfig, num_params: int) -> nn.Sequential:
    """The paper's output stack (Table 1): ReLU → 1×1 mask B → ReLU → 1×1 mask B, ``in_channels`` →
    ``config.output_channels`` → ``num_params`` maps, in the image's colour groups."""
    colors = config.image_channels
    return nn.Sequential(
        nn.ReLU(),
        MaskedConv2d(in_channels, config.output_channels, 1, "B", colors),
        nn.ReLU(),
        MaskedConv2d(config.output_channels, num_params, 1, "B", colors),
    )


class AutoregressiveImageModel(nn.Module, abc.ABC):
    """Base class: ``forward(x, y) -> params`` and ``log_prob(x, y) -> nats per image``.

    Args:
        config: the architecture; stored as ``self.config`` so that a checkpoint can rebuild the model.

    Attributes:
        config: the :class:`~pixelrnn.config.ModelConfig` the model was built from.
        head: the output head (:mod:`pixelrnn.heads`): Bernoulli for 2 levels, else an L-way softmax, unless the
            family builds its own (PixelCNN++: the discretized logistic mixture).
    """

    # The family's own knowledge, read by the registry, the CLI, compare and export (no lists of family names
    # elsewhere): the ModelConfig fields it adds (its own, declared here: name, type, default, help, checks), the
    # shared optional fields it reads beyond the core ones (image shape, levels, classes, conditioning,
    # hidden_channels, num_layers), the TrainConfig fields its presets train with by default, its named presets
    # (preset name → architecture fields) and what single presets train with beyond those defaults.
    model_fields: ClassVar[tuple[ModelField, ...]] = ()
    config_fields: ClassVar[tuple[str, ...]] = ()
    training_defaults: ClassVar[dict[str, Any]] = {}
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    preset_training: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.head: OutputHead = self.build_head(config)

    def build_head(self, config: ModelConfig) -> OutputHead:
        """The family's output head: the paper's Bernoulli (2 levels) or L-way softmax, unless overridden."""
        return make_head(config.num_levels)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Integer levels [0, L − 1] → float32 in [−1, 1] (x / (L − 1) · 2 − 1), shape kept (B, C, H, W)."""
        return x.float() / (self.config.num_levels - 1) * 2.0 - 1.0

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Distribution parameters of every sub-pixel given its past.

        Args:
            x: integer (B, C, H, W) images with values in [0, num_levels − 1].
            y: int64 (B,) class labels, given if and only if the model is class-conditional.

        Returns:
            (B, C·P, H, W): sub-pixel c's P parameters in channels [c·P, (c+1)·P).

        Raises:
            DataError: images of another shape than ``config.image_shape``, or labels out of range.
            ConfigError: labels given to an unconditional model, or missing for a conditional one.
        """
        self._check_inputs(x, y)
        inputs = self.preprocess(x)  # (B, C, H, W) float32
        weight = next(self.parameters(), None)
        if weight is not None and weight.is_floating_point():
            inputs = inputs.to(weight.dtype)  # a model converted with .double() gets float64 inputs
        return self.network(inputs, y)

    @abc.abstractmethod
    def network(self, inputs: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The masked network itself, on the float map.

        Args:
            inputs: float (B, C, H, W), the preprocessed images (any real values are accepted).
            y: int64 (B,) class labels, or None for an unconditional model.

        Returns:
            (B, C·P, H, W) distribution parameters; output (i, j, c) depends only on inputs before it.
        """

    def class_codes(self, y: torch.Tensor | None) -> torch.Tensor | None:
        """The codes (B, d) of the labels for the model's per-layer conditioning; None when there is none."""
        conditioning = getattr(self, "conditioning", None)
        return conditioning(y) if conditioning is not None and y is not None else None

    def sample(self, num_images: int, labels: torch.Tensor | None = None, known: torch.Tensor | None = None,
               generator: torch.Generator | None = None, temperature: float = 1.0, seed: int = 0) -> torch.Tensor:
        """Draw ``num_images`` images, exactly from the model's distribution (the fast sampler where one applies).

        The same as :func:`pixelrnn.sampling.draw`, which every command uses; the model is put in evaluation
        mode for the draw and returned to its mode after.

        Args:
            labels: int64 (num_images,) classes of a class-conditional model (default: 0, 1, 2, … cycling).
            known: int64 (num_images, C, H, W): values ≥ 0 are kept, −1 sampled (completion).
            generator: the random numbers (on the model's device); default: a new one seeded with ``seed``.
            temperature: divides the logits (1.0: the model's own distribution).

        Returns:
            int64 (num_images, C, H, W) in [0, L − 1], on the model's device.
        """
        from pixelrnn.runtime import evaluation_mode
        from pixelrnn.sampling import draw  # the sampling layer sits above the models: imported when called

        with evaluation_mode(self):
            return draw(self, num_images, seed=seed, labels=labels, known=known, temperature=temperature,
                        generator=generator)

    def pixel_order(self) -> list[tuple[int, int]]:
        """The (row, col) order in which the model generates pixels: raster order, unless a model overrides it.

        Output (i, j, c) may depend on the pixels before (i, j) in this order and on the sub-pixels of (i, j)
        before c; the sampler generates pixels in this order and the causality test checks against it.
        """
        _, height, width = self.config.image_shape
        return [(row, col) for row in range(height) for col in range(width)]

    def log_prob(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Exact log-likelihood: float64 (B,) in nats per image (sum over every sub-pixel, taken in float64)."""
        return self.head.log_prob(self(x, y), x)

    def _check_inputs(self, x: torch.Tensor, y: torch.Tensor | None) -> None:
        expected = self.config.image_shape
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            got = describe_shape(tuple(x.shape[1:])) if x.dim() == 4 else f"a {x.dim()}-d tensor {tuple(x.shape)}"
            raise DataError(f"model expects images of shape {describe_shape(expected)}, got {got}")
        num_classes = self.config.num_classes
        if num_classes > 0 and y is None:
            raise ConfigError(f"the model is conditioned on {num_classes} classes: pass the labels y")
        if num_classes == 0 and y is not None:
            raise ConfigError("the model is unconditional (num_classes = 0): do not pass labels y")
        if y is None:
            return
        if tuple(y.shape) != (x.shape[0],) or y.is_floating_point():
            raise DataError(f"labels must be integer ({x.shape[0]},), got {y.dtype} {tuple(y.shape)}")
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= num_classes):
            raise DataError(f"class labels must be in [0, {num_classes - 1}], got {int(y.min())}..{int(y.max())}")
