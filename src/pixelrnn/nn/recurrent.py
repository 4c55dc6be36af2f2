"""The two recurrent layers of PixelRNN (van den Oord, Kalchbrenner, Kavukcuoglu, ICML 2016, §3.1–3.2, §3.4).

Both layers split each step into an input-to-state part, computed for the whole map at once by one masked
convolution, and a state-to-state part, a small convolution over the previous step's hidden state; the Python
loop runs over rows (Row LSTM) or diagonals (Diagonal BiLSTM, :mod:`pixelrnn.nn.diagonal_bilstm`), never over
pixels.

Colour groups. The h hidden maps are split into R | G | B groups by
:func:`~pixelrnn.nn.masked_conv.channel_groups`; each gate (o, f, i, g for the LSTM; z, r, n for the GRU) is
a chunk of h channels laid out like the hidden state, and the input-to-state convolution carries, for every
gate chunk, the mask-B mask of an (in → h) convolution. So gate channel k of every gate sits in the colour
group of hidden channel k, and the element-wise cell update keeps group g of the state at pixel (i, j)
dependent only on groups ≤ g of (i, j). The state-to-state convolutions read only states of pixels strictly
before (i, j) — the previous row (Row LSTM), or the pixel to the left and the one above (Diagonal BiLSTM) —
which depend on complete past pixels only, so they need no channel mask.

Conditioning (Multi-Scale PixelRNN, §3.6). A layer built with ``condition_channels > 0`` takes a map
``condition`` (B, condition_channels, H, W) of information that is given, not generated (the upsampled small
image); an unmasked 1×1 convolution turns it into a bias of the input-to-state pre-activations of every
position. It sees no pixel of the image being generated, so it cannot break causality.
"""

from __future__ import annotations

import torch
from torch import nn

from pixelrnn.errors import ConfigError
from pixelrnn.nn import row_lstm_recurrence
from pixelrnn.nn.diagonal_bilstm import DiagonalBiLSTM
from pixelrnn.nn.recurrent_cell import (
    CELLS,
    SteppedLayer,
    cell_step,
    condition_conv,
    gate_conv,
    initial_state,
    with_condition,
)
from pixelrnn.nn.row_lstm_recurrence import RowLSTMRecurrence

__all__ = ["CELLS", "RECURRENT_LAYERS", "DiagonalBiLSTM", "RowLSTM", "cell_step", "recurrent_layer"]

RECURRENT_LAYERS = ("row_lstm", "diagonal_bilstm")  # the layers of recurrent_layer


class RowLSTM(SteppedLayer):
    """Row LSTM (§3.1): an LSTM (or GRU) over the rows of the map, with a triangular receptive field.

    Input-to-state: a 1×k mask-B convolution along the row (the pixel itself, at its colour groups, and the
    k // 2 pixels to its left), for the whole map at once. State-to-state: an unmasked 1×k convolution over
    the previous row's hidden state. Output (i, j) sees row i up to column j and, in the rows above, a cone
    widening by k // 2 columns per row; pixels further right in the rows above are outside it (by design).
    Each step takes the state-to-state convolution as one (G·h, h·k) × (h·k, B·W) product over the previous row's
    shifted states, channels first (about 1.7× faster than ``conv1d`` at h = 16 on a CPU, forward + backward).

    Args:
        in_channels: input maps (2h in PixelRNN).
        hidden: h, the hidden (and output) maps.
        kernel_size: odd k of both 1×k convolutions (3 in the paper).
        color_channels: colour groups (1 or 3).
        cell: ``"lstm"`` (the paper) or ``"gru"``.
        condition_channels: channels of a given conditioning map (0: none).
        learned_initial_state: row −1's state is a learned (h,) vector at every column (else zeros); the
            state-to-state convolution still reads zeros beyond the row's ends.

    Shape:
        (B, in_channels, H, W) [+ condition (B, condition_channels, H, W)] → (B, hidden, H, W).
    """

    def __init__(self, in_channels: int, hidden: int, kernel_size: int = 3, color_channels: int = 1,
                 cell: str = "lstm", condition_channels: int = 0, learned_initial_state: bool = False) -> None:
        super().__init__()
        self.hidden, self.cell = hidden, cell
        self.input_to_state = gate_conv(in_channels, hidden, (1, kernel_size), cell, color_channels)
        gates = self.input_to_state.out_channels
        self.state_to_state = nn.Conv1d(hidden, gates, kernel_size, padding=kernel_size // 2, bias=False)
        self.condition_to_state = condition_conv(condition_channels, gates)
        self.initial_state = initial_state(learned_initial_state, 1, hidden, cell)

    def forward(self, inputs: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        batch, _, height, width = inputs.shape
        from_input = self.input_to_state(inputs)  # (B, G·h, H, W), every row at once
        from_input = with_condition(from_input, self.condition_to_state, condition)
        # channels first: each row's (G·h, B·W) pre-activations and the (h, B·W) state, so that the state-to-state
        # convolution is one (G·h, k·h) × (k·h, B·W) product and every gate a contiguous block
        rows_input = from_input.permute(2, 1, 0, 3).contiguous().view(height, -1, batch * width)
        kernel = self.state_to_state.weight  # (G·h, h, k)
        weight = kernel.reshape(kernel.shape[0], -1)  # (G·h, h·k): column c·k + t reads channel c at tap t
        autocast = torch.is_autocast_enabled(inputs.device.type)
        native = self.cell == "lstm" and not self.compiled and \
            row_lstm_recurrence.native_kernel(weight, autocast) is not None  # a CPU, training or evaluation
        hidden, memory = self._row_before_first(weight if native else inputs, batch * width)  # 2 × (h, B·W)
        if native:  # float32 / float64, or under bfloat16 autocast bfloat16 products and float32 states
            products = torch.get_autocast_dtype(inputs.device.type) if autocast else weight.dtype
            with torch.autocast(inputs.device.type, enabled=False):
                hidden_rows = RowLSTMRecurrence.apply(rows_input.to(products), weight.to(products), hidden, memory,
                                                      batch, width)  # (H, h, B·W), in the states' type
            return hidden_rows.view(height, self.hidden, batch, width).permute(2, 1, 0, 3)  # (B, h, H, W)
        rows = []
        for row_input in rows_input.unbind(dim=0):  # H × (G·h, B·W); unbind's backward is one stack, not H copies
            taps = _row_taps(hidden.view(self.hidden, batch, width), kernel.shape[2])  # (h·k, B·W)
            if self.cell == "lstm":  # one product: the state-to-state convolution plus the input's part
                hidden, memory = self.cell_update(self.cell, torch.addmm(row_input, weight, taps), None, hidden,
                                                  memory, dim=0)
            else:
                hidden, memory = self.cell_update(self.cell, row_input, weight @ taps, hidden, memory, dim=0)
            rows.append(hidden)
        out = torch.stack(rows).view(height, self.hidden, batch, width)  # (H, h, B, W)
        return out.permute(2, 1, 0, 3)  # (B, h, H, W)

    def _row_before_first(self, like: torch.Tensor, columns: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The hidden and cell state of row −1, (h, B·W) each in ``like``'s dtype: zeros, or the learned initial
        state at every column."""
        hidden = like.new_zeros(self.hidden, columns)
        memory = torch.zeros_like(hidden)
        if self.initial_state is not None:
            initial_hidden, initial_memory = self.initial_state.pair(0)  # 2 × (h,)
            hidden = hidden + initial_hidden[:, None].to(hidden.dtype)
            memory = memory + initial_memory[:, None].to(hidden.dtype)
        return hidden, memory


def _row_taps(hidden: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """The previous row's state (h, B, W) at columns j − k//2 … j + k//2 of every column j (zeros beyond the row's
    ends): (h·k, B·W), row c·k + t holding channel c at offset t − k//2."""
    channels, batch, width = hidden.shape
    padded = nn.functional.pad(hidden, (kernel_size // 2, kernel_size // 2))  # (h, B, W + k − 1)
    return torch.stack([padded[:, :, tap:tap + width] for tap in range(kernel_size)], dim=1).view(
        channels * kernel_size, batch * width)


def recurrent_layer(kind: str, in_channels: int, hidden: int, kernel_size: int = 3, color_channels: int = 1,
                    cell: str = "lstm", condition_channels: int = 0, learned_initial_state: bool = False) -> nn.Module:
    """Build a :class:`RowLSTM` (``"row_lstm"``, 1×k kernels) or a :class:`DiagonalBiLSTM` (``"diagonal_bilstm"``;
    its kernels are fixed by the paper, 1×1 and 2×1, so ``kernel_size`` is not used)."""
    if kind == "row_lstm":
        return RowLSTM(in_channels, hidden, kernel_size, color_channels, cell, condition_channels,
                       learned_initial_state)
    if kind == "diagonal_bilstm":
        return DiagonalBiLSTM(in_channels, hidden, color_channels, cell, condition_channels, learned_initial_state)
    raise ConfigError(f"unknown recurrent layer '{kind}' (choose from: {', '.join(RECURRENT_LAYERS)})")
