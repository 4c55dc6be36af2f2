"""The two recurrent layers of PixelRNN (van den Oord, Kalchbrenner, Kavukcuoglu, ICML 2016, §3.1–3.2, §3.4).

Both layers split each step into an input-to-state part, computed for the whole map at once by one masked
convolution, and a state-to-state part, a small convolution over the previous step's hidden state; the Python
loop runs over rows (Row LSTM) or skewed columns (Diagonal BiLSTM), never over pixels.

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
import torch.nn.functional as F
from torch import nn

from pixelrnn.config import CELLS, RECURRENT_LAYERS
from pixelrnn.errors import ConfigError
from pixelrnn.nn.masked_conv import MaskedConv2d, causal_mask

_NUM_GATES = {"lstm": 4, "gru": 3}


def _gate_conv(in_channels: int, hidden: int, kernel_size: tuple[int, int], cell: str,
               color_channels: int) -> MaskedConv2d:
    """A mask-B input-to-state convolution in → gates·h whose every gate chunk is grouped like the state."""
    if cell not in CELLS:
        raise ConfigError(f"unknown recurrent cell '{cell}' (choose from: {', '.join(CELLS)})")
    gates = _NUM_GATES[cell]
    conv = MaskedConv2d(in_channels, gates * hidden, kernel_size, "B", color_channels)
    per_gate = causal_mask(in_channels, hidden, kernel_size, "B", color_channels)  # (h, in, kh, kw)
    conv.mask.copy_(per_gate.repeat(gates, 1, 1, 1))  # (gates·h, in, kh, kw): chunk k like the state
    return conv


def _condition_conv(condition_channels: int, gates: int) -> nn.Conv2d | None:
    """The unmasked 1×1 map condition → gate bias (no bias term: zero padding of a skew stays zero)."""
    return nn.Conv2d(condition_channels, gates, 1, bias=False) if condition_channels > 0 else None


def _with_condition(from_input: torch.Tensor, conv: nn.Conv2d | None, condition: torch.Tensor | None,
                    skewed: bool = False) -> torch.Tensor:
    """Add the conditioning bias to the input-to-state pre-activations (B, G·h, H, W or skewed width)."""
    if conv is None and condition is None:
        return from_input
    if conv is None or condition is None:
        raise ConfigError("a layer built with condition_channels > 0 needs the condition map, and only it")
    bias = conv(condition)  # (B, G·h, H, W)
    return from_input + (skew(bias) if skewed else bias)


def cell_step(cell: str, from_input: torch.Tensor, from_state: torch.Tensor, hidden: torch.Tensor,
              memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One recurrent update for a whole row or column of positions.

    Args:
        cell: ``"lstm"`` or ``"gru"``.
        from_input: (B, G·h, L) input-to-state pre-activations (gate-major chunks of h).
        from_state: (B, G·h, L) state-to-state pre-activations from the previous step's hidden state.
        hidden: (B, h, L) the previous step's hidden state at the same positions (used by the GRU).
        memory: (B, h, L) the previous step's cell state at the same positions (used by the LSTM).

    Returns:
        (hidden, memory), each (B, h, L); the GRU returns its hidden state as the memory too.
    """
    if cell == "lstm":
        o, f, i, g = (from_input + from_state).chunk(4, dim=1)  # 4 × (B, h, L)
        memory = torch.sigmoid(f) * memory + torch.sigmoid(i) * torch.tanh(g)  # (B, h, L)
        return torch.sigmoid(o) * torch.tanh(memory), memory
    x_z, x_r, x_n = from_input.chunk(3, dim=1)  # 3 × (B, h, L)
    s_z, s_r, s_n = from_state.chunk(3, dim=1)  # 3 × (B, h, L)
    z = torch.sigmoid(x_z + s_z)
    r = torch.sigmoid(x_r + s_r)
    n = torch.tanh(x_n + r * s_n)  # as torch.nn.GRU: the reset gate scales the state's contribution
    hidden = (1 - z) * n + z * hidden  # (B, h, L)
    return hidden, hidden


class RowLSTM(nn.Module):
    """Row LSTM (§3.1): an LSTM (or GRU) over the rows of the map, with a triangular receptive field.

    Input-to-state: a 1×k mask-B convolution along the row (the pixel itself, at its colour groups, and the
    k // 2 pixels to its left), for the whole map at once. State-to-state: an unmasked 1×k convolution over
    the previous row's hidden state. Output (i, j) sees row i up to column j and, in the rows above, a cone
    widening by k // 2 columns per row; pixels further right in the rows above are outside it (by design).

    Args:
        in_channels: input maps (2h in PixelRNN).
        hidden: h, the hidden (and output) maps.
        kernel_size: odd k of both 1×k convolutions (3 in the paper).
        color_channels: colour groups (1 or 3).
        cell: ``"lstm"`` (the paper) or ``"gru"``.
        condition_channels: channels of a given conditioning map (0: none).

    Shape:
        (B, in_channels, H, W) [+ condition (B, condition_channels, H, W)] → (B, hidden, H, W).
    """

    def __init__(self, in_channels: int, hidden: int, kernel_size: int = 3, color_channels: int = 1,
                 cell: str = "lstm", condition_channels: int = 0) -> None:
        super().__init__()
        self.hidden, self.cell = hidden, cell
        self.input_to_state = _gate_conv(in_channels, hidden, (1, kernel_size), cell, color_channels)
        gates = self.input_to_state.out_channels
        self.state_to_state = nn.Conv1d(hidden, gates, kernel_size, padding=kernel_size // 2, bias=False)
        self.condition_to_state = _condition_conv(condition_channels, gates)

    def forward(self, inputs: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        batch, _, height, width = inputs.shape
        from_input = self.input_to_state(inputs)  # (B, G·h, H, W), every row at once
        from_input = _with_condition(from_input, self.condition_to_state, condition)
        hidden = inputs.new_zeros(batch, self.hidden, width)  # (B, h, W): the state of row −1
        memory = torch.zeros_like(hidden)  # (B, h, W)
        rows = []
        for row_input in from_input.unbind(dim=2):  # H × (B, G·h, W); unbind's backward is one stack, not H copies
            from_state = self.state_to_state(hidden)  # (B, G·h, W): previous row, columns j − k//2 … j + k//2
            hidden, memory = cell_step(self.cell, row_input, from_state, hidden, memory)
            rows.append(hidden)
        return torch.stack(rows, dim=2)  # H × (B, h, W) → (B, h, H, W)


def skew(inputs: torch.Tensor) -> torch.Tensor:
    """Shift row r right by r: (B, C, H, W) → (B, C, H, W + H − 1), zeros elsewhere."""
    batch, channels, height, width = inputs.shape
    padded = F.pad(inputs, (0, height))  # (B, C, H, W + H)
    flat = padded.reshape(batch, channels, height * (width + height))  # (B, C, H·(W + H))
    flat = flat[:, :, : height * (width + height - 1)]  # (B, C, H·(W + H − 1)): drop the last row's tail
    return flat.reshape(batch, channels, height, width + height - 1)  # row r now starts at column r


def unskew(skewed: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`skew`: (B, C, H, W + H − 1) → (B, C, H, W)."""
    batch, channels, height, skewed_width = skewed.shape
    width = skewed_width - height + 1
    flat = skewed.reshape(batch, channels, height * skewed_width)  # (B, C, H·(W + H − 1))
    flat = F.pad(flat, (0, height))  # (B, C, H·(W + H))
    return flat.reshape(batch, channels, height, width + height)[..., :width]  # row r read from column r


class DiagonalLSTM(nn.Module):
    """One direction of the Diagonal BiLSTM (§3.2): an LSTM (or GRU) along the diagonals of the map.

    The map is skewed so that each diagonal becomes a column; input-to-state is a 1×1 mask-B convolution of
    the skewed map, state-to-state a 2×1 convolution over the previous column's hidden state (the same row:
    the pixel to the left; the row above: the pixel above). Output (i, j) sees every pixel (i', j') with
    i' ≤ i and j' ≤ j, and pixel (i, j) itself only at its mask-B colour groups.

    Shape:
        (B, in_channels, H, W) → (B, hidden, H, W).
    """

    def __init__(self, in_channels: int, hidden: int, color_channels: int = 1, cell: str = "lstm",
                 condition_channels: int = 0) -> None:
        super().__init__()
        self.hidden, self.cell = hidden, cell
        self.input_to_state = _gate_conv(in_channels, hidden, (1, 1), cell, color_channels)
        gates = self.input_to_state.out_channels
        self.state_to_state = nn.Conv1d(hidden, gates, 2, padding=1, bias=False)
        self.condition_to_state = _condition_conv(condition_channels, gates)

    def forward(self, inputs: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        batch, _, height, _ = inputs.shape
        from_input = self.input_to_state(skew(inputs))  # (B, G·h, H, W + H − 1), every column at once
        from_input = _with_condition(from_input, self.condition_to_state, condition, skewed=True)
        hidden = inputs.new_zeros(batch, self.hidden, height)  # (B, h, H): the state of column −1
        memory = torch.zeros_like(hidden)  # (B, h, H)
        columns = []
        for column_input in from_input.unbind(dim=3):  # (W + H − 1) × (B, G·h, H)
            # (B, G·h, H + 1) → (B, G·h, H): output r reads rows r − 1 (tap 0) and r (tap 1), zero above row 0
            from_state = self.state_to_state(hidden)[..., :height]
            hidden, memory = cell_step(self.cell, column_input, from_state, hidden, memory)
            columns.append(hidden)
        return unskew(torch.stack(columns, dim=3))  # (B, h, H, W + H − 1) → (B, h, H, W)


class DiagonalBiLSTM(nn.Module):
    """Diagonal BiLSTM (§3.2): two diagonal directions whose sum sees the whole past of every pixel.

    The left-to-right direction sees the quadrant above-left of (i, j). The right-to-left one runs on the
    left-right mirrored map and is mirrored back, so it sees the quadrant above-right and row i to the right
    (the future); shifting its output down one row (row 0 gets zeros) keeps only rows < i, i.e. the full rows
    above. Their sum sees all of the past and nothing of the future.

    Args:
        in_channels: input maps (2h in PixelRNN).
        hidden: h, the output maps of each direction (the directions are added).
        color_channels: colour groups (1 or 3).
        cell: ``"lstm"`` (the paper) or ``"gru"``.
        condition_channels: channels of a given conditioning map (0: none).

    Shape:
        (B, in_channels, H, W) [+ condition (B, condition_channels, H, W)] → (B, hidden, H, W).
    """

    def __init__(self, in_channels: int, hidden: int, color_channels: int = 1, cell: str = "lstm",
                 condition_channels: int = 0) -> None:
        super().__init__()
        self.forward_direction = DiagonalLSTM(in_channels, hidden, color_channels, cell, condition_channels)
        self.backward_direction = DiagonalLSTM(in_channels, hidden, color_channels, cell, condition_channels)
        self.shift_right_to_left = True  # only tests turn it off, to show that the shift is what keeps causality

    def forward(self, inputs: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        left_to_right = self.forward_direction(inputs, condition)  # (B, h, H, W)
        mirrored_condition = None if condition is None else condition.flip(-1)
        right_to_left = self.backward_direction(inputs.flip(-1), mirrored_condition).flip(-1)  # (B, h, H, W)
        if self.shift_right_to_left:
            height = inputs.shape[2]
            right_to_left = F.pad(right_to_left, (0, 0, 1, 0))[:, :, :height]  # (B, h, H, W), row r ← r − 1
        return left_to_right + right_to_left


def recurrent_layer(kind: str, in_channels: int, hidden: int, kernel_size: int = 3, color_channels: int = 1,
                    cell: str = "lstm", condition_channels: int = 0) -> nn.Module:
    """Build a :class:`RowLSTM` (``"row_lstm"``, 1×k kernels) or a :class:`DiagonalBiLSTM` (``"diagonal_bilstm"``;
    its kernels are fixed by the paper, 1×1 and 2×1, so ``kernel_size`` is not used)."""
    if kind == "row_lstm":
        return RowLSTM(in_channels, hidden, kernel_size, color_channels, cell, condition_channels)
    if kind == "diagonal_bilstm":
        return DiagonalBiLSTM(in_channels, hidden, color_channels, cell, condition_channels)
    raise ConfigError(f"unknown recurrent layer '{kind}' (choose from: {', '.join(RECURRENT_LAYERS)})")
