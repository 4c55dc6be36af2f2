"""The checkpoints a page serves: each read once, its model kept on the CPU, its card written from what it stores.

A model's card says what a person needs before judging its pictures: the family, the data it was trained on
(image shape, levels, classes), the number of parameters, which weights are loaded, how far it trained, and its
exact test NLL when the run recorded one (the ``test`` line of its run folder's ``metrics.jsonl``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pixelrnn.checkpoint import load_checkpoint, model_from_checkpoint
from pixelrnn.compress import levels_to_bytes, split_images
from pixelrnn.config import ModelConfig
from pixelrnn.errors import ConfigError, PixelRNNError, describe_shape
from pixelrnn.export import recorded_test_metrics


@dataclass
class LoadedModel:
    """One checkpoint of the page.

    Attributes:
        name: how the page names it (the path as given).
        checkpoint: the checkpoint as read (``sample`` and ``complete`` take it as it is).
        model: its model on the CPU, in evaluation mode (heat maps, compression, classification).
        test: the run's recorded ``test`` metrics line, or None.
    """

    name: str
    checkpoint: dict[str, Any]
    model: torch.nn.Module
    test: dict[str, Any] | None
    _test_split: tuple[torch.Tensor, torch.Tensor] | None = field(default=None, repr=False)
    _prior: tuple[torch.Tensor, str] | None = field(default=None, repr=False)

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    @property
    def num_classes(self) -> int:
        return int(self.config.num_classes)

    def test_split(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(int64 (N, C, H, W) levels, int64 (N,) labels) of the test split of the checkpoint's data set, read once.

        Raises:
            PixelRNNError: the checkpoint names no data set, or its files cannot be read here.
        """
        if self._test_split is None:
            self._test_split = split_images(self.checkpoint, "test", None)
        return self._test_split

    def class_log_prior(self) -> tuple[torch.Tensor, str]:
        """(float64 (K,) log p(y), where it comes from), read once: the training labels' smoothed frequencies as
        ``pixelrnn classify`` uses them, or uniform when the data set cannot be read here."""
        if self._prior is None:
            self._prior = _class_log_prior(self.checkpoint, self.num_classes)
        return self._prior


def load_models(paths: list[str]) -> dict[str, LoadedModel]:
    """Read every checkpoint (a ``.pt`` file or a run folder): {name: model}, in the order given.

    Raises:
        CheckpointError: a missing, corrupt or foreign file (the first one).
        ConfigError: no checkpoint, or the same one named twice.
    """
    if not paths:
        raise ConfigError("name at least one checkpoint")
    if len(set(paths)) != len(paths):
        raise ConfigError("a checkpoint is named twice")
    models = {}
    for path in paths:
        checkpoint = load_checkpoint(path)
        models[path] = LoadedModel(path, checkpoint, model_from_checkpoint(checkpoint, "cpu"),
                                   recorded_test_metrics(Path(path)))
    return models


def model_card(loaded: LoadedModel) -> str:
    """The card as Markdown: a title line, then one bullet per fact."""
    config, checkpoint = loaded.config, loaded.checkpoint
    data = checkpoint.get("data") or {}
    parameters = sum(parameter.numel() for parameter in loaded.model.parameters())
    classes = f", {loaded.num_classes} classes (class-conditional)" if loaded.num_classes else ", unconditional"
    progress = checkpoint.get("progress") or {}
    trained = (f"{_count(progress['epoch'], 'epoch')}, {_count(progress['step'], 'step')}" if "step" in progress
               else "no training record")
    weights = "the moving average (Polyak)" if checkpoint.get("ema") is not None else "the raw weights"
    return "\n".join([
        f"### {type(loaded.model).__name__} (`{config.name}`)",
        f"- data: **{data.get('name', 'unknown')}**, {describe_shape(config.image_shape)} images, "
        f"{config.num_levels} levels{classes}",
        f"- parameters: {parameters:,}; weights: {weights}; trained: {trained}",
        f"- test NLL: {_test_line(loaded.test, config)}",
        f"- file: `{loaded.name}`",
    ])


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _test_line(test: dict[str, Any] | None, config: ModelConfig) -> str:
    if test is None:
        return "not recorded (no test line in the run folder's metrics.jsonl)"
    uniform = math.log2(config.num_levels)
    return (f"**{test['bits_per_dim']:.4f} bits/dim** ({test['nats_per_image']:.2f} nats/image) over "
            f"{test['num_images']:,} test images, exact; a uniform model: {uniform:.3f} bits/dim")


def picked_test_image(loaded: LoadedModel, index: int) -> tuple[np.ndarray, int | None]:
    """Test image ``index`` of the checkpoint's data set: (uint8 (C, H, W) grey values 0..255, its label or None).

    Raises:
        ConfigError: an index outside the split; PixelRNNError: a data set that cannot be read here.
    """
    images, labels = loaded.test_split()
    if not 0 <= index < len(images):
        raise ConfigError(f"the test image index must be in [0, {len(images) - 1}], got {index}")
    label = int(labels[index]) if loaded.num_classes and int(labels[index]) >= 0 else None
    return levels_to_bytes(images[index:index + 1], loaded.config.num_levels)[0], label


def _class_log_prior(checkpoint: dict[str, Any], count: int) -> tuple[torch.Tensor, str]:
    from pixelrnn.classify import class_log_prior
    from pixelrnn.data import load_dataset
    from pixelrnn.evaluate import stored_data_config

    try:
        labels = load_dataset(stored_data_config(checkpoint)).train.labels
    except PixelRNNError:
        return torch.full((count,), -math.log(count), dtype=torch.float64), "uniform (the training data is not here)"
    return class_log_prior(labels, count), "the training labels' frequencies"
