"""The Diagonal BiLSTM of PixelRNN (van den Oord, Kalchbrenner, Kavukcuoglu, ICML 2016, §3.2).

The paper skews the map so that every diagonal becomes a column, runs the recurrence over the W + H − 1 columns
and unskews the result. Here the skew is never materialised: the positions of the map are visited in diagonal
order, step s holding the pixels (r, s − r) of the rows r that step s reaches (``lo ≤ r ≤ hi``), so that

- the pixels are gathered once in that order, and each step takes one matrix product: the input-to-state 1×1
  convolution of its pixels, the state-to-state 2×1 convolution of their neighbours and the bias together, so
  the pre-activations of the whole map are never stored;
- no step works on the skew's padding (half of the skewed map on a square image), and no state has to be reset
  to the initial state there: a row's first step reads the initial state as its left neighbour;
- one gather puts the outputs back in raster order, mirroring the right-to-left direction and shifting it down
  one row on the way.

Each step's state-to-state product reads, for row r, the previous step's state of row r − 1 (the pixel above) and
of row r (the pixel to the left): two neighbouring blocks of the previous step's (h, rows, B) state. Within a step
the channels come first, so that each gate is one contiguous block for the element-wise cell update.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn

from pixelrnn.nn.diagonal_lstm_recurrence import (
    DiagonalLSTMRecurrence,
    NativeDiagonalLSTM,
    native_kernel,
    rows_above_and_left,
    rows_to_the_left,
)
from pixelrnn.nn.position_gather import gather_positions, inverse_positions
from pixelrnn.nn.recurrent_cell import SteppedLayer, condition_conv, gate_conv, initial_state, with_condition_check


@dataclass(frozen=True)
class DiagonalSchedule:
    """The visiting order of an H×W map, shared by both directions (each in its own coordinates).

    ``steps``: per diagonal s, (its row count n, advance = its first row lo − the previous diagonal's first
    row); its positions follow those of the diagonals before it. ``reads``: (2, H·W) raster index of the input pixel
    read by each direction's k-th position (the right-to-left direction reads the mirrored map). ``writes``:
    (2, H·W) index, per raster output pixel, of the diagonal position that produces it; H·W stands for "zeros"
    (row 0 of the down-shifted right-to-left direction). ``reads_inverse`` (2, H·W) and ``writes_inverse``
    (2, 1, H·W + 1): the gathers' inverses, for their backward (:mod:`pixelrnn.nn.position_gather`).
    """

    steps: tuple[tuple[int, int], ...]
    reads: torch.Tensor
    writes: torch.Tensor
    reads_inverse: torch.Tensor
    writes_inverse: torch.Tensor


@functools.lru_cache(maxsize=32)
def diagonal_schedule(height: int, width: int, shift_right_to_left: bool = True) -> DiagonalSchedule:
    """The :class:`DiagonalSchedule` of an ``height``×``width`` map (cached: it depends on the size only)."""
    steps, rows, cols = [], [], []
    previous_lo = 0
    for step in range(width + height - 1):
        lo, hi = max(0, step - width + 1), min(height - 1, step)
        steps.append((hi - lo + 1, lo - previous_lo))
        rows.extend(range(lo, hi + 1))
        cols.extend(step - row for row in range(lo, hi + 1))
        previous_lo = lo
    rows_t, cols_t = torch.tensor(rows), torch.tensor(cols)
    reads = torch.stack([rows_t * width + cols_t, rows_t * width + (width - 1 - cols_t)])  # (2, H·W)
    writes = torch.argsort(reads, dim=1)  # raster pixel → its diagonal position, per direction
    if shift_right_to_left:  # output row r of the right-to-left direction is its row r − 1; row 0 gets zeros
        below = writes[1].view(height, width)
        writes[1] = torch.cat([torch.full((1, width), height * width), below[:-1]]).flatten()
    pixels = height * width
    writes_inverse = torch.stack([inverse_positions(order, pixels + 1, constant=pixels) for order in writes])
    return DiagonalSchedule(tuple(steps), reads, writes, inverse_positions(reads.flatten(), pixels), writes_inverse)


class DiagonalBiLSTM(SteppedLayer):
    """Diagonal BiLSTM (§3.2): two diagonal directions whose sum sees the past of every pixel.

    Each direction runs along the diagonals of the map (the paper's skewed columns); its input-to-state is a 1×1
    mask-B convolution, its state-to-state a 2×1 convolution over the previous diagonal's hidden state (same row:
    the pixel to the left; row above: the pixel above). The left-to-right direction sees the quadrant above-left
    of (i, j). The right-to-left one runs on the left-right mirrored map and is mirrored back, so it sees the
    quadrant above-right and row i to the right (the future); shifting its output down one row (row 0 gets
    zeros) keeps rows < i only. Their sum sees the past and nothing of the future (all of it but pixel
    (i − 1, W − 1) for small j: see docs/models.md).

    Both directions run in one loop over the W + H − 1 diagonals, each step one batched matrix product over the
    pixels of that diagonal only (see the module docstring for the order in which pixels are visited).

    Args:
        in_channels: input maps (2h in PixelRNN).
        hidden: h, the output maps of each direction (the directions are added).
        color_channels: colour groups (1 or 3).
        cell: ``"lstm"`` (the paper) or ``"gru"``.
        condition_channels: channels of a given conditioning map (0: none).
        learned_initial_state: the state left of column 0 and above row 0 is a learned (h,) vector per direction
            (else zeros), the state every row starts from.

    Shape:
        (B, in_channels, H, W) [+ condition (B, condition_channels, H, W)] → (B, hidden, H, W).
    """

    def __init__(self, in_channels: int, hidden: int, color_channels: int = 1, cell: str = "lstm",
                 condition_channels: int = 0, learned_initial_state: bool = False) -> None:
        super().__init__()
        self.hidden, self.cell = hidden, cell
        # channels [0, G·h): left-to-right gates; [G·h, 2·G·h): right-to-left gates
        self.input_to_state = gate_conv(in_channels, hidden, (1, 1), cell, color_channels, directions=2)
        self.gates = self.input_to_state.out_channels // 2
        # per direction, the 2×1 column kernel as one (2h → G·h) matrix: rows [0, h) read the pixel above,
        # rows [h, 2h) the pixel to the left; initialised like a Conv1d(h, G·h, 2)
        bound = 1.0 / (2 * hidden) ** 0.5
        self.state_to_state = nn.Parameter(torch.empty(2, 2 * hidden, self.gates).uniform_(-bound, bound))
        self.condition_to_state = condition_conv(condition_channels, 2 * self.gates)
        self.initial_state = initial_state(learned_initial_state, 2, hidden, cell)
        self.shift_right_to_left = True  # only tests turn it off, to show that the shift is what keeps causality
        self.hand_written_backward = True  # the LSTM's recurrence; tests turn it off to compare it with autograd's

    def forward(self, inputs: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        batch, _, height, width = inputs.shape
        schedule = diagonal_schedule(height, width, self.shift_right_to_left)
        raster, input_weight = self._inputs_and_weight(inputs, condition)  # (B, C', H, W), (2, G·h, C')
        bias = self.input_to_state.bias.view(2, self.gates, 1)
        state_weight = self.state_to_state.transpose(1, 2)  # (2, G·h, 2h): [above | left]
        weight = torch.cat([input_weight, state_weight], dim=2)  # (2, G·h, C' + 2h): [pixel | above | left]
        hand_written = self.cell == "lstm" and self.hand_written_backward and not self.compiled
        autocast = torch.is_autocast_enabled(inputs.device.type)
        kernel = native_kernel(weight, autocast) if hand_written else None
        start_hidden, start_memory = self._initial_rows(batch, inputs if kernel is None else weight)  # (2, h, 1, B)
        if kernel is not None:  # the native loop, with the two gathers of the layout
            products = torch.get_autocast_dtype(inputs.device.type) if autocast else weight.dtype
            with torch.autocast(inputs.device.type, enabled=False):  # bfloat16 products, float32 states
                out = NativeDiagonalLSTM.apply(raster.flatten(2).to(products), weight.to(products), bias,
                                               start_hidden, start_memory, schedule.reads, schedule.writes,
                                               schedule.steps, kernel)
            return out.view(batch, self.hidden, height, width)
        hand_written = hand_written and not autocast  # the PyTorch loop's hand-written backward: float32 / float64
        pixels = self._diagonal_order(raster, schedule)  # (2, C', H·W·B)
        if hand_written and torch.is_grad_enabled():
            states = DiagonalLSTMRecurrence.apply(pixels, weight, bias, start_hidden, start_memory, schedule.steps,
                                                  batch).view(2, self.hidden, height * width, batch)
            return self._raster_order(states, schedule, batch, height, width)
        hidden = memory = inputs.new_zeros(2, self.hidden, 0, batch)  # (2, h, rows, B): the previous diagonal
        states = []
        step_pixels = pixels.split([rows * batch for rows, _ in schedule.steps], dim=2)  # backward: one cat
        for (rows, advance), step_pixel in zip(schedule.steps, step_pixels, strict=True):
            above, left = rows_above_and_left(hidden, start_hidden, advance, rows)  # 2 × (2, h, n, B)
            left_memory = left if self.cell == "gru" else rows_to_the_left(memory, start_memory, advance, rows)
            step_pixel = step_pixel.view(2, -1, rows, batch)  # (2, C', n, B)
            if self.cell == "lstm":  # one product: input-to-state, state-to-state and the bias
                reads = torch.cat([step_pixel, above, left], dim=1).view(2, -1, rows * batch)  # (2, C' + 2h, n·B)
                gates, from_state = torch.baddbmm(bias, weight, reads).view(2, -1, rows, batch), None
            else:  # the GRU's reset gate scales the state-to-state part alone
                neighbours = torch.cat([above, left], dim=1).view(2, -1, rows * batch)  # (2, 2h, n·B)
                gates = torch.baddbmm(bias, input_weight, step_pixel.reshape(2, -1, rows * batch))
                gates, from_state = gates.view(2, -1, rows, batch), torch.bmm(state_weight, neighbours).view(
                    2, -1, rows, batch)
            hidden, memory = self.cell_update(self.cell, gates, from_state, left, left_memory)  # 2 × (2, h, n, B)
            states.append(hidden)
        return self._raster_order(torch.cat(states, dim=2), schedule, batch, height, width)

    def _raster_order(self, states: torch.Tensor, schedule: DiagonalSchedule, batch: int, height: int,
                      width: int) -> torch.Tensor:
        """The sum of both directions' (2, h, H·W, B) states, diagonal order, as a (B, h, H, W) map."""
        zeros = states.new_zeros(2, self.hidden, 1, batch)  # position H·W: zeros
        diagonal = torch.cat([states, zeros], dim=2)  # (2, h, H·W + 1, B)
        writes, inverse = schedule.writes.to(states.device), schedule.writes_inverse.to(states.device)
        out = gather_positions(diagonal[0], 1, writes[0], inverse[0]) + \
            gather_positions(diagonal[1], 1, writes[1], inverse[1])  # (h, H·W, B)
        return out.permute(2, 0, 1).reshape(batch, self.hidden, height, width)

    def _inputs_and_weight(self, inputs: torch.Tensor, condition: torch.Tensor | None,
                           ) -> tuple[torch.Tensor, torch.Tensor]:
        """The layer's input map (B, C', H, W) — the input, and the condition map after it — and each direction's
        input-to-state matrix (2, G·h, C'): the masked 1×1 convolution's (and the condition's unmasked 1×1 map's)
        weight. The products are taken per step, together with the state-to-state ones, so the (2, G·h, H·W·B)
        pre-activations of the whole map are never stored."""
        channels = inputs.shape[1]
        with_condition_check(self.condition_to_state, condition)
        weight = (self.input_to_state.weight * self.input_to_state.mask).view(2, self.gates, channels)
        if condition is not None:
            inputs = torch.cat([inputs, condition], dim=1)  # (B, C + Cc, H, W)
            weight = torch.cat([weight, self.condition_to_state.weight.view(2, self.gates, -1)], dim=2)
        return inputs, weight

    @staticmethod
    def _diagonal_order(inputs: torch.Tensor, schedule: DiagonalSchedule) -> torch.Tensor:
        """Each direction's input pixels (B, C', H, W) in diagonal order, (2, C', H·W·B); ``schedule.reads``
        (2, H·W) is each direction's order."""
        pixels = inputs.flatten(2).permute(1, 2, 0).contiguous()  # (C', H·W, B): a pixel's batch is one run
        reads, inverse = schedule.reads.flatten().to(inputs.device), schedule.reads_inverse.to(inputs.device)
        return gather_positions(pixels, 1, reads, inverse).view(pixels.shape[0], 2, -1).transpose(0, 1)

    def _initial_rows(self, batch: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The state every row starts from, (hidden, memory), each (2, h, 1, B): learned, or zeros."""
        if self.initial_state is None:
            zeros = like.new_zeros(2, self.hidden, 1, batch)
            return zeros, zeros
        pairs = [self.initial_state.pair(direction) for direction in (0, 1)]
        hidden, memory = (torch.stack(states).to(like.dtype).view(2, -1, 1, 1).expand(-1, -1, -1, batch)
                          for states in zip(*pairs, strict=True))
        return hidden, memory
