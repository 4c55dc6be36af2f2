"""Exact negative log-likelihoods: nats per image, converted to bits per dimension once.

bits/dim = Σ nats over the evaluated images / (N · C · H · W · ln 2). Sums are kept in float64 and, across
DistributedDataParallel processes, all-reduced as (sum, count) so that every image counts exactly once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from pixelrnn.errors import DataError
from pixelrnn.runtime import Runtime, all_reduce_sum, evaluation_mode


def nats_to_bits_per_dim(nats_per_image: float, dims_per_image: int) -> float:
    """Convert a mean NLL in nats per image into bits per dimension (sub-pixel)."""
    return nats_per_image / (dims_per_image * math.log(2.0))


def uniform_bits_per_dim(num_levels: int) -> float:
    """Bits/dim of the uniform model over ``num_levels`` values: log2(L) (8.000 for 256 levels)."""
    return math.log2(num_levels)


@dataclass(frozen=True)
class NLLResult:
    """An exact evaluation over a whole split.

    Attributes:
        total_nats: Σ −log p(x) over the images, in nats (float64).
        num_images: N, the number of images evaluated, each exactly once.
        dims_per_image: C · H · W.
    """

    total_nats: float
    num_images: int
    dims_per_image: int

    @property
    def nats_per_image(self) -> float:
        return self.total_nats / self.num_images

    @property
    def bits_per_dim(self) -> float:
        return nats_to_bits_per_dim(self.nats_per_image, self.dims_per_image)


class NLLMeter:
    """Accumulates Σ nats and the image count in float64; ``result`` all-reduces across processes."""

    def __init__(self, dims_per_image: int) -> None:
        self.dims_per_image = dims_per_image
        self._sums = torch.zeros(2, dtype=torch.float64)  # [Σ nats, number of images]

    def update(self, nats_per_image: torch.Tensor) -> None:
        """Add a batch of per-image NLLs (nats), shape (B,)."""
        values = nats_per_image.detach().to("cpu", torch.float64)
        self._sums += torch.stack([values.sum(), torch.tensor(float(values.numel()), dtype=torch.float64)])

    def result(self, runtime: Runtime | None = None) -> NLLResult:
        sums = all_reduce_sum(self._sums, runtime) if runtime is not None else self._sums
        total_nats, count = sums.tolist()
        if count == 0:
            raise DataError("no images to evaluate: the split is empty")
        return NLLResult(total_nats=total_nats, num_images=int(round(count)), dims_per_image=self.dims_per_image)


@torch.no_grad()
def evaluate_nll(
    model: torch.nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    runtime: Runtime,
    conditional: bool = False,
) -> NLLResult:
    """Exact NLL of ``model`` over every batch (this process's shard), summed over all processes.

    Args:
        model: an unwrapped ``AutoregressiveImageModel`` (``log_prob`` and ``config`` are used).
        batches: (images uint8 (B, C, H, W), labels int64 (B,)) pairs.
        runtime: the process's runtime (device and process group).
        conditional: pass the labels to the model.
    """
    meter = NLLMeter(dims_per_image=math.prod(model.config.image_shape))
    with evaluation_mode(model):
        for images, labels in batches:
            images = images.to(runtime.device, non_blocking=True)
            labels = labels.to(runtime.device, non_blocking=True) if conditional else None
            meter.update(-model.log_prob(images, labels))
    return meter.result(runtime)  # every process joins the all-reduce, even with an empty shard
