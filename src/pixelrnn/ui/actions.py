"""What each control of the page does, as plain functions over the library's tasks (no gradio here).

Samples and completions come from :func:`pixelrnn.sample.sample` and :func:`pixelrnn.complete.complete` — the
functions of ``pixelrnn sample`` and ``pixelrnn complete``, drawing through ``sampling.draw`` with the fast
sampler — and report their rows to ``on_row``. The heat map is ``pixelrnn heatmap``'s picture, compression
``pixelrnn compress``'s archive next to the PNG of the same image, the class scores ``pixelrnn classify``'s
log p(x | y) + log p(y). Images arrive as uint8 (C, H, W) grey values 0..255 (an upload, or a test image);
every wrong input raises a PixelRNNError with a one-line message for the page.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pixelrnn.classify import log_joint
from pixelrnn.complete import complete, known_prefix, levels_from_pixels, occluded
from pixelrnn.compress import baseline_sizes, bytes_to_levels, compress_images
from pixelrnn.errors import ConfigError
from pixelrnn.heatmap import save_heatmap, subpixel_nats
from pixelrnn.sample import sample
from pixelrnn.sampling import RowCallback
from pixelrnn.ui.session import LoadedModel

MAX_IMAGES = 64  # samples or completions per click


@dataclass(frozen=True)
class Drawing:
    """How to draw: ``count`` images from ``seed`` at ``temperature``; ``label`` None = the classes in turn."""

    count: int
    seed: int = 0
    temperature: float = 1.0
    label: int | None = None

    def checked(self, loaded: LoadedModel) -> Drawing:
        """This drawing, or ConfigError naming what does not fit the model."""
        if not 1 <= self.count <= MAX_IMAGES:
            raise ConfigError(f"draw 1 to {MAX_IMAGES} images at a time, got {self.count}")
        check_label(loaded, self.label, required=False)
        return self


def check_label(loaded: LoadedModel, label: int | None, required: bool) -> None:
    """ConfigError for a class given to an unconditional model, one outside [0, K − 1], or none where needed."""
    count = loaded.num_classes
    if label is None:
        if required and count:
            raise ConfigError(f"the model is class-conditional: choose a class in [0, {count - 1}]")
        return
    if not count:
        raise ConfigError("the model is unconditional: it takes no class")
    if not 0 <= label < count:
        raise ConfigError(f"the class must be in [0, {count - 1}], got {label}")


def draw_samples(loaded: LoadedModel, drawing: Drawing, device: str = "auto",
                 on_row: RowCallback | None = None) -> torch.Tensor:
    """int64 (N, C, H, W) samples of the model, as ``pixelrnn sample`` draws them (fast sampler)."""
    drawing = drawing.checked(loaded)
    labels = None if drawing.label is None else torch.full((drawing.count,), drawing.label, dtype=torch.long)
    images, _ = sample(loaded.checkpoint, drawing.count, seed=drawing.seed, temperature=drawing.temperature,
                       labels=labels, device=device, sampler="fast", on_row=on_row)
    return images.cpu()


def complete_image(loaded: LoadedModel, pixels: np.ndarray, name: str, hidden_rows: int, drawing: Drawing,
                   device: str = "auto", on_row: RowCallback | None = None) -> torch.Tensor:
    """The completion grid int64 (2 + N, C, H, W): the image, its top kept and ``hidden_rows`` bottom rows hidden
    (mid grey), and N completions, as ``pixelrnn complete --keep-rows H − hidden_rows`` draws them.

    ``on_row`` sees the whole grid so far. The image is rounded to the model's levels, as ``complete --image``.
    """
    drawing = drawing.checked(loaded)
    image = levels_from_pixels(pixels, loaded.config.image_shape, loaded.config.num_levels, name)  # (C, H, W)
    height = image.shape[1]
    if not 1 <= hidden_rows <= height:
        raise ConfigError(f"hide 1 to {height} rows of a {height}-row image, got {hidden_rows}")
    known = known_prefix(image, keep_rows=height - hidden_rows)
    head = torch.stack([image, occluded(known, loaded.config.num_levels)])  # (2, C, H, W)

    def whole_grid(partial: torch.Tensor, done: int, total: int) -> None:
        on_row(torch.cat([head, partial.cpu()]), done, total)

    grid, _ = complete(loaded.checkpoint, image, known, drawing.count, seed=drawing.seed,
                       temperature=drawing.temperature, label=drawing.label, device=device, sampler="fast",
                       on_row=whole_grid if on_row else None)
    return grid


def exact_levels(loaded: LoadedModel, pixels: np.ndarray, name: str) -> torch.Tensor:
    """int64 (1, C, H, W): the image on the model's levels exactly (as ``heatmap`` / ``compress`` read PNGs).

    Raises:
        DataError: another shape than the model's, or grey values off its levels.
    """
    levels_from_pixels(pixels, loaded.config.image_shape, loaded.config.num_levels, name)  # the shape check
    return bytes_to_levels(pixels[None], loaded.config.num_levels, name)


def _labels(loaded: LoadedModel, label: int | None) -> torch.Tensor | None:
    check_label(loaded, label, required=True)
    return None if label is None else torch.tensor([label])


def bits_map(loaded: LoadedModel, pixels: np.ndarray, name: str, label: int | None, folder: Path) -> tuple[Path, str]:
    """(``pixelrnn heatmap``'s PNG of the image's bits per pixel, a line with −log2 p(x) in bits and bits/dim)."""
    images = exact_levels(loaded, pixels, name)
    nats = subpixel_nats(loaded.model, images, _labels(loaded, label))  # (1, C, H, W) float64
    path = save_heatmap(images, nats, loaded.config.num_levels, folder / f"{_file_stem(name)}-bits.png", [name])
    bits = float(nats.sum()) / math.log(2)
    return path, f"−log2 p(x) = **{bits:.2f} bits**, **{bits / images[0].numel():.4f} bits/dim**"


def compress_image(loaded: LoadedModel, pixels: np.ndarray, name: str, label: int | None, folder: Path,
                   on_progress: Callable[[int, int], None] | None = None) -> tuple[Path, str]:
    """(the ``pixelrnn compress`` archive of the image, a Markdown table of its size, PNG's and the NLL);
    ``on_progress(steps done, steps in all)`` after every row (see :func:`pixelrnn.compress.compress_images`)."""
    images = exact_levels(loaded, pixels, name)
    result = compress_images(loaded.model, images, _labels(loaded, label), [name], on_progress=on_progress)
    path = folder / f"{_file_stem(name)}.pxz"
    path.write_bytes(result.data)
    png = baseline_sizes(images, loaded.config.num_levels)["png"]
    dims, nll = result.dims_per_image, float(result.nll_bits.sum())
    rows = [("archive (download)", f"{len(result.data):,} bytes", 8 * len(result.data) / dims),
            ("… its coded stream (the rest: header, name, checksum)", f"{result.stream_bytes:,} bytes",
             result.stream_bits_per_dim),
            ("PNG (Pillow, optimized)", f"{png:,} bytes", 8 * png / dims),
            ("model NLL, −log2 p(x)", f"{nll:.1f} bits = {nll / 8:.1f} bytes", nll / dims)]
    table = ["| | size | bits/dim |", "|---|---|---|", *(f"| {what} | {size} | {per_dim:.4f} |"
                                                         for what, size, per_dim in rows)]
    return path, "\n".join(table)


def _file_stem(name: str) -> str:
    """A file name's stem for ``name`` (an upload's file name, or "test image 3"): no folders, no spaces."""
    return Path(name).stem.replace(" ", "-") or "image"


def class_scores(loaded: LoadedModel, pixels: np.ndarray, name: str) -> tuple[dict[str, float], str]:
    """({class: p(y | x)}, a Markdown table of −log2 p(x | y) per class): ``pixelrnn classify`` for one image.

    Raises:
        ConfigError: an unconditional model.
    """
    if not loaded.num_classes:
        raise ConfigError("the model is unconditional: class scores need a class-conditional model "
                          "(one trained with --conditional)")
    images = exact_levels(loaded, pixels, name)
    log_prior, source = loaded.class_log_prior()
    joint = log_joint(loaded.model, images, log_prior)[0]  # (K,) float64: log p(x | y) + log p(y)
    posterior = torch.softmax(joint, dim=0)
    bits = -(joint - log_prior) / math.log(2)  # (K,) −log2 p(x | y)
    dims = images[0].numel()
    table = ["| class | p(y \\| x) | −log2 p(x \\| y), bits/dim |", "|---|---|---|",
             *(f"| {k} | {float(posterior[k]):.4f} | {float(bits[k]) / dims:.4f} |" for k in range(len(bits)))]
    note = f"p(y): {source}; predicted class **{int(joint.argmax())}**"
    return {f"class {k}": float(posterior[k]) for k in range(len(bits))}, "\n".join([note, "", *table])
