"""The plain autoregressive sampler: one network pass per sub-pixel, in the model's pixel order then R→G→B.

The pixel order is raster order for every model but the Multi-Scale PixelRNN (its small image first).

It works for every model in the registry because it uses only ``model(x, y) -> params`` and the model's
output head. It is the reference that faster incremental samplers must reproduce exactly.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from pixelrnn.errors import ConfigError
from pixelrnn.runtime import evaluation_mode

# on_row(images so far int64 (B, C, H, W), rows done, rows in all): what a sampler reports after every row (or, in
# a model's own pixel order, every W pixels); an exception it raises stops the sampling and leaves the sampler
RowCallback = Callable[[torch.Tensor, int, int], None]


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
    on_row: RowCallback | None = None,
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
        on_row: called after every W pixels of the model's pixel order (a row in raster order), see
            :data:`RowCallback`.

    Returns:
        int64 (B, C, H, W) images with values in [0, num_levels − 1].
    """
    model.head.check_temperature(temperature)
    channels, height, width = model.config.image_shape
    device = next(model.parameters()).device
    if known is None:
        known = torch.full((num_images, channels, height, width), -1, dtype=torch.long)
    known = known.to(device)
    images = known.clamp(min=0)  # (B, C, H, W); unknown sub-pixels start at 0 and are overwritten in order
    labels = labels.to(device) if labels is not None else None
    joint = samples_whole_pixels(model, known)
    with evaluation_mode(model):
        order = model.pixel_order()
        for index, (row, col) in enumerate(tqdm(order, desc="sampling pixels", disable=not progress, leave=False)):
            for channel in [None] if joint else range(channels):
                to_sample = known[:, 0 if joint else channel, row, col] < 0  # (B,)
                if bool(to_sample.any()):
                    _draw(model, images, labels, (row, col, channel), to_sample, temperature, generator)
            if on_row is not None and (index + 1) % width == 0:
                on_row(images, (index + 1) // width, height)
    return images


def samples_whole_pixels(model: torch.nn.Module, known: torch.Tensor) -> bool:
    """True when the model's head draws all channels of a pixel at once (PixelCNN++'s mixture).

    Raises:
        ConfigError: such a model given ``known`` (B, C, H, W) with some, not all, channels of a pixel kept.
    """
    joint = model.head.joint_channels
    if joint and bool(((known >= 0).any(dim=1) != (known >= 0).all(dim=1)).any()):
        raise ConfigError("this model samples whole pixels: give every channel of a known pixel, or none")
    return joint


def _draw(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor | None,
          where: tuple[int, int, int | None], to_sample: torch.Tensor, temperature: float,
          generator: torch.Generator | None) -> None:
    """Draw sub-pixel (row, col, channel) — or the whole pixel when channel is None — into ``images`` in place."""
    row, col, channel = where
    params = model(images, labels)  # (B, C·P, H, W), or (B, P_pixel, H, W) for a joint head
    if channel is None:
        drawn = model.head.sample(params[..., row:row + 1, col:col + 1], temperature=temperature,
                                  generator=generator)[:, :, 0, 0]  # (B, C)
        images[:, :, row, col] = torch.where(to_sample[:, None], drawn, images[:, :, row, col])
        return
    size = model.head.num_params(1)
    pixel_params = params[:, channel * size:(channel + 1) * size, row:row + 1, col:col + 1]  # (B, P, 1, 1)
    drawn = model.head.sample(pixel_params, temperature=temperature, generator=generator)  # (B, 1, 1, 1)
    images[:, channel, row, col] = torch.where(to_sample, drawn[:, 0, 0, 0], images[:, channel, row, col])
