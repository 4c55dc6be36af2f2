"""Entropy coding with a model's exact conditionals: integer probability tables, a range coder, the coding loop.

A lossless code is only as exact as the agreement of its two sides: the decoder must use **exactly** the
probabilities the encoder used, to the last bit. A batched forward pass and the incremental stepper of
:mod:`pixelrnn.sampling.steppers` agree only up to float rounding, so this module never mixes them: the encoder
and the decoder run the same function, :func:`code_batch`, which evaluates the model with its stepper, pixel by
pixel over the same batch of images, on images that hold exactly the sub-pixels coded so far (the encoder's
copy is filled with the known values in coding order, the decoder's with the decoded ones). At every sub-pixel
the head gives the log-probabilities of all L levels in float64 (``level_log_probs``, from the same
parameters on both sides) and :func:`quantize` turns them into integer counts summing to 2^24 by one
deterministic rule, every level getting at least one count, so that any image can be coded.

The counts drive constriction's range coder (``constriction.stream.queue``), one stream for all the images.
constriction re-scales the exact dyadic probabilities ``counts / 2^24`` to its own fixed-point tables by a
deterministic rule of its own, so the two sides still agree; the ideal code length of a symbol under our counts,
−log2(count / 2^24), is what :class:`Coder` accounts per image (the stream's real size is within a few bytes
of their sum). Both sides run on one CPU thread (:func:`one_thread`): float sums are then done in one
order whatever the machine's thread count, and small per-pixel products run faster than when threads contend.
Decoding on another machine or build of the libraries may round differently: the archive keeps a
checksum of the images, so such a decode is refused rather than written wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch

from pixelrnn.errors import DataError
from pixelrnn.models.multiscale import MultiScalePixelRNN
from pixelrnn.sampling.steppers import Stepper, find_stepper
from pixelrnn.sampling.steppers.recurrent import PixelRNNStepper

PRECISION_BITS = 24
TOTAL = 1 << PRECISION_BITS  # the counts of every table sum to this

# (counts int64 (B, L), (channel, row, col)) -> the coded levels int64 (B,)
CodeFunction = Callable[[np.ndarray, tuple[int, int, int]], np.ndarray]


def quantize(log_probs: torch.Tensor) -> np.ndarray:
    """Log-probabilities (B, L) → int64 counts (B, L) that sum to ``TOTAL`` per row, each ≥ 1.

    count_v = 1 + ⌊p_v · (TOTAL − L)⌋ with p = softmax(log_probs) in float64; what the floors leave over goes to
    the most probable level (the first one if tied). A pure function of its input: both sides of the code
    call it on identical tensors.

    Raises:
        DataError: non-finite probabilities (a broken model).
    """
    probs = torch.softmax(log_probs.double(), dim=1)  # (B, L), renormalised in float64
    if not bool(torch.isfinite(probs).all()):
        raise DataError("the model gives non-finite probabilities: it cannot code images")
    num_levels = probs.shape[1]
    counts = torch.floor(probs * (TOTAL - num_levels)).long() + 1  # (B, L)
    remainder = TOTAL - counts.sum(dim=1)  # (B,) in [0, L]
    counts[torch.arange(len(counts)), probs.argmax(dim=1)] += remainder
    return counts.numpy()


def _constriction():
    try:
        import constriction
    except ImportError as error:  # an optional extra
        raise DataError("compression needs the 'constriction' package: pip install 'pixelrnn[compress]'") from error
    return constriction


class Coder:
    """One range-coded stream over every sub-pixel of every image, in coding order.

    Args:
        num_images: N, for the per-image accounting.
        compressed: the stream to decode (uint32 words), or None to encode.

    Attributes:
        ideal_bits: float64 (N,), Σ −log2(count / TOTAL) of each image's coded levels.
    """

    def __init__(self, num_images: int, compressed: np.ndarray | None = None) -> None:
        constriction = _constriction()
        self._family = constriction.stream.model.Categorical(perfect=False)
        self._decoding = compressed is not None
        queue = constriction.stream.queue
        self._stream = queue.RangeDecoder(compressed) if self._decoding else queue.RangeEncoder()
        self.ideal_bits = np.zeros(num_images, dtype=np.float64)
        self.offset = 0  # index of the first image of the batch being coded

    def code(self, counts: np.ndarray, levels: np.ndarray | None) -> np.ndarray:
        """Encode ``levels`` int (B,) — or decode B levels — with the tables ``counts`` (B, L); returns the levels."""
        probabilities = counts / TOTAL  # exact dyadic float64
        if self._decoding:
            try:
                levels = self._stream.decode(self._family, probabilities).astype(np.int64)
            except (ValueError, RuntimeError) as error:  # constriction's errors on a stream that is not its own
                raise DataError(f"the coded stream is corrupt ({str(error).splitlines()[0][:80]})") from None
        else:
            self._stream.encode(levels.astype(np.int32), self._family, probabilities)
        if levels.min() < 0 or levels.max() >= counts.shape[1]:
            raise DataError("the coded stream is corrupt (a level outside the model's range)")
        picked = counts[np.arange(len(counts)), levels]
        self.ideal_bits[self.offset:self.offset + len(levels)] += PRECISION_BITS - np.log2(picked)
        return levels

    def finish(self) -> np.ndarray:
        """The encoded stream: uint32 words."""
        return self._stream.get_compressed()


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block with one torch CPU thread, then restore the thread count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@torch.no_grad()
def code_batch(model: torch.nn.Module, count: int, labels: torch.Tensor | None, code: CodeFunction) -> torch.Tensor:
    """Code one batch of images, sub-pixel by sub-pixel in the model's order, with its stepper.

    ``code(counts, (channel, row, col))`` is called once per sub-pixel with the (B, L) counts of that
    sub-pixel for the whole batch and returns its levels: the encoder's encodes the known levels, the
    decoder's decodes them. Everything else is the same on both sides.

    Args:
        model: a model of the library in evaluation mode, on the CPU.
        count: B, the images of the batch.
        labels: int64 (B,) class labels of a class-conditional model, else None.

    Returns:
        int64 (B, C, H, W), the levels ``code`` returned.
    """
    reference = next(model.parameters())
    images = torch.zeros((count, *model.config.image_shape), dtype=torch.long, device=reference.device)
    if not isinstance(model, MultiScalePixelRNN):
        _code_raster(find_stepper(model)(model, count, labels), model.head, images, code)
        return images
    factor = model.config.subsample_factor  # the small image first, then the rest given it (§3.6)
    small = model.subsample(images).clone()  # (B, C, H/f, W/f)
    _code_raster(PixelRNNStepper(model.small_model, count, labels), model.head, small, code, scale=factor)
    images[..., ::factor, ::factor] = small
    condition = model.upsample(model.preprocess(small).to(reference.dtype))  # (B, 2h, H, W)
    stepper = PixelRNNStepper(model.large_model, count, labels, condition)
    _code_raster(stepper, model.head, images, code, known=model.grid[0, 0])
    return images


def _code_raster(stepper: Stepper, head, images: torch.Tensor, code: CodeFunction, scale: int = 1,
                 known: torch.Tensor | None = None) -> None:
    """Raster order over ``images`` (B, C, h, w), in place; pixels where ``known`` (h, w) is True are only
    stepped over; ``scale`` maps (row, col) to the full image's coordinates (the multi-scale small image)."""
    channels, height, width = images.shape[1:]
    joint = head.joint_channels
    for row in range(height):
        for col in range(width):
            if known is not None and bool(known[row, col]):
                stepper.params_at(images, row, col)  # caches only
                continue
            params = None
            for channel in range(channels):
                if params is None or not joint:  # a per-sub-pixel head sees the channels coded just before
                    params = stepper.params_at(images, row, col)[:, :, None, None].double()  # (B, P, 1, 1)
                pixel = images[:, :, row:row + 1, col:col + 1]  # (B, C, 1, 1)
                log_probs = head.level_log_probs(params, pixel, channel)[:, :, 0, 0]  # (B, L)
                levels = code(quantize(log_probs), (channel, row * scale, col * scale))
                images[:, channel, row, col] = torch.from_numpy(levels).to(images.device)
        stepper.end_row(row)
