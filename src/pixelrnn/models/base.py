"""The interface every autoregressive image model of the library implements.

A model maps integer images (B, C, H, W) to the parameters of each sub-pixel's distribution given the
sub-pixels before it (raster order over pixels, R → G → B inside a pixel), and scores images exactly with its
output head (:mod:`pixelrnn.heads.categorical`). Subclasses implement only :meth:`network`, which takes the float
input map, so that tests can differentiate through it to prove causality.

Every model also has ``save_pretrained`` / ``from_pretrained`` / ``push_to_hub`` from huggingface_hub's
``ModelHubMixin``; the folder they write and read is ``pixelrnn export``'s (:mod:`pixelrnn.hub`).
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any, ClassVar

import torch
from huggingface_hub import ModelCard, ModelHubMixin
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


class AutoregressiveImageModel(nn.Module, ModelHubMixin, abc.ABC):
    """Base class: ``forward(x, y) -> params``, ``log_prob(x, y) -> nats per image``, and the Hub's
    ``save_pretrained(folder)``, ``from_pretrained(folder, name or repo id)``, ``push_to_hub(repo_id)``.

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

    def compiled(self, network: nn.Module) -> nn.Module:
        """What ``--compile`` runs: ``torch.compile(network)`` (``network`` is this model or its DDP wrapper).

        A model with layers that loop over rows or diagonals in Python (``compile_step``: the PixelRNNs) is
        compiled by region instead: each such layer compiles its per-step cell, and ``network`` is returned as
        it is. Compiling the unrolled loop of a whole recurrent network took minutes and did not finish.
        """
        stepped = [module for module in self.modules() if hasattr(module, "compile_step")]
        for module in stepped:
            module.compile_step()
        return network if stepped else torch.compile(network)

    def log_prob(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Exact log-likelihood: float64 (B,) in nats per image (sum over every sub-pixel, taken in float64)."""
        return self.head.log_prob(self(x, y), x)

    # Saving and loading: huggingface_hub's ModelHubMixin over pixelrnn's folder. The mixin's own config.json
    # (from __init__'s arguments), PyTorchModelHubMixin's non-strict loading into ``cls(**kwargs)`` and its
    # template card are replaced: pixelrnn.hub writes and reads the layout of ``pixelrnn export``, and builds
    # the model through the registry (imported when called: those modules sit above the models).

    def save_pretrained(self, save_directory: str | Path, *, config: dict[str, Any] | None = None,
                        model_card_kwargs: dict[str, Any] | None = None, **options: Any) -> str | None:
        """Write the model into ``save_directory``: ``config.json``, ``model.safetensors`` and ``README.md``, the
        folder of ``pixelrnn export`` (files of those names already there are replaced).

        Args:
            config: config.json's sections besides the model's own keys, e.g. ``data``, ``train_config`` and
                ``averaged_weights`` (what ``export_model`` records from a checkpoint); default: those the model
                was loaded with, none (None) for a model built in Python.
            model_card_kwargs: ``test``, the exact test NLL the card states (``nats_per_image``,
                ``bits_per_dim``, ``num_images``).
            **options: the mixin's ``push_to_hub=True, repo_id=...`` (and push_to_hub's options) to upload it.

        Returns:
            The URL of the Hub commit when pushed, else None.
        """
        from pixelrnn import hub

        directory = hub.prepare_folder(save_directory)
        self._hub_mixin_config = hub.folder_config(self, hub.recorded_sections(self) if config is None else config)
        hub.write_card(directory, self._hub_mixin_config, **(model_card_kwargs or {}))  # the mixin then keeps it
        return super().save_pretrained(directory, model_card_kwargs=model_card_kwargs, **options)

    def _save_pretrained(self, save_directory: Path) -> None:
        """The mixin's hook: ``model.safetensors`` and ``config.json`` (:func:`pixelrnn.hub.write_folder`)."""
        from pixelrnn.hub import write_folder

        write_folder(self, save_directory)

    def generate_model_card(self, test: dict[str, Any] | None = None) -> ModelCard:
        """The model card ``save_pretrained`` writes (pixelrnn's, not the mixin's template)."""
        from pixelrnn.hub import card_text, folder_config, recorded_sections

        return ModelCard(card_text(folder_config(self, recorded_sections(self)), test))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, *, map_location: str | torch.device = "cpu",
                        revision: str | None = None, token: str | bool | None = None,
                        cache_dir: str | Path | None = None, force_download: bool = False,
                        local_files_only: bool = False) -> AutoregressiveImageModel:
        """The model saved in a folder (``save_pretrained``, ``pixelrnn export``), a shipped model by name
        (``pixelrnn pretrained``) or a Hugging Face Hub repo id (``"user/name"``, downloaded and cached), in
        evaluation mode, with the saved model's log-likelihoods bit for bit.

        Called on the base class it gives the stored family; called on a family (``PixelCNN.from_pretrained``),
        it refuses another family's folder. Only safetensors weights are read: loading runs no pickled code.

        Args:
            map_location: the device to put the model on.
            revision, token, cache_dir, force_download, local_files_only: the Hub's download options.

        Raises:
            CheckpointError: a folder that is not a pixelrnn export, a failed download (no network, no such
                repository), weights that do not fit their config, or a model of another family than ``cls``.
        """
        from pixelrnn import hub

        with hub.download_errors(pretrained_model_name_or_path):
            return super().from_pretrained(hub.source(pretrained_model_name_or_path), map_location=map_location,
                                           revision=revision, token=token, cache_dir=cache_dir,
                                           force_download=force_download, local_files_only=local_files_only)

    @classmethod
    def _from_pretrained(cls, *, model_id: str, map_location: str | torch.device = "cpu",
                         config: Any = None, **download: Any) -> AutoregressiveImageModel:
        """The mixin's hook: :func:`pixelrnn.hub.load_folder`. ``config`` is the mixin's own reading of
        config.json (decoded by ``__init__``'s annotation), unused: config.json is read with the weights."""
        from pixelrnn.hub import load_folder

        return load_folder(cls, model_id, map_location, download)

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
