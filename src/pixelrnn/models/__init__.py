"""The model registry, named architecture presets, and the functions that build models from them.

``MODELS`` maps a registry name (``ModelConfig.name``) to its class. ``PRESETS`` maps a preset name to
architecture fields of :class:`~pixelrnn.config.ModelConfig`; the image shape, levels and classes are never
part of a preset: they come from the data set (:func:`model_config`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from pixelrnn.config import ModelConfig
from pixelrnn.errors import ConfigError
from pixelrnn.models.base import AutoregressiveImageModel
from pixelrnn.models.gated_pixelcnn import GatedPixelCNN
from pixelrnn.models.multiscale import MultiScalePixelRNN
from pixelrnn.models.pixelcnn import PixelCNN
from pixelrnn.models.pixelcnn_pp import PixelCNNPlusPlus
from pixelrnn.models.pixelrnn import PixelRNN

MODELS: dict[str, type[AutoregressiveImageModel]] = {
    "pixelcnn": PixelCNN,
    "pixelrnn": PixelRNN,
    "multiscale_pixelrnn": MultiScalePixelRNN,
    "gated_pixelcnn": GatedPixelCNN,
    "pixelcnn_pp": PixelCNNPlusPlus,
}

# Fields that come from the data, never from a preset or an architecture override.
DATA_FIELDS = ("image_channels", "image_height", "image_width", "num_levels", "num_classes")

PRESETS: dict[str, dict[str, Any]] = {
    # The paper's CIFAR-10 PixelCNN (van den Oord et al. 2016, §5 "Specifications of Models"): "The PixelCNN
    # has 15 layers and h = 128"; 3×3 mask-B convolutions after the 7×7 mask-A input layer; the two ReLU +
    # 1×1 output layers "have 1024 feature maps" for CIFAR-10 and ImageNet. We read the 15 layers as 15
    # residual blocks, as the 12 "layers" of the PixelRNNs count recurrent layers. 2h = 256 and 1024 maps are
    # not multiples of 3: the colour groups are then contiguous and as equal as possible (86/85/85).
    "pixelcnn-cifar10": {"name": "pixelcnn", "hidden_channels": 128, "num_layers": 15, "kernel_size": 3,
                         "first_kernel_size": 7, "output_channels": 1024},
    # Binarized-MNIST scale. The paper lists a PixelCNN on binarized MNIST (81.30 nats, Table 4) without its
    # size; its specified MNIST model is the Diagonal BiLSTM "with 7 layers and a value of h = 16", whose output
    # layers "have 32 feature maps" (§5). Same sizes here.
    "pixelcnn-mnist": {"name": "pixelcnn", "hidden_channels": 16, "num_layers": 7, "kernel_size": 3,
                       "first_kernel_size": 7, "output_channels": 32},
    # Ours, not the paper's: trains in a minute or two on a CPU on the 8×8 digits (17 levels).
    "pixelcnn-small": {"name": "pixelcnn", "hidden_channels": 16, "num_layers": 4, "kernel_size": 3,
                       "first_kernel_size": 7, "output_channels": 32},
    # Ours, for tests and smoke runs: the smallest PixelCNN that still has every kind of layer (h = 6 gives
    # each of R, G, B two feature maps in the bottleneck).
    "pixelcnn-tiny": {"name": "pixelcnn", "hidden_channels": 6, "num_layers": 1, "kernel_size": 3,
                      "first_kernel_size": 7, "output_channels": 12},
    # The paper's CIFAR-10 PixelRNNs (§5 "Specifications of Models"): "the Row LSTM and the Diagonal BiLSTM have
    # 12 layers and h = 128"; the Row LSTM's input-to-state and state-to-state kernels are 3 wide (k = 3, §3.1);
    # the output layers have 1024 feature maps, as for the PixelCNN.
    "row-lstm-cifar10": {"name": "pixelrnn", "recurrent_layer": "row_lstm", "hidden_channels": 128,
                         "num_layers": 12, "kernel_size": 3, "first_kernel_size": 7, "output_channels": 1024},
    "diagonal-bilstm-cifar10": {"name": "pixelrnn", "recurrent_layer": "diagonal_bilstm", "hidden_channels": 128,
                                "num_layers": 12, "kernel_size": 3, "first_kernel_size": 7, "output_channels": 1024},
    # Binarized MNIST (§5): "a Diagonal BiLSTM with 7 layers and a value of h = 16", output layers of 32 feature
    # maps, one sigmoid per pixel (the head follows from the data's 2 levels). The Row LSTM likewise.
    "diagonal-bilstm-mnist": {"name": "pixelrnn", "recurrent_layer": "diagonal_bilstm", "hidden_channels": 16,
                              "num_layers": 7, "kernel_size": 3, "first_kernel_size": 7, "output_channels": 32},
    "row-lstm-mnist": {"name": "pixelrnn", "recurrent_layer": "row_lstm", "hidden_channels": 16, "num_layers": 7,
                       "kernel_size": 3, "first_kernel_size": 7, "output_channels": 32},
    # Ours, not the paper's: minutes on a CPU on the 8×8 digits.
    "row-lstm-small": {"name": "pixelrnn", "recurrent_layer": "row_lstm", "hidden_channels": 16, "num_layers": 2,
                       "kernel_size": 3, "first_kernel_size": 7, "output_channels": 32},
    "diagonal-bilstm-small": {"name": "pixelrnn", "recurrent_layer": "diagonal_bilstm", "hidden_channels": 16,
                              "num_layers": 2, "kernel_size": 3, "first_kernel_size": 7, "output_channels": 32},
    # Ours: a Multi-Scale PixelRNN of two small Diagonal BiLSTMs (8×8 digits: a 4×4 image, then the rest).
    "multiscale-pixelrnn-small": {"name": "multiscale_pixelrnn", "recurrent_layer": "diagonal_bilstm",
                                  "hidden_channels": 16, "num_layers": 2, "kernel_size": 3, "first_kernel_size": 7,
                                  "output_channels": 32, "subsample_factor": 2},
    # Gated PixelCNN (van den Oord et al., NeurIPS 2016): "20 layers (Figure 2), each of which has 384 hidden units
    # and filter size of 5 × 5" is how we read the paper's description of its large models; the 7×7 first layer
    # and the 1024 output maps follow the PixelCNN above. The paper conditions with V·onehot(y).
    "gated-pixelcnn-paper": {"name": "gated_pixelcnn", "hidden_channels": 384, "num_layers": 20, "kernel_size": 5,
                             "first_kernel_size": 7, "output_channels": 1024, "conditioning": "onehot"},
    # Ours: minutes on a CPU on the 8×8 digits.
    "gated-pixelcnn-small": {"name": "gated_pixelcnn", "hidden_channels": 16, "num_layers": 4, "kernel_size": 3,
                             "first_kernel_size": 7, "output_channels": 32, "conditioning": "onehot"},
    # PixelCNN++ (Salimans et al., ICLR 2017): 5 ResNet blocks per stage, 160 filters, 10 logistic mixtures,
    # dropout 0.5 (CIFAR-10). Ours: the small one.
    "pixelcnn-pp-cifar10": {"name": "pixelcnn_pp", "hidden_channels": 160, "num_layers": 5, "num_mixtures": 10,
                            "dropout": 0.5, "weight_norm": True},
    "pixelcnn-pp-small": {"name": "pixelcnn_pp", "hidden_channels": 40, "num_layers": 1, "num_mixtures": 5,
                          "dropout": 0.0},
}

# Training defaults that come with a preset (the command line and ``train(config=...)`` win over them). The
# paper trains its PixelRNNs with RMSProp (§5); the learning rate and clipping are ours, not the paper's.
PAPER_RMSPROP = {"optimizer": "rmsprop", "lr": 1e-3, "grad_clip": 1.0}
PRESET_TRAINING: dict[str, dict[str, Any]] = {
    name: PAPER_RMSPROP for name, fields in PRESETS.items() if fields["name"] in ("pixelrnn", "multiscale_pixelrnn")
}
# PixelCNN++: Adam, lr 10⁻³ decayed by 0.999995 per step, Polyak averaging 0.9995 (the authors' code defaults).
PRESET_TRAINING.update({name: {"optimizer": "adam", "lr": 1e-3, "adam_beta1": 0.95, "adam_beta2": 0.9995,
                               "schedule": "exponential", "lr_decay": 0.999995, "ema_decay": 0.9995}
                        for name, fields in PRESETS.items() if fields["name"] == "pixelcnn_pp"})


def training_defaults(name_or_preset: str) -> dict[str, Any]:
    """TrainConfig fields that a preset brings (e.g. the PixelRNNs' RMSProp); empty for anything else."""
    return dict(PRESET_TRAINING.get(name_or_preset, {}))


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


__all__ = ["DATA_FIELDS", "MODELS", "PRESETS", "PRESET_TRAINING", "AutoregressiveImageModel", "GatedPixelCNN",
           "MultiScalePixelRNN", "PixelCNN", "PixelCNNPlusPlus", "PixelRNN", "build_model", "count_parameters",
           "model_config", "training_defaults"]
