"""Pictures in and out of the page: uploaded PNGs as grey values, integer images as enlarged uint8 grids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pixelrnn.data.formats import read_pngs
from pixelrnn.errors import DataError
from pixelrnn.plots import image_grid

SHOWN_SIZE = 128  # pixels: each image is enlarged (nearest neighbour, a whole factor) to about this side


def read_upload(path: str | Path) -> tuple[np.ndarray, str]:
    """An uploaded file as (uint8 (C, H, W) grey values 0..255, its file name): a greyscale or RGB PNG.

    Raises:
        DataError: not a PNG, unreadable, or another mode than L / RGB; the message names the file by its name
            alone (not the server's temporary path).
    """
    path = Path(path)
    try:
        pixels = read_pngs([path])[0]  # (C, H, W)
    except DataError as error:
        raise DataError(str(error).replace(str(path), path.name)) from None
    return pixels, path.name


def picture(images: torch.Tensor, num_levels: int, columns: int | None = None) -> np.ndarray:
    """Integer images (N, C, H, W) as one uint8 grid (``image_grid``), each enlarged to about ``SHOWN_SIZE``."""
    scale = max(1, SHOWN_SIZE // max(images.shape[-2:]))
    return image_grid(images, num_levels, columns, scale=scale, padding=max(1, scale // 4))
