"""The plain autoregressive sampler: one network pass per sub-pixel, in the model's pixel order then R→G→B.

The pixel order is raster order for every model but the Multi-Scale PixelRNN (its small image first).

It works for every model in the registry because it uses only ``model(x, y) -> params`` and the model's
output head. It is the reference that faster incremental samplers must reproduce exactly.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm


@torch.no_grad()
def sample_images(
    model: torch.nn.Module,
    num_images: int,
    *,
    labels: torch.Tensor | None = None,
    known: torch.Tensor | None = None,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Draw images from an autoregressive image model.

    Args:
        model: an ``AutoregressiveImageModel`` (unwrapped); its parameters' device is used.
        num_images: B, the number of images.
        labels: int64 (B,) class labels, for class-conditional models.
        known: int64 (B, C, H, W) with values ≥ 0 at sub-pixels to keep and −1 where to sample
            (image completion); None samples every sub-pixel.
        temperature: divides the logits (1.0 samples the model's own distribution).
        generator: source of the random numbers, on the model's device; the same seed gives the same images.
        progress: show a progress bar over pixels.

    Returns:
        int64 (B, C, H, W) images with values in [0, num_levels − 1].
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    channels, height, width = model.config.image_shape
    device = next(model.parameters()).device
    if known is None:
        known = torch.full((num_images, channels, height, width), -1, dtype=torch.long)
    known = known.to(device)
    images = known.clamp(min=0)  # (B, C, H, W); unknown sub-pixels start at 0 and are overwritten in order
    labels = labels.to(device) if labels is not None else None
    params_per_subpixel = model.head.params_per_subpixel
    was_training = model.training
    model.eval()
    for row, col in tqdm(model.pixel_order(), desc="sampling pixels", disable=not progress, leave=False):
        for channel in range(channels):
            to_sample = known[:, channel, row, col] < 0
            if not bool(to_sample.any()):
                continue
            params = model(images, labels)  # (B, C*P, H, W)
            first = channel * params_per_subpixel
            pixel_params = params[:, first:first + params_per_subpixel, row:row + 1, col:col + 1]  # (B, P, 1, 1)
            drawn = model.head.sample(pixel_params, temperature=temperature, generator=generator)  # (B, 1, 1, 1)
            images[:, channel, row, col] = torch.where(to_sample, drawn[:, 0, 0, 0], images[:, channel, row, col])
    model.train(was_training)
    return images
