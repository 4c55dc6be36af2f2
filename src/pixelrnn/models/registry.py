"""The model registry and the functions that build models from a registry name or a preset.

``MODELS`` maps a registry name (``ModelConfig.name``) to its class. Adding a family is its module (the model, its
ModelConfig fields, presets and training defaults), its stepper (:mod:`pixelrnn.sampling.steppers`) and one
:func:`register_family` line here; the config fields, CLI flags, presets and model-card commands follow from it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from pixelrnn.config import ModelConfig, add_model_fields
from pixelrnn.errors import ConfigError
from pixelrnn.models.base import AutoregressiveImageModel
from pixelrnn.models.gated_pixelcnn import GatedPixelCNN
from pixelrnn.models.multiscale import MultiScalePixelRNN
from pixelrnn.models.pixelcnn import PixelCNN
from pixelrnn.models.pixelcnn_pp import PixelCNNPlusPlus
from pixelrnn.models.pixelrnn import PixelRNN
from pixelrnn.models.presets import PAPER_TRAINING, PRESET_TRAINING, PRESETS

MODELS: dict[str, type[AutoregressiveImageModel]] = {}

# Fields that come from the data, never from a preset or an architecture override.
DATA_FIELDS = ("image_channels", "image_height", "image_width", "num_levels", "num_classes")


def register_family(name: str, family: type[AutoregressiveImageModel]) -> None:
    """Register ``family`` under the registry name ``name``: its ModelConfig fields (added to the class, so
    configs, checkpoints and ``pixelrnn train`` flags have them), its presets and their training settings.

    Register before making configs of the family (importing :mod:`pixelrnn` registers the library's families).

    Raises:
        ValueError: a name or preset that is already registered, or a field declared differently elsewhere.
    """
    taken = sorted({name} & set(MODELS) | set(family.presets) & set(PRESETS))
    if taken:
        raise ValueError(f"already registered: {', '.join(taken)}")
    add_model_fields(family.model_fields)
    MODELS[name] = family
    PRESETS.update({preset: {"name": name, **fields} for preset, fields in family.presets.items()})
    PRESET_TRAINING.update(family.preset_training)


register_family("pixelcnn", PixelCNN)
register_family("pixelrnn", PixelRNN)
register_family("multiscale_pixelrnn", MultiScalePixelRNN)
register_family("gated_pixelcnn", GatedPixelCNN)
register_family("pixelcnn_pp", PixelCNNPlusPlus)

# The PixelRNN paper's networks as the paper states them (§4), as opposed to our small presets.
PIXELRNN_PAPER_PRESETS = tuple(preset for preset, training in PRESET_TRAINING.items() if training == PAPER_TRAINING)


def training_defaults(name_or_preset: str) -> dict[str, Any]:
    """TrainConfig fields a preset brings: its family's ``training_defaults`` (e.g. the PixelRNNs' RMSProp), then
    the preset's own (e.g. the paper presets' batch 16); empty for a registry name or anything else."""
    if name_or_preset not in PRESETS:
        return {}
    family = MODELS[PRESETS[name_or_preset]["name"]]
    return {**family.training_defaults, **PRESET_TRAINING.get(name_or_preset, {})}


def field_users(field: str) -> tuple[str, ...]:
    """Registry names of the families that read the optional or family-declared ModelConfig ``field`` (all, if it
    is a core field that every family reads)."""
    users = tuple(name for name, family in MODELS.items()
                  if field in family.config_fields or field in {spec.name for spec in family.model_fields})
    return users or tuple(MODELS)


def build_model(config: ModelConfig) -> AutoregressiveImageModel:
    """Validate ``config`` and build the registered model it names.

    Raises:
        ConfigError: an invalid config or a name that is not in ``MODELS``.
    """
    config.validate()
    if config.name not in MODELS:
        raise ConfigError(f"unknown model '{config.name}' (choose from: {', '.join(MODELS)})")
    return MODELS[config.name](config)


def model_config(name_or_preset: str, image_shape: tuple[int, int, int], num_levels: int, num_classes: int = 0,
                 **overrides: Any) -> ModelConfig:
    """The model config for a registry name or a preset, fitted to the data.

    Args:
        name_or_preset: a key of ``MODELS`` (then the ModelConfig defaults) or of ``PRESETS``.
        image_shape: (C, H, W) of the data set's images.
        num_levels: intensity levels per sub-pixel of the data set.
        num_classes: class labels to condition on (0: unconditional).
        **overrides: architecture fields that win over the preset; a None value means "not given".

    Returns:
        A validated :class:`~pixelrnn.config.ModelConfig`.

    Raises:
        ConfigError: an unknown name, an unknown or data-owned override field, or an invalid value.
    """
    if name_or_preset in MODELS:
        fields: dict[str, Any] = {"name": name_or_preset}
    elif name_or_preset in PRESETS:
        fields = dict(PRESETS[name_or_preset])
    else:
        raise ConfigError(f"unknown model or preset '{name_or_preset}' "
                          f"(choose from: {', '.join([*MODELS, *PRESETS])})")
    known = {field.name for field in dataclasses.fields(ModelConfig)} - set(DATA_FIELDS)
    given = {key: value for key, value in overrides.items() if value is not None}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ConfigError(f"cannot override model field(s) {', '.join(unknown)} "
                          f"(architecture fields: {', '.join(sorted(known))})")
    fields.update(given)
    channels, height, width = image_shape
    config = ModelConfig(image_channels=channels, image_height=height, image_width=width, num_levels=num_levels,
                         num_classes=num_classes, **fields)
    config.validate()
    return config


def count_parameters(model: nn.Module) -> int:
    """Number of learnable scalars of ``model`` (masked-out weights included: they are still parameters)."""
    return sum(parameter.numel() for parameter in model.parameters())


__all__ = ["DATA_FIELDS", "MODELS", "PIXELRNN_PAPER_PRESETS", "build_model", "count_parameters", "field_users",
           "model_config", "register_family", "training_defaults"]
