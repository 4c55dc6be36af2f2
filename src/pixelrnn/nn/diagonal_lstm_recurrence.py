"""The LSTM recurrence of the Diagonal BiLSTM (PixelRNN §3.2) as one autograd function with a hand-written backward.

At the MNIST size (h = 16) a diagonal step is a handful of small products and element-wise operations, and
autograd's bookkeeping (a graph node per operation, the views and concatenations it records and replays) costs
about as much as the arithmetic. Here the forward loop records nothing: it keeps, per position, what the backward
needs — the step's input and neighbour columns, the four gate activations, tanh of the cell state and the cell
state to the left — and the backward runs the loop in reverse with plain tensor operations:

    c = f ⊙ c_left + i ⊙ g,  h = o ⊙ tanh(c)   (o, f, i = σ(·), g = tanh(·) of W · [pixel; above; left] + b)
    dc = dc_from_the_right + dh ⊙ o ⊙ (1 − tanh²(c)),  do = dh ⊙ tanh(c),  df = dc ⊙ c_left,  di = dc ⊙ g,
    dg = dc ⊙ i,  dc_left = dc ⊙ f,  d[pixel; above; left] = Wᵀ · dgates,  dW += dgates · [pixel; above; left]ᵀ

The visiting order and the column layout are those of :mod:`pixelrnn.nn.diagonal_bilstm`: positions in diagonal
order, each position's B images one run of columns, both directions stacked in the leading dimension of 2.

On a CPU, in float32 / float64, the same loop runs natively where a C++ compiler is at hand
(:class:`NativeDiagonalLSTM` over :mod:`pixelrnn.nn.native`'s ``diagonal_lstm.cpp``): one product per step for the
state-to-state part, one fused element-wise pass for the cell, the input-to-state part and the backward's weight and
pixel gradients as one product each over every position, the layer's gathers into and out of diagonal order in the
same call. Under bfloat16 autocast the native loop takes bfloat16 operands for its products and keeps the gates,
the states and the element-wise passes in float32. :class:`DiagonalLSTMRecurrence` is the fallback, and the
reference the native loop is tested against.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from pixelrnn.nn import native
from pixelrnn.nn.recurrent_cell import tanh


class DiagonalLSTMRecurrence(torch.autograd.Function):
    """Both directions' LSTM states over every diagonal; see the module docstring.

    Forward args:
        pixels: (2, C', N) each direction's input columns in diagonal order, N = H·W·B.
        weight: (2, 4h, C' + 2h) the gate matrix over [pixel | above | left] (gates o, f, i, g).
        bias: (2, 4h, 1).
        start_hidden, start_memory: (2, h, 1, B) the state left of column 0 and above row 0.
        steps: per diagonal, (its row count n, the rise of its first row over the previous diagonal's).
        batch: B.

    Returns:
        (2, h, N) the hidden states, in the order of ``pixels``.
    """

    @staticmethod
    def forward(ctx, pixels: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, start_hidden: torch.Tensor,
                start_memory: torch.Tensor, steps: tuple[tuple[int, int], ...], batch: int) -> torch.Tensor:
        hidden_size = start_hidden.shape[1]
        previous_hidden = previous_memory = pixels.new_zeros(2, hidden_size, 0, batch)
        saved: list[tuple[torch.Tensor, ...]] = []  # per step, each tensor contiguous: no strided writes
        hidden_steps, column = [], 0
        for rows, advance in steps:
            width = rows * batch
            above, left = rows_above_and_left(previous_hidden, start_hidden, advance, rows)
            block = torch.cat([pixels[:, :, column:column + width].view(2, -1, rows, batch), above, left],
                              dim=1).view(2, -1, width)  # (2, C' + 2h, n·B): [pixel | above | left]
            gates = torch.baddbmm(bias, weight, block)  # (2, 4h, n·B)
            sigmoids, g = torch.sigmoid(gates[:, :3 * hidden_size]), tanh(gates[:, 3 * hidden_size:])
            o, f, i = sigmoids.chunk(3, dim=1)  # 3 × (2, h, n·B)
            left = rows_to_the_left(previous_memory, start_memory, advance, rows).reshape(2, hidden_size, width)
            cell = torch.addcmul(f * left, i, g)
            tanh_cell = tanh(cell)
            hidden = o * tanh_cell
            saved.append((block, sigmoids, g, tanh_cell, left))
            hidden_steps.append(hidden)
            previous_hidden, previous_memory = (state.view(2, hidden_size, rows, batch) for state in (hidden, cell))
            column += width
        ctx.save_for_backward(weight)
        ctx.saved_steps, ctx.steps, ctx.batch = saved, steps, batch
        return torch.cat(hidden_steps, dim=2)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_hidden: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (weight,) = ctx.saved_tensors
        steps, batch, saved = ctx.steps, ctx.batch, ctx.saved_steps
        hidden_size = weight.shape[1] // 4
        channels = weight.shape[2] - 2 * hidden_size
        grad_weight, grad_bias = torch.zeros_like(weight), grad_hidden.new_zeros(2, 4 * hidden_size, 1)
        grad_start_hidden, grad_start_memory = (grad_hidden.new_zeros(2, hidden_size, 1, batch) for _ in range(2))
        grad_pixel_steps = []
        carry_hidden = carry_memory = None  # the gradients reaching this diagonal's states from the next one
        column = grad_hidden.shape[2]
        for index in range(len(steps) - 1, -1, -1):
            rows, advance = steps[index]
            width = rows * batch
            column -= width
            block, sigmoids, g, tanh_cell, left = saved[index]
            d_hidden = grad_hidden[:, :, column:column + width]
            d_hidden = d_hidden if carry_hidden is None else d_hidden + carry_hidden
            o, f, i = sigmoids.chunk(3, dim=1)  # 3 × (2, h, n·B)
            d_cell = d_hidden * o * (1 - tanh_cell * tanh_cell)
            d_cell = d_cell if carry_memory is None else d_cell + carry_memory
            d_sigmoids = torch.cat([d_hidden * tanh_cell, d_cell * left, d_cell * g], dim=1) * sigmoids * (1 - sigmoids)
            d_gates = torch.cat([d_sigmoids, d_cell * i * (1 - g * g)], dim=1)  # (2, 4h, n·B)
            # out of place: FlopCounterMode (pixelrnn bench --mfu) does not count the in-place baddbmm_
            grad_weight = torch.baddbmm(grad_weight, d_gates, block.transpose(1, 2))
            grad_bias += d_gates.sum(dim=2, keepdim=True)
            d_reads = torch.bmm(weight.transpose(1, 2), d_gates)  # (2, C' + 2h, n·B)
            grad_pixel_steps.append(d_reads[:, :channels])
            previous_rows = steps[index - 1][0] if index > 0 else 0
            carry_hidden, carry_memory = _to_previous_diagonal(
                d_reads[:, channels:].view(2, 2, hidden_size, rows, batch), d_cell * f, previous_rows, advance,
                grad_start_hidden, grad_start_memory)
        del ctx.saved_steps
        grad_pixels = torch.cat(grad_pixel_steps[::-1], dim=2)  # (2, C', N)
        return grad_pixels, grad_weight, grad_bias, grad_start_hidden, grad_start_memory, None, None


class NativeDiagonalLSTM(torch.autograd.Function):
    """The native loop on the layer's raster map, with the layout's two gathers fused into it
    (``diagonal_lstm.cpp``): the sum of both directions' hidden states in raster order.

    Forward args:
        inputs: (B, C', H·W) the input (and condition) map; weight (2, 4h, C' + 2h), bias (2, 4h, 1),
        start_hidden, start_memory (2, h, 1, B) as :class:`DiagonalLSTMRecurrence`'s. ``inputs`` and ``weight``
        are the products' operands: float32 / float64 like the rest, or bfloat16 (the states stay float32).
        reads, writes: :class:`~pixelrnn.nn.diagonal_bilstm.DiagonalSchedule`'s (2, H·W) orders.
        steps: per diagonal (row count, advance). kernel: :func:`native_kernel`'s module.

    Returns:
        (B, h, H·W) the sum of the two directions' hidden states, the right-to-left one shifted down a row, in the
        states' type.
    """

    @staticmethod
    def forward(ctx, inputs: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, start_hidden: torch.Tensor,
                start_memory: torch.Tensor, reads: torch.Tensor, writes: torch.Tensor,
                steps: tuple[tuple[int, int], ...], kernel) -> torch.Tensor:
        rows, advances = ([step[k] for step in steps] for k in (0, 1))
        batch = inputs.shape[0]
        out, *saved = kernel.raster_forward(inputs, reads, writes, weight, bias, start_hidden, start_memory, rows,
                                            advances, batch)
        ctx.save_for_backward(reads, writes, saved[0], weight, *saved[1:])
        ctx.kernel, ctx.steps, ctx.batch = kernel, (rows, advances), batch
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (rows, advances), batch = ctx.steps, ctx.batch
        grads = ctx.kernel.raster_backward(grad_out, *ctx.saved_tensors, rows, advances, batch)
        return (*grads, None, None, None, None)


def native_kernel(like: torch.Tensor, autocast: bool = False):
    """The native recurrence (:mod:`pixelrnn.nn.native`) where it may take ``like``, the layer's float32 / float64
    weight (:func:`native.usable`) — under ``autocast`` only where it casts to bfloat16 (the loop's products then
    take bfloat16 operands) —, or None."""
    if autocast and (like.dtype != torch.float32 or torch.get_autocast_dtype(like.device.type) != torch.bfloat16):
        return None
    return native.diagonal_lstm() if native.usable(like) else None


def _to_previous_diagonal(d_neighbours: torch.Tensor, d_left_memory: torch.Tensor, previous_rows: int, advance: int,
                          grad_start_hidden: torch.Tensor, grad_start_memory: torch.Tensor,
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Route a diagonal's gradients w.r.t. its above / left hidden states (2, 2, h, n, B) and its left cell states
    (2, h, n·B) to the previous diagonal's (2, h, n'·B) states; the parts that read the start state are added to
    ``grad_start_hidden`` / ``grad_start_memory`` (2, h, 1, B) in place."""
    _, _, hidden_size, rows, batch = d_neighbours.shape
    d_rows = d_neighbours.new_zeros(2, hidden_size, previous_rows + 2, batch)  # [start, previous rows, start]
    d_rows[:, :, advance:advance + rows] += d_neighbours[:, 0]
    d_rows[:, :, advance + 1:advance + 1 + rows] += d_neighbours[:, 1]
    grad_start_hidden += d_rows[:, :, :1] + d_rows[:, :, previous_rows + 1:]
    d_left_memory = d_left_memory.view(2, hidden_size, rows, batch)
    kept = previous_rows - advance  # the previous rows still to the left of this diagonal's rows
    carry_memory = d_rows.new_zeros(2, hidden_size, previous_rows, batch)
    carry_memory[:, :, advance:] = d_left_memory[:, :, :kept]
    if kept < rows:  # this diagonal starts a new row, whose left neighbour is the start state
        grad_start_memory += d_left_memory[:, :, kept:]
    carry_hidden = d_rows[:, :, 1:previous_rows + 1]
    return carry_hidden.reshape(2, hidden_size, -1), carry_memory.view(2, hidden_size, -1)


def rows_above_and_left(previous: torch.Tensor, start: torch.Tensor, advance: int, rows: int,
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """The previous diagonal's (2, h, n', B) hidden state above and left of this diagonal's rows: 2 × (2, h, n, B).

    Index k of [start, previous rows, start] is row previous_lo − 1 + k: the row above the first (or the start
    state above row 0), the previous diagonal's rows, and the start state left of a row that begins here.
    """
    neighbours = torch.cat([start, previous, start], dim=2)  # (2, h, n' + 2, B)
    return neighbours[:, :, advance:advance + rows], neighbours[:, :, advance + 1:advance + 1 + rows]


def rows_to_the_left(previous: torch.Tensor, start: torch.Tensor, advance: int, rows: int) -> torch.Tensor:
    """The previous diagonal's (2, h, n', B) state at the pixels left of this diagonal's rows: (2, h, n, B).

    The first previous row is dropped when this diagonal starts one row lower (``advance``); a row that starts
    on this diagonal reads ``start`` (2, h, 1, B), the state left of column 0.
    """
    kept = previous[:, :, advance:]
    return kept if kept.shape[2] == rows else torch.cat([kept, start], dim=2)
