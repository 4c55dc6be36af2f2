"""Named architecture presets: the papers' networks and our small ones, gathered from the families.

A family declares its presets in its own module: ``presets`` of its class maps a preset name to architecture
fields of :class:`~pixelrnn.config.ModelConfig` (the image shape, levels and classes are never part of a preset:
they come from the data set, :func:`pixelrnn.models.registry.model_config`), and ``preset_training`` holds what a
single preset trains with beyond the family's ``training_defaults``. Registering the family
(:func:`pixelrnn.models.registry.register_family`) adds them to ``PRESETS`` (with ``name``, the family's registry
name, first) and ``PRESET_TRAINING``. This module keeps what the PixelRNN paper's presets share.
"""

from __future__ import annotations

from typing import Any

# RMSProp, the optimizer of all the PixelRNN paper's experiments (§4); the learning rate and the clipping are ours.
PAPER_RMSPROP = {"optimizer": "rmsprop", "lr": 1e-3, "grad_clip": 1.0}

# The PixelRNN paper trains all its models, the PixelCNN included, with RMSProp (§4), at batch 16 on CIFAR-10 (we
# use 16 on binarized MNIST too: not stated): the training of its presets, over their family's defaults.
PAPER_TRAINING = {**PAPER_RMSPROP, "batch_size": 16}

# The paper's connections (PixelRNN §4, "Specifications of Models"): residual and layer-to-output (skip)
# connections in all three networks (the PixelRNNs' initial recurrent state is learned too: their own field).
PAPER_CONNECTIONS = {"skip_connections": True}

# preset name → ModelConfig fields ("name" first), and preset name → TrainConfig fields: filled by the registry
PRESETS: dict[str, dict[str, Any]] = {}
PRESET_TRAINING: dict[str, dict[str, Any]] = {}
