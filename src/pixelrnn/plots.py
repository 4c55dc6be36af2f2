"""Pictures a person looks at: sample grids and loss curves as PNG, integer images as ``.npz``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pixelrnn.io import atomic_write


def image_grid(images: torch.Tensor, num_levels: int, columns: int | None = None, scale: int = 1,
               padding: int = 1) -> np.ndarray:
    """Tile integer images into one uint8 picture.

    Args:
        images: integer (N, C, H, W) with values in [0, num_levels − 1]; C is 1 or 3.
        num_levels: intensity levels; values are stretched to 0..255 for display.
        columns: images per row (default: ⌈√N⌉).
        scale: nearest-neighbour enlargement factor (small images are hard to see).
        padding: pixels of white between images.

    Returns:
        uint8 (rows·(H+p)+p, columns·(W+p)+p, C) array, C squeezed away for grey images.
    """
    count, channels, height, width = images.shape
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    pixels = images.detach().to("cpu", torch.float64) * (255.0 / (num_levels - 1))
    pixels = pixels.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()  # (N, H, W, C)
    pixels = pixels.repeat(scale, axis=1).repeat(scale, axis=2)  # (N, sH, sW, C)
    cell_h, cell_w = height * scale + padding, width * scale + padding
    grid = np.full((rows * cell_h + padding, columns * cell_w + padding, channels), 255, dtype=np.uint8)
    for index in range(count):
        top, left = (index // columns) * cell_h + padding, (index % columns) * cell_w + padding
        grid[top:top + height * scale, left:left + width * scale] = pixels[index]
    return grid[..., 0] if channels == 1 else grid


def save_image_grid(images: torch.Tensor, num_levels: int, path: str | Path, columns: int | None = None) -> Path:
    """Write ``image_grid`` as a PNG (enlarged so that small images stay visible); returns the path."""
    height = images.shape[-2]
    scale = max(1, 64 // height)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: Image.fromarray(image_grid(images, num_levels, columns, scale)).save(tmp, "PNG"))
    return path


def save_images_npz(images: torch.Tensor, path: str | Path, labels: torch.Tensor | None = None) -> Path:
    """Write integer images (N, C, H, W) as uint8 ``images`` (and ``labels``) in a ``.npz``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"images": images.detach().cpu().numpy().astype(np.uint8)}
    if labels is not None:
        arrays["labels"] = labels.detach().cpu().numpy().astype(np.int64)
    atomic_write(path, lambda tmp: np.savez_compressed(tmp, **arrays), suffix=".npz")
    return path


def save_loss_curves(train_points: Sequence[tuple[int, float]], valid_points: Sequence[tuple[int, float]],
                     path: str | Path, uniform_bits_per_dim: float | None = None,
                     valid_label: str = "validation") -> Path:
    """Plot training and validation bits/dim against the optimizer step as a PNG (``valid_label`` names the
    validation curve)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4), dpi=100)
    if train_points:
        axes.plot(*zip(*train_points, strict=True), label="train (batch)", alpha=0.6)
    if valid_points:
        axes.plot(*zip(*valid_points, strict=True), "o-", label=valid_label)
    if uniform_bits_per_dim is not None:
        axes.axhline(uniform_bits_per_dim, color="grey", linestyle="--", label="uniform model")
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("bits / dim")
    axes.grid(alpha=0.3)
    axes.legend()
    return _save_figure(figure, path)



def save_score_histograms(scores: dict[str, dict[str, np.ndarray]], path: str | Path,
                          titles: dict[str, str] | None = None, labels: dict[str, str] | None = None) -> Path:
    """One histogram panel per score (``scores[set][score]``, bits/dim), every image set overlaid in it; the
    first set (the in-distribution one) filled, the others outlined; one legend (``labels`` names the sets) on
    the right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(next(iter(scores.values())))
    figure, panels = plt.subplots(1, len(names), figsize=(4.5 * len(names) + 2, 3.5), dpi=100, squeeze=False)
    for axes, score in zip(panels[0], names, strict=True):
        values = [scores[name][score] for name in scores]
        finite = np.concatenate([value[np.isfinite(value)] for value in values])
        bins = np.linspace(finite.min(), finite.max(), 40) if finite.size and np.ptp(finite) > 0 else 10
        for index, (name, value) in enumerate(zip(scores, values, strict=True)):
            axes.hist(value, bins=bins, alpha=0.6 if index == 0 else 1.0, label=(labels or {}).get(name, name),
                      histtype="stepfilled" if index == 0 else "step", linewidth=1.5)
        axes.set_title((titles or {}).get(score, score))
        axes.set_xlabel("bits / dim (higher: more out-of-distribution)")
        axes.grid(alpha=0.3)
    panels[0][0].set_ylabel("images")
    panels[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return _save_figure(figure, path)


def _save_figure(figure, path: str | Path) -> Path:
    """Lay out ``figure``, write it atomically as a PNG (creating the folder) and free it."""
    import matplotlib.pyplot as plt

    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png"))
    plt.close(figure)
    return path
