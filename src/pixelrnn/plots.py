"""Pictures a person looks at: sample grids and loss curves as PNG, integer images as ``.npz``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pixelrnn.io import atomic_write

MIN_CELL_PIXELS = 96  # a sample grid shows each image at least this large (nearest-neighbour enlargement)


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


def display_scale(height: int, width: int) -> int:
    """Nearest-neighbour enlargement that shows an H×W image at least :data:`MIN_CELL_PIXELS` pixels on its
    longer side (28×28 MNIST ×4, 8×8 digits ×12, 32×32 CIFAR-10 ×3); 1 for larger images."""
    return max(1, math.ceil(MIN_CELL_PIXELS / max(height, width)))


def save_image_grid(images: torch.Tensor, num_levels: int, path: str | Path, columns: int | None = None,
                    row_labels: Sequence[str] | None = None, column_labels: Sequence[str] | None = None) -> Path:
    """Write ``image_grid`` as a PNG, enlarged by :func:`display_scale`; returns the path.

    Args:
        row_labels: a caption left of each grid row (e.g. ``class 3``).
        column_labels: a caption above each grid column (e.g. ``original``, ``occluded``, ``completion 1``).
    """
    height, width = images.shape[-2:]
    scale = display_scale(height, width)
    padding = 1 if scale == 1 else max(2, scale // 4)  # a gap the eye sees between enlarged images
    picture = Image.fromarray(image_grid(images, num_levels, columns, scale, padding))
    if row_labels or column_labels:
        picture = _labelled(picture, (width * scale + padding, height * scale + padding), padding, row_labels or [],
                            column_labels or [])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: picture.save(tmp, "PNG"))
    return path


def _labelled(grid: Image.Image, cell: tuple[int, int], padding: int, row_labels: Sequence[str],
              column_labels: Sequence[str]) -> Image.Image:
    """``grid`` (cells of ``cell`` = (width, height) pixels after a ``padding`` border) with a white margin on the
    left holding ``row_labels`` (centred on each row) and one on top holding ``column_labels`` (centred on each
    column), in a font small enough for a column label to fit its cell."""
    from PIL import ImageDraw, ImageFont

    cell_width, cell_height = cell
    size = 14
    font = ImageFont.load_default(size=size)
    while size > 7 and max((font.getlength(text) for text in column_labels), default=0) > cell_width - 4:
        size -= 1
        font = ImageFont.load_default(size=size)
    left = math.ceil(max((font.getlength(text) for text in row_labels), default=-8)) + 8
    top = size + 8 if column_labels else 0
    labelled = Image.new(grid.mode, (grid.width + left, grid.height + top), 255 if grid.mode == "L" else "white")
    labelled.paste(grid, (left, top))
    draw, ink = ImageDraw.Draw(labelled), 0 if grid.mode == "L" else "black"
    for row, text in enumerate(row_labels):
        draw.text((left - 4, top + padding + row * cell_height + cell_height // 2), text, fill=ink, font=font,
                  anchor="rm")
    for column, text in enumerate(column_labels):
        draw.text((left + padding + column * cell_width + cell_width // 2, top - 3), text, fill=ink, font=font,
                  anchor="md")
    return labelled


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
                     valid_label: str = "validation", title: str = "") -> Path:
    """Plot training and validation bits/dim against the optimizer step as a PNG (``valid_label`` names the
    validation curve, ``title`` the run). The uniform model's level is drawn inside the axes, whatever the curves'
    range, and a curve of one point is a marker, so that every legend entry is visible."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4), dpi=100)
    if train_points:
        axes.plot(*zip(*train_points, strict=True), "." if len(train_points) < 2 else "-", label="train (batch)",
                  alpha=0.6)
    if valid_points:
        axes.plot(*zip(*valid_points, strict=True), "o-", label=valid_label)
    if uniform_bits_per_dim is not None:
        axes.axhline(uniform_bits_per_dim, color="grey", linestyle="--",
                     label=f"uniform model ({uniform_bits_per_dim:.3f})")
        low, high = axes.get_ylim()
        margin = 0.05 * (max(high, uniform_bits_per_dim) - min(low, uniform_bits_per_dim) or 1.0)
        axes.set_ylim(min(low, uniform_bits_per_dim - margin), max(high, uniform_bits_per_dim + margin))
    axes.xaxis.get_major_locator().set_params(integer=True)  # steps are whole numbers
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("bits / dim")
    if title:
        axes.set_title(title, fontsize="medium")
    axes.grid(alpha=0.3)
    axes.legend(loc="best")
    return save_figure(figure, path)


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
    return save_figure(figure, path)


def save_figure(figure, path: str | Path) -> Path:
    """Lay out ``figure``, write it atomically as a PNG (creating the folder) and free it."""
    import matplotlib.pyplot as plt

    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png"))
    plt.close(figure)
    return path
