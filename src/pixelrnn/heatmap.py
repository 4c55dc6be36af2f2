"""``heatmap``: where in an image a model spends its bits. The library form of ``pixelrnn heatmap``.

One forward pass of the model and its head give −log p(x_c | everything before it) for every sub-pixel (the
PixelCNN++ head: the terms of its R, G | R, B | R, G factorisation); they sum to −log p(x) of ``model.log_prob``.
The picture shows the image beside a map of bits per pixel (the sum over its channels), and for colour images one
map per channel, with a colour bar and the total in the title.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch


@torch.no_grad()
def subpixel_nats(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """−log p(x_c | x_<c) of every sub-pixel in **nats**: float64 (N, C, H, W), from one pass of ``forward``.

    The head scores the parameters in float64, so the terms sum to ``−model.log_prob(images, labels)`` up to
    float64 rounding for a float64 model (float32 rounding for a float32 one).

    Args:
        model: a model of the library (put in evaluation mode).
        images: integer (N, C, H, W) levels.
        labels: int64 (N,) class labels, for (and only for) a class-conditional model.
    """
    model.eval()
    params = model(images, labels)  # (N, C·P, H, W), or (N, P_pixel, H, W) for a joint head
    return -model.head.log_prob_per_subpixel(params.double(), images).double()


def save_heatmap(images: torch.Tensor, nats: torch.Tensor, num_levels: int, path: str | Path,
                 names: list[str] | None = None) -> Path:
    """A PNG with one row per image: the image, its bits per pixel, and (colour images) bits per channel.

    Args:
        images: integer (N, C, H, W) levels; nats: (N, C, H, W) from :func:`subpixel_nats`.
        names: a caption per image (default: image 0, 1, …).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    count, channels = images.shape[:2]
    bits = nats.double().cpu().numpy() / math.log(2)  # (N, C, H, W)
    panels = 2 + (channels if channels > 1 else 0)
    figure, axes = plt.subplots(count, panels, figsize=(3.2 * panels, 3.2 * count), squeeze=False)
    for index in range(count):
        name = names[index] if names else f"image {index}"
        total = float(bits[index].sum())
        axes[index, 0].set_title(f"{name}: −log2 p(x) = {total:.1f} bits, {total / bits[index].size:.3f} bits/dim",
                                 fontsize=9, loc="left")
        _show_image(axes[index, 0], images[index], num_levels)
        maps = [("bits per pixel", bits[index].sum(axis=0))]
        if channels == 3:
            maps += list(zip(("R", "G | R", "B | R, G"), bits[index], strict=True))
        for axis, (title, values) in zip(axes[index, 1:], maps, strict=True):
            shown = axis.imshow(values, cmap="inferno", interpolation="nearest", vmin=0)
            axis.set_title(title, fontsize=9)
            axis.set_axis_off()
            figure.colorbar(shown, ax=axis, fraction=0.046, pad=0.04, label="bits")
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=100)
    plt.close(figure)
    return path


def _show_image(axis, image: torch.Tensor, num_levels: int) -> None:
    """The image (C, H, W) in grey values 0..255, enlarged nearest neighbour."""
    pixels = torch.round(image.double().cpu() * 255 / (num_levels - 1)).to(torch.uint8).permute(1, 2, 0).numpy()
    if pixels.shape[-1] == 1:
        axis.imshow(pixels[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        axis.imshow(np.ascontiguousarray(pixels), interpolation="nearest")
    axis.set_axis_off()
