"""The batches that training and evaluation draw from a split held in memory.

:class:`ImageSplit` is one split: a uint8 tensor (N, C, H, W) of grey levels with int64 labels (N,).
``iterate_batches`` cuts it into batches by indexing those tensors in bulk: a reproducible ``DistributedSampler``
order for training (resumable mid-epoch, optional flips), and disjoint, unpadded shards for exact distributed
evaluation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DistributedSampler

from pixelrnn.errors import ConfigError, DataError

_HFLIP_STREAM = 1


@dataclass(repr=False)
class ImageSplit:
    """One split of a data set, held in memory.

    Attributes:
        images: uint8 (N, C, H, W), values in ``[0, num_levels - 1]``.
        labels: int64 (N,), -1 where the data set has no labels.
    """

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise DataError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or self.labels.shape != self.images.shape[:1]:
            raise DataError(f"labels must be int64 ({len(self.images)},), got {self.labels.dtype} "
                            f"{tuple(self.labels.shape)}")

    def __len__(self) -> int:
        return self.images.shape[0]

    def __repr__(self) -> str:
        return f"ImageSplit(images=uint8{list(self.images.shape)}, labels=int64[{len(self)}])"


def iterate_batches(split: ImageSplit, batch_size: int, *, shuffle: bool, seed: int = 0, epoch: int = 0,
                    rank: int = 0, world_size: int = 1, drop_last: bool = False, skip_batches: int = 0,
                    hflip: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of one epoch over this process's part of ``split``.

    Args:
        split: the images and labels to batch.
        batch_size: images per batch (the last one may be smaller).
        shuffle: True (training): the order of ``DistributedSampler(range(N), world_size, rank, shuffle=True,
            seed=seed, drop_last=drop_last)`` at ``epoch``, which pads with repeats to a multiple of
            ``world_size`` unless ``drop_last``. False (evaluation): ``shard_indices(N, rank, world_size)`` in
            order; no padding, so the shards of all ranks hold every image exactly once.
        seed, epoch, rank, world_size: fix the order and the flips.
        drop_last: passed to the sampler (trim N to a multiple of ``world_size``); batches are never dropped.
        skip_batches: skip the first k batches of the epoch (resuming mid-epoch exactly).
        hflip: flip each image left-right with probability 1/2, coins from a generator seeded from
            (seed, epoch, rank): a resumed epoch sees the same flips.

    Yields:
        (images uint8 (B, C, H, W), labels int64 (B,)), gathered from the in-memory tensors in bulk.
    """
    if batch_size < 1 or skip_batches < 0:
        raise ConfigError(f"need batch_size >= 1 and skip_batches >= 0, got {batch_size} and {skip_batches}")
    if shuffle:
        _check_rank(rank, world_size)
        sampler = DistributedSampler(range(len(split)), num_replicas=world_size, rank=rank, shuffle=True,
                                     seed=seed, drop_last=drop_last)
        sampler.set_epoch(epoch)
        order = torch.as_tensor(list(sampler), dtype=torch.int64)  # (N / world_size,)
    else:
        order = shard_indices(len(split), rank, world_size)
    generator = torch.Generator().manual_seed(mix_seed(_HFLIP_STREAM, seed, epoch, rank)) if hflip else None
    return _gather_batches(split, order, batch_size, skip_batches, generator)


def _gather_batches(split: ImageSplit, order: torch.Tensor, batch_size: int, skip_batches: int,
                    generator: torch.Generator | None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for index, start in enumerate(range(0, len(order), batch_size)):
        indices = order[start:start + batch_size]  # (B,)
        if index < skip_batches:
            if generator is not None:
                _flip_coins(len(indices), generator)  # consume this batch's coins: later flips stay the same
            continue
        images = _rows(split.images, indices)  # (B, C, H, W)
        if generator is not None:
            images = random_hflip(images, generator)
        yield images, split.labels.index_select(0, indices)


def shard_indices(num_items: int, rank: int, world_size: int) -> torch.Tensor:
    """Indices ``rank, rank + world_size, ...`` below ``num_items``: int64 (ceil((N - rank) / W),).

    The shards of ranks 0..W-1 are disjoint and together hold every index once (no padding).
    """
    _check_rank(rank, world_size)
    if num_items < 0:
        raise ConfigError(f"num_items must be >= 0, got {num_items}")
    return torch.arange(rank, num_items, world_size, dtype=torch.int64)


def random_hflip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Flip each image of a batch left-right with probability 1/2 (one coin per image from ``generator``).

    Args:
        images: (B, C, H, W), any dtype and device.
        generator: the source of the B coins (CPU).

    Returns:
        A new tensor (B, C, H, W): image b reversed along W where coin b came up.
    """
    batch = images.shape[0]
    flip = _flip_coins(batch, generator).to(images.device)  # (B,) bool
    both = torch.cat([images, images.flip(-1)])  # (2B, C, H, W): as given, then mirrored
    return _rows(both, torch.arange(batch, device=images.device) + batch * flip)  # image b from half flip[b]


def _rows(images: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """``images[indices]`` for (N, C, H, W) images, gathered as whole flattened rows (on the CPU, ~40× faster
    than indexing the 4-d tensor or ``torch.where`` for uint8): (len(indices), C, H, W)."""
    flat = images.reshape(images.shape[0], -1)  # (N, C·H·W)
    return flat.index_select(0, indices).view(len(indices), *images.shape[1:])


def _flip_coins(count: int, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(count, generator=generator, device=generator.device) < 0.5  # (count,) bool


def _check_rank(rank: int, world_size: int) -> None:
    if world_size < 1 or not 0 <= rank < world_size:
        raise ConfigError(f"rank {rank} is not in [0, world_size={world_size})")


def mix_seed(*values: int) -> int:
    """A 64-bit seed that depends on every value (no collisions between nearby tuples)."""
    entropy = [value % 2**64 for value in values]  # SeedSequence takes non-negative integers
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0])
