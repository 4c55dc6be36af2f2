"""``complete``: image completion — keep the top of an image, sample the rest. The form of ``pixelrnn complete``.

As the completion figures of the PixelRNN paper: the known part is a raster prefix (the top rows, or the first
N pixels in raster order), and every completion is an exact sample of the model given it. The grid shows the
original, the occluded input (unknown pixels mid-grey) and the completions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pixelrnn.checkpoint import load_checkpoint
from pixelrnn.data import load_dataset
from pixelrnn.data.formats import read_pngs
from pixelrnn.errors import ConfigError, DataError, describe_shape
from pixelrnn.evaluate import stored_data_config
from pixelrnn.sample import sample
from pixelrnn.sampling import RowCallback


def image_from_png(path: str | Path, image_shape: tuple[int, int, int], num_levels: int) -> torch.Tensor:
    """A PNG (grey or RGB, 0..255) as the model's int64 (C, H, W) levels: v · (L − 1) / 255, rounded.

    Raises:
        DataError: not a readable PNG, or another shape than the model's.
    """
    return levels_from_pixels(read_pngs([Path(path)])[0], image_shape, num_levels, str(path))


def levels_from_pixels(pixels: np.ndarray, image_shape: tuple[int, int, int], num_levels: int,
                       name: str = "the image") -> torch.Tensor:
    """uint8 (C, H, W) grey values 0..255 as the model's int64 (C, H, W) levels: v · (L − 1) / 255, rounded.

    Raises:
        DataError: another shape than the model's (``name`` says which image).
    """
    if tuple(pixels.shape) != tuple(image_shape):
        expected, got = describe_shape(image_shape), describe_shape(tuple(pixels.shape))
        raise DataError(f"the model expects {expected} images, {name} is {got}")
    return torch.round(torch.from_numpy(pixels.astype(np.int64)).double() * (num_levels - 1) / 255).long()


def dataset_test_image(checkpoint: dict, index: int, data_path: str | None = None) -> torch.Tensor:
    """Test image ``index`` of the data set the checkpoint was trained on: int64 (C, H, W).

    Args:
        data_path: where that data set lies here (its files or a ``.npz``), when not where the checkpoint says
            (a pretrained model names no path).
    """
    test = load_dataset(stored_data_config(checkpoint, data_path)).test
    if not 0 <= index < len(test):
        raise ConfigError(f"--test-index must be in [0, {len(test) - 1}], got {index}")
    return test.images[index].long()


def known_prefix(image: torch.Tensor, keep_rows: int | None = None, keep_pixels: int | None = None) -> torch.Tensor:
    """int64 (C, H, W): the image's values on its first rows / pixels in raster order, −1 elsewhere."""
    channels, height, width = image.shape
    if (keep_rows is None) == (keep_pixels is None):
        raise ConfigError("give exactly one of keep_rows and keep_pixels")
    kept = keep_pixels if keep_pixels is not None else keep_rows * width
    if not 0 <= kept < height * width:
        limit = f"[0, {height - 1}] rows" if keep_pixels is None else f"[0, {height * width - 1}] pixels"
        raise ConfigError(f"keep {limit} of a {height}×{width} image, got {keep_rows if keep_pixels is None else kept}")
    known = torch.full_like(image, -1).reshape(channels, -1)  # (C, H·W)
    known[:, :kept] = image.reshape(channels, -1)[:, :kept]
    return known.reshape(channels, height, width)


def complete(checkpoint_path: str | Path | dict, image: torch.Tensor, known: torch.Tensor, num_samples: int = 8,
             seed: int = 0, temperature: float = 1.0, label: int | None = None, device: str = "auto",
             sampler: str = "auto", on_row: RowCallback | None = None) -> tuple[torch.Tensor, int]:
    """Sample ``num_samples`` completions of ``known`` (C, H, W; −1 = to sample) from a checkpoint's model.

    ``checkpoint_path`` may be a checkpoint already read (see :func:`pixelrnn.sample.sample`). A class-conditional
    model completes as class ``label`` (None: the classes 0, 1, … in turn). ``on_row`` sees the completions so far
    after every row (see :func:`pixelrnn.sampling.draw`).

    Raises:
        ConfigError: a ``label`` for an unconditional model, or outside [0, num_classes − 1].

    Returns:
        (the grid's images int64 (2 + num_samples, C, H, W): original, occluded (unknown = mid level),
        completions; num_levels).
    """
    checkpoint = checkpoint_path if isinstance(checkpoint_path, dict) else load_checkpoint(checkpoint_path)
    num_classes = int(checkpoint["model_config"]["num_classes"])
    if label is not None and not num_classes:
        raise ConfigError("the model is unconditional: drop --class")
    if label is not None and not 0 <= label < num_classes:
        raise ConfigError(f"--class must be in [0, {num_classes - 1}], got {label}")
    known_batch = known.unsqueeze(0).expand(num_samples, *known.shape).clone()  # (N, C, H, W)
    labels = None if label is None else torch.full((num_samples,), label, dtype=torch.long)
    completions, num_levels = sample(checkpoint, num_samples, seed=seed, temperature=temperature,
                                     labels=labels, device=device, sampler=sampler, known=known_batch,
                                     on_row=on_row)
    return torch.cat([image[None], occluded(known, num_levels)[None], completions.cpu()]), num_levels


def occluded(known: torch.Tensor, num_levels: int) -> torch.Tensor:
    """``known`` (C, H, W) as the grid shows it: the unknown sub-pixels (−1) at the mid level (L − 1) // 2."""
    return torch.where(known >= 0, known, torch.full_like(known, (num_levels - 1) // 2))
