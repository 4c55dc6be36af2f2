"""Reorder the positions of a map by an index, with a backward that gathers too.

``x.index_select(dim, index)``'s backward is an ``index_add_`` into a zero tensor, which this CPU build runs as a
loop over the index, one strided slice at a time: for the Diagonal BiLSTM at h = 128 (12 layers, 32×32, batch 16)
the 36 of them took about 15 % of a bfloat16 training step (docs/benchmarks.md). When every source position is read
a known, small number of times (a permutation, the two directions' orders of one map, or an order that leaves
positions unread), the backward is itself a gather — grad_x[p] = Σ_k grad[inverse[k, p]], a zero slice standing in
where position p has no k-th reader — so both passes are plain ``index_select`` copies.
"""

from __future__ import annotations

import torch


def inverse_positions(index: torch.Tensor, num_sources: int, constant: int | None = None) -> torch.Tensor:
    """(k, num_sources) ``inverse`` of a 1-d gather ``index``: ``inverse[j, p]`` is the j-th output position that
    reads source position p, or ``len(index)`` (a zero slice) where p has fewer than j + 1 readers; k is the
    largest number of readers of one position (at least 1). The readers of the source position ``constant`` (a slice of
    zeros, say) are left out: its gradient is zero."""
    index = index.cpu()
    counts = torch.bincount(index, minlength=num_sources)
    if constant is not None:
        counts[constant] = 0
    readers = max(int(counts.max()), 1)  # at least one row, so that the backward always has a first gather
    inverse = torch.full((readers, num_sources), len(index), dtype=torch.long)
    order = torch.argsort(index, stable=True)  # output positions, grouped by the source position they read
    if constant is not None:
        order = order[index[order] != constant]
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(len(order)) - starts[index[order]]  # j: how many readers of the same source come before
    inverse[rank, index[order]] = order
    return inverse


class PositionGather(torch.autograd.Function):
    """``x.index_select(dim, index)`` whose backward sums ``index_select``s of the gradient (see the module).

    Forward args:
        x: any tensor; dim: the dimension of positions; index: (N,) source positions.
        inverse: (k, x.shape[dim]) from :func:`inverse_positions` (same device as ``x``).

    Returns:
        x with its ``dim`` replaced by the N positions of ``index``.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, dim: int, index: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
        ctx.dim = dim
        ctx.save_for_backward(inverse)
        return x.index_select(dim, index)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (inverse,) = ctx.saved_tensors
        zero = grad.new_zeros(grad.shape[:ctx.dim] + (1,) + grad.shape[ctx.dim + 1:])
        padded = torch.cat([grad, zero], dim=ctx.dim)  # position N: zeros
        grad_x = padded.index_select(ctx.dim, inverse[0])
        for readers in inverse[1:]:
            grad_x = grad_x + padded.index_select(ctx.dim, readers)
        return grad_x, None, None, None


def gather_positions(x: torch.Tensor, dim: int, index: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
    """``x.index_select(dim, index)``, differentiable through :class:`PositionGather`."""
    return PositionGather.apply(x, dim, index, inverse)
