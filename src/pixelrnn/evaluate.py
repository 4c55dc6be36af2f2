"""``evaluate``: the exact NLL of a checkpoint's model over a whole split. The library form of ``pixelrnn eval``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from pixelrnn.checkpoint import load_checkpoint, model_from_checkpoint
from pixelrnn.config import DataConfig, from_dict
from pixelrnn.data import SPLITS, check_data_fits_model, iterate_batches, load_dataset
from pixelrnn.errors import CheckpointError, ConfigError
from pixelrnn.likelihood import NLLResult, evaluate_nll, uniform_bits_per_dim
from pixelrnn.runtime import setup_runtime, teardown_runtime


@dataclass(frozen=True)
class Evaluation:
    """An exact evaluation: the NLL result, what it was measured on, and a warning when a test NLL covers only the
    first ``--max-test-images`` of the test images."""

    result: NLLResult
    data_name: str
    split: str
    num_levels: int
    partial_note: str = ""  # a warning when a test NLL covers only part of the test set

    @property
    def uniform_bits_per_dim(self) -> float:
        """The uniform model's bits/dim on the same data (8.000 for 256 levels)."""
        return uniform_bits_per_dim(self.num_levels)


def check_split_and_batch_size(split: str, batch_size: int) -> None:
    """ConfigError for a split that is not in ``SPLITS`` or a batch size below 1."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split '{split}' (choose from: {', '.join(SPLITS)})")
    if batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, got {batch_size}")


def stored_data_config(checkpoint: dict, path: str | None = None) -> DataConfig:
    """The data set a checkpoint was trained on; CheckpointError if it names none.

    ``path``: where that data set lies on this machine (its files or a ``.npz``), when not where the checkpoint
    says (a pretrained model names no path)."""
    stored = checkpoint["data"].get("config")
    if stored is None:
        raise CheckpointError("the checkpoint does not name its data set: pass one (--data)")
    data = from_dict(DataConfig, stored)
    return dataclasses.replace(data, path=path) if path else data


def evaluate(checkpoint_path: str | Path, split: str = "test", data: DataConfig | None = None,
             batch_size: int = 256, device: str = "auto") -> Evaluation:
    """Exact NLL of a checkpoint's model over every image of a split, each counted once.

    Runs under torchrun too: every process evaluates its shard and the sums are all-reduced.

    Args:
        checkpoint_path: a ``.pt`` checkpoint, or a run folder (its ``last.pt``).
        split: ``test``, ``valid`` or ``train``.
        data: the data set (default: the one stored in the checkpoint).
        batch_size: images per forward pass.
        device: ``auto``, ``cpu`` or ``cuda[:N]``.
    """
    check_split_and_batch_size(split, batch_size)
    checkpoint = load_checkpoint(checkpoint_path)
    data = data or stored_data_config(checkpoint)
    runtime = setup_runtime(device)
    try:
        model = model_from_checkpoint(checkpoint, runtime.device)
        dataset = load_dataset(data)
        check_data_fits_model(dataset, model.config)
        images = getattr(dataset, split)
        batches = iterate_batches(images, batch_size, shuffle=False, rank=runtime.rank,
                                  world_size=runtime.world_size)
        with torch.inference_mode():
            result = evaluate_nll(model, batches, runtime, conditional=model.config.num_classes > 0)
    finally:
        teardown_runtime(runtime)
    note = dataset.partial_test_note(result.num_images) if split == "test" else ""
    return Evaluation(result=result, data_name=dataset.name, split=split, num_levels=dataset.num_levels,
                      partial_note=note)
