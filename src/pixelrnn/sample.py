"""``sample``: images drawn from a checkpoint's model. The library form of ``pixelrnn sample``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from pixelrnn.checkpoint import load_checkpoint, model_from_checkpoint
from pixelrnn.errors import ConfigError
from pixelrnn.runtime import resolve_device
from pixelrnn.sampling import SAMPLERS, RowCallback, draw

__all__ = ["SAMPLERS", "sample"]


def sample(checkpoint_path: str | Path | dict[str, Any], num_images: int = 64, seed: int = 0, temperature: float = 1.0,
           labels: torch.Tensor | None = None, device: str = "auto", progress: bool = False,
           sampler: str = "auto", known: torch.Tensor | None = None,
           on_row: RowCallback | None = None) -> tuple[torch.Tensor, int]:
    """Draw images from the model stored in a checkpoint.

    The same checkpoint, seed, number of images and device give the same images.

    Args:
        checkpoint_path: a ``.pt`` checkpoint, or a run folder (its ``last.pt``), or a checkpoint already read
            with :func:`~pixelrnn.checkpoint.load_checkpoint` (not read again).
        num_images: how many images.
        seed: seed of the sampler's random numbers.
        temperature: divides the logits (1.0: the model's own distribution).
        labels: int64 (num_images,) class labels for a class-conditional model (default: 0, 1, 2, … cycling).
        device: ``auto``, ``cpu`` or ``cuda[:N]``.
        progress: show a progress bar over rows.
        sampler: ``fast`` (incremental, :mod:`pixelrnn.sampling.fast`), ``plain`` (one network pass per sub-pixel,
            the reference) or ``auto`` (fast where the model has one).
        known: int64 (num_images, C, H, W), values ≥ 0 to keep and −1 to sample (image completion).
        on_row: called with the images so far after every row (see :func:`pixelrnn.sampling.draw`).

    Returns:
        (images int64 (N, C, H, W) in [0, L − 1], num_levels L).
    """
    checkpoint = checkpoint_path if isinstance(checkpoint_path, dict) else load_checkpoint(checkpoint_path)
    _check_memory(num_images, checkpoint["model_config"])
    model = model_from_checkpoint(checkpoint, resolve_device(device))
    images = draw(model, num_images, seed=seed, labels=labels, known=known, temperature=temperature, sampler=sampler,
                  progress=progress, on_row=on_row)
    return images, model.config.num_levels


def _check_memory(num_images: int, model_config: dict[str, Any]) -> None:
    """Refuse a number of images whose int64 results alone would not fit in this machine's memory."""
    per_image = 8 * model_config["image_channels"] * model_config["image_height"] * model_config["image_width"]
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system: no check
        return
    if num_images * per_image > memory:
        raise ConfigError(f"{num_images} images need {num_images * per_image / 2**30:.1f} GiB for the results alone; "
                          f"this machine has {memory / 2**30:.1f} GiB: draw fewer (several calls with other --seed "
                          "values add up)")
