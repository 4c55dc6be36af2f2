"""Sampling: one entry point, :func:`draw`, over the plain reference sampler and the fast incremental one.

:mod:`pixelrnn.sampling.plain` runs the whole network once per sub-pixel (the reference);
:mod:`pixelrnn.sampling.fast` evaluates it incrementally with the family's stepper
(:mod:`pixelrnn.sampling.steppers`) and draws exactly the plain sampler's images from the same random numbers.
``pixelrnn sample``, ``complete``, the trainer's sample grids and ``fid`` all draw through :func:`draw`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from pixelrnn.errors import ConfigError
from pixelrnn.sampling.fast import fast_sample_images, has_fast_sampler
from pixelrnn.sampling.plain import RowCallback, sample_images

SAMPLERS = ("auto", "fast", "plain")

__all__ = ["SAMPLERS", "RowCallback", "choose_sampler", "draw"]


def choose_sampler(model: torch.nn.Module, sampler: str = "auto") -> Callable[..., torch.Tensor]:
    """The sampling function for ``sampler``: ``fast``, ``plain``, or ``auto`` (fast where the model has one)."""
    if sampler not in SAMPLERS:
        raise ConfigError(f"unknown sampler '{sampler}' (choose from: {', '.join(SAMPLERS)})")
    fast = sampler == "fast" or (sampler == "auto" and has_fast_sampler(model))
    return fast_sample_images if fast else sample_images


def draw(model: torch.nn.Module, num_images: int, seed: int = 0, labels: torch.Tensor | None = None,
         known: torch.Tensor | None = None, temperature: float = 1.0, sampler: str = "auto",
         batch_size: int | None = None, progress: bool = False, on_row: RowCallback | None = None,
         generator: torch.Generator | None = None) -> torch.Tensor:
    """``num_images`` images from ``model`` (in evaluation mode), from one generator seeded with ``seed``.

    Args:
        model: any model of the library, on its device.
        num_images: how many images (≥ 1).
        seed: seed of the sampler's random numbers; the same seed, model and device give the same images.
        labels: int64 (num_images,) class labels of a class-conditional model (default: 0, 1, 2, … cycling).
        known: int64 (num_images, C, H, W), values ≥ 0 to keep and −1 to sample (image completion).
        temperature: divides the logits (1.0: the model's own distribution).
        sampler: ``auto`` (fast where the model has one), ``fast`` or ``plain``.
        batch_size: draw in batches of this many images, one generator throughout (default: all at once).
        progress: a progress bar over rows.
        on_row: called after every row (see :data:`RowCallback`) with the images drawn so far, finished
            batches first; an exception it raises stops the sampling and leaves ``draw``.
        generator: the random numbers to draw with instead of a fresh generator seeded with ``seed`` (on the
            model's device); it advances, so successive calls give new images.

    Returns:
        int64 (num_images, C, H, W) in [0, L − 1], on the model's device.
    """
    if num_images < 1:
        raise ConfigError(f"number of images must be at least 1, got {num_images}")
    sample = choose_sampler(model, sampler)
    device = next(model.parameters()).device
    if generator is None:
        generator = torch.Generator(device=device).manual_seed(seed)
    elif generator.device.type != device.type:
        raise ConfigError(f"the generator is on {generator.device}, the model on {device}: create it there")
    num_classes = model.config.num_classes
    if num_classes and labels is None:
        labels = torch.arange(num_images, device=device) % num_classes
    step = batch_size or num_images
    batches: list[torch.Tensor] = []
    for start in range(0, num_images, step):
        part = slice(start, min(start + step, num_images))
        batches.append(sample(model, part.stop - start, generator=generator, temperature=temperature,
                              labels=None if labels is None else labels[part],
                              known=None if known is None else known[part], progress=progress,
                              on_row=_batch_rows(on_row, batches, math.ceil(num_images / step))))
    return torch.cat(batches)  # (N, C, H, W)


def _batch_rows(on_row: RowCallback | None, finished: list[torch.Tensor], count: int) -> RowCallback | None:
    """A batch's row callback that reports to ``on_row`` over all ``count`` batches, the finished ones included."""
    if on_row is None:
        return None

    def report(images: torch.Tensor, done: int, total: int) -> None:
        on_row(torch.cat([*finished, images]), len(finished) * total + done, count * total)

    return report
