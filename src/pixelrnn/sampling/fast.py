"""Fast exact sampling: incremental evaluation that reuses the work of earlier pixels.

The plain sampler (:func:`pixelrnn.sampling.plain.sample_images`) runs the whole network once per sub-pixel. The
samplers here keep per-layer caches and compute only what a new pixel needs, and draw from the output head in
exactly the plain sampler's order with the same calls, so that the same random numbers give the same images
(tested in float64 for every supported model). :func:`has_fast_sampler` says which models have one.
"""

from __future__ import annotations

import torch
from torch.nn.utils import parametrize
from tqdm.auto import tqdm

from pixelrnn.errors import ConfigError
from pixelrnn.models.multiscale import MultiScalePixelRNN
from pixelrnn.runtime import evaluation_mode
from pixelrnn.sampling.plain import RowCallback, samples_whole_pixels
from pixelrnn.sampling.steppers import Stepper, find_stepper
from pixelrnn.sampling.steppers.recurrent import PixelRNNStepper


def has_fast_sampler(model: torch.nn.Module) -> bool:
    """True for the models that :func:`fast_sample_images` can sample incrementally: those whose class a stepper
    declares (:func:`pixelrnn.sampling.steppers.find_stepper`), and the Multi-Scale PixelRNN (two PixelRNNs)."""
    return find_stepper(model) is not None or isinstance(model, MultiScalePixelRNN)


@torch.no_grad()
def fast_sample_images(model: torch.nn.Module, num_images: int, *, labels: torch.Tensor | None = None,
                       known: torch.Tensor | None = None, temperature: float = 1.0,
                       generator: torch.Generator | None = None, progress: bool = False,
                       on_row: RowCallback | None = None) -> torch.Tensor:
    """Draw images incrementally; arguments and result as :func:`pixelrnn.sampling.plain.sample_images`
    (``on_row`` after every row; the Multi-Scale PixelRNN's small image first, shown on its grid).

    Raises:
        ConfigError: a model without an incremental sampler (see :func:`has_fast_sampler`).
    """
    if not has_fast_sampler(model):
        raise ConfigError(f"{type(model).__name__} has no fast sampler (no stepper declares it): use --sampler plain "
                          "or auto")
    model.head.check_temperature(temperature)
    device = next(model.parameters()).device
    if known is None:
        known = torch.full((num_images, *model.config.image_shape), -1, dtype=torch.long)
    known = known.to(device)
    labels = labels.to(device) if labels is not None else None
    with evaluation_mode(model), parametrize.cached():  # weight-normalised layers compute their weight once
        if isinstance(model, MultiScalePixelRNN):
            return _multiscale(model, known, labels, temperature, generator, progress, on_row)
        stepper = find_stepper(model)(model, len(known), labels)
        return run_stepper(stepper, model, known, temperature, generator, progress, on_row)


def _multiscale(model: MultiScalePixelRNN, known: torch.Tensor, labels: torch.Tensor | None, temperature: float,
                generator: torch.Generator | None, progress: bool, on_row: RowCallback | None) -> torch.Tensor:
    """The small image first (its own PixelRNN), then every other pixel given it, as the model's pixel order."""
    factor = model.config.subsample_factor
    small_known = model.subsample(known)
    small_rows, rows = small_known.shape[-2], known.shape[-2]

    def small_row(small: torch.Tensor, done: int, _: int) -> None:  # the small image shown on the large one's grid
        shown = known.clamp(min=0)
        shown[..., ::factor, ::factor] = small
        on_row(shown, done, small_rows + rows)

    def large_row(images: torch.Tensor, done: int, _: int) -> None:
        on_row(images, small_rows + done, small_rows + rows)

    small_stepper = PixelRNNStepper(model.small_model, len(known), labels)
    small = run_stepper(small_stepper, model.small_model, small_known, temperature, generator, progress,
                        small_row if on_row else None)
    known = known.clone()
    known[..., ::factor, ::factor] = small
    weight = next(model.parameters())
    condition = model.upsample(model.preprocess(small).to(weight.dtype))  # (B, 2h, H, W)
    stepper = PixelRNNStepper(model.large_model, len(known), labels, condition)
    return run_stepper(stepper, model.large_model, known, temperature, generator, progress,
                       large_row if on_row else None)


def run_stepper(stepper: Stepper, model: torch.nn.Module, known: torch.Tensor, temperature: float,
                generator: torch.Generator | None, progress: bool, on_row: RowCallback | None = None) -> torch.Tensor:
    """Raster-order sampling with a stepper: the plain sampler's draws, in its order, from incremental params.

    Args:
        known: int64 (B, C, H, W), values ≥ 0 to keep and −1 to sample.
        on_row: called after every row (see :data:`pixelrnn.sampling.plain.RowCallback`).

    Returns:
        int64 (B, C, H, W) images.
    """
    images = known.clamp(min=0)  # (B, C, H, W)
    channels, height, width = known.shape[1:]
    joint = samples_whole_pixels(model, known)
    size = None if joint else model.head.num_params(1)  # parameters per sub-pixel (a joint head has none)
    for row in tqdm(range(height), desc="sampling rows", disable=not progress, leave=False):
        for col in range(width):
            if joint:
                _draw_pixel(stepper, model, images, known, (row, col), temperature, generator)
                continue
            to_sample = [channel for channel in range(channels) if bool((known[:, channel, row, col] < 0).any())]
            for channel in to_sample:
                params = stepper.params_at(images, row, col)[:, channel * size:(channel + 1) * size, None, None]
                drawn = model.head.sample(params, temperature=temperature, generator=generator)[:, 0, 0, 0]  # (B,)
                missing = known[:, channel, row, col] < 0
                images[:, channel, row, col] = torch.where(missing, drawn, images[:, channel, row, col])
            if not to_sample or to_sample[-1] != channels - 1:  # caches must see every channel drawn so far
                stepper.params_at(images, row, col)
        stepper.end_row(row)
        if on_row is not None:
            on_row(images, row + 1, height)
    return images


def _draw_pixel(stepper: Stepper, model: torch.nn.Module, images: torch.Tensor, known: torch.Tensor,
                where: tuple[int, int], temperature: float, generator: torch.Generator | None) -> None:
    """All channels of pixel (row, col) at once from a joint head, into ``images`` in place (unknown ones only).

    The stepper's caches at (row, col) never read the pixel itself, so one ``params_at`` call serves both the
    draw and the caches.
    """
    row, col = where
    params = stepper.params_at(images, row, col)[:, :, None, None]  # (B, P_pixel, 1, 1)
    missing = known[:, 0, row, col] < 0  # (B,)
    if bool(missing.any()):
        drawn = model.head.sample(params, temperature=temperature, generator=generator)[:, :, 0, 0]  # (B, C)
        images[:, :, row, col] = torch.where(missing[:, None], drawn, images[:, :, row, col])
