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

from pixelrnn.errors import ConfigError
from pixelrnn.nn.masked_conv import MaskedConv2d, causal_mask
from pixelrnn.nn.shifted_conv import down_shift

RECURRENT_LAYERS = ("row_lstm", "diagonal_bilstm")  # the layers of recurrent_layer
CELLS = ("lstm", "gru")  # the recurrent cells
_NUM_GATES = {"lstm": 4, "gru": 3}


def _gate_conv(in_channels: int, hidden: int, kernel_size: tuple[int, int], cell: str,
               color_channels: int, directions: int = 1) -> MaskedConv2d:
    """A mask-B input-to-state convolution in → directions·gates·h whose every chunk of h is grouped like the state."""
    if cell not in CELLS:
        raise ConfigError(f"unknown recurrent cell '{cell}' (choose from: {', '.join(CELLS)})")
    chunks = directions * _NUM_GATES[cell]
    conv = MaskedConv2d(in_channels, chunks * hidden, kernel_size, "B", color_channels)
    per_gate = causal_mask(in_channels, hidden, kernel_size, "B", color_channels)  # (h, in, kh, kw)
    conv.mask.copy_(per_gate.repeat(chunks, 1, 1, 1))  # (chunks·h, in, kh, kw): chunk k like the state
    return conv


def _condition_conv(condition_channels: int, gates: int) -> nn.Conv2d | None:
    """The unmasked 1×1 map condition → gate bias (no bias term: the input-to-state convolution has one)."""
    return nn.Conv2d(condition_channels, gates, 1, bias=False) if condition_channels > 0 else None


def _with_condition(from_input: torch.Tensor, conv: nn.Conv2d | None, condition: torch.Tensor | None) -> torch.Tensor:
    """Add the conditioning bias to the input-to-state pre-activations (B, G·h, H, W)."""
    if conv is None and condition is None:
        return from_input
    if conv is None or condition is None:
        raise ConfigError("a layer built with condition_channels > 0 needs the condition map, and only it")
    bias = conv(condition)  # (B, G·h, H, W)
    return from_input + bias


class InitialState(nn.Module):
    """The learned state before the first step of a recurrent layer: one vector per direction (§4 of the paper).

    ``hidden`` is (directions, h); ``memory`` (directions, h) is the LSTM's cell state (a GRU has none: its memory
    is its hidden state). Both start at zero, so a new model computes what the zero-state model computes.
    """

    def __init__(self, directions: int, hidden: int, cell: str) -> None:
        super().__init__()
        self.hidden = nn.Parameter(torch.zeros(directions, hidden))
        self.memory = nn.Parameter(torch.zeros(directions, hidden)) if cell == "lstm" else None

    def pair(self, direction: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(hidden, memory) of one direction, each (h,)."""
        hidden = self.hidden[direction]
        return hidden, hidden if self.memory is None else self.memory[direction]


def _initial_state(learned: bool, directions: int, hidden: int, cell: str) -> InitialState | None:
    return InitialState(directions, hidden, cell) if learned else None


def cell_step(cell: str, from_input: torch.Tensor, from_state: torch.Tensor, hidden: torch.Tensor,
              memory: torch.Tensor, dim: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """One recurrent update for a whole row or diagonal of positions.

    Args:
        cell: ``"lstm"`` or ``"gru"``.
        from_input: (B, G·h, L) input-to-state pre-activations (gate-major chunks of h along ``dim``).
        from_state: (B, G·h, L) state-to-state pre-activations from the previous step's hidden state.
        hidden: (B, h, L) the previous step's hidden state at the same positions (used by the GRU).
        memory: (B, h, L) the previous step's cell state at the same positions (used by the LSTM).
        dim: the gate/channel dimension (1 as drawn above; the Diagonal BiLSTM keeps channels last).

    Returns:
        (hidden, memory), each (B, h, L); the GRU returns its hidden state as the memory too.
    """
    if cell == "lstm":
        o, f, i, g = (from_input + from_state).chunk(4, dim=dim)  # 4 × (B, h, L)
        memory = torch.sigmoid(f) * memory + torch.sigmoid(i) * torch.tanh(g)  # (B, h, L)
        return torch.sigmoid(o) * torch.tanh(memory), memory
    x_z, x_r, x_n = from_input.chunk(3, dim=dim)  # 3 × (B, h, L)
    s_z, s_r, s_n = from_state.chunk(3, dim=dim)  # 3 × (B, h, L)
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
        learned_initial_state: row −1's state is a learned (h,) vector at every column (else zeros); the
            state-to-state convolution still reads zeros beyond the row's ends.

    Shape:
        (B, in_channels, H, W) [+ condition (B, condition_channels, H, W)] → (B, hidden, H, W).
    """

    def __init__(self, in_channels: int, hidden: int, kernel_size: int = 3, color_channels: int = 1,
                 cell: str = "lstm", condition_channels: int = 0, learned_initial_state: bool = False) -> None:
        super().__init__()
        self.hidden, self.cell = hidden, cell
        self.input_to_state = _gate_conv(in_channels, hidden, (1, kernel_size), cell, color_channels)
        gates = self.input_to_state.out_channels
        self.state_to_state = nn.Conv1d(hidden, gates, kernel_size, padding=kernel_size // 2, bias=False)
        self.condition_to_state = _condition_conv(condition_channels, gates)
        self.initial_state = _initial_state(learned_initial_state, 1, hidden, cell)

    def forward(self, inputs: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        batch, _, height, width = inputs.shape
        from_input = self.input_to_state(inputs)  # (B, G·h, H, W), every row at once
        from_input = _with_condition(from_input, self.condition_to_state, condition)
        hidden = inputs.new_zeros(batch, self.hidden, width)  # (B, h, W): the state of row −1
        memory = torch.zeros_like(hidden)  # (B, h, W)
        if self.initial_state is not None:
            initial_hidden, initial_memory = self.initial_state.pair(0)  # 2 × (h,)
            hidden = hidden + initial_hidden[:, None].to(hidden.dtype)  # (B, h, W)
            memory = memory + initial_memory[:, None].to(hidden.dtype)
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


class DiagonalBiLSTM(nn.Module):
    """Diagonal BiLSTM (§3.2): two diagonal directions whose sum sees the past of every pixel.

    Each direction skews its map so that each diagonal becomes a column (row r shifted right by r); its
    input-to-state is a 1×1 mask-B convolution, its state-to-state a 2×1 convolution over the previous column's
    hidden state (same row: the pixel to the left; row above: the pixel above). The left-to-right direction
    sees the quadrant above-left of (i, j). The right-to-left one runs on the left-right mirrored map and is
    mirrored back, so it sees the quadrant above-right and row i to the right (the future); shifting its output
    down one row (row 0 gets zeros) keeps rows < i only. Their sum sees the past and nothing of the future
    (all of it but pixel (i − 1, W − 1) for small j: see docs/models.md).

    Both directions run in one loop over the W + H − 1 skewed columns, as one batched matrix product per
    step; a 1×1 convolution commutes with mirroring, so one masked convolution of the unmirrored map gives both
    directions' input-to-state pre-activations.

    Args:
        in_channels: input maps (2h in PixelRNN).
        hidden: h, the output maps of each direction (the directions are added).
        color_channels: colour groups (1 or 3).
        cell: ``"lstm"`` (the paper) or ``"gru"``.
        condition_channels: channels of a given conditioning map (0: none).
        learned_initial_state: the state left of column 0 and above row 0 is a learned (h,) vector per direction
            (else zeros). In the skewed map the positions left of a row's first pixel are padding: their state is
            reset to the initial state after every step, so each row starts from it, as an unskewed row would.

    Shape:
        (B, in_channels, H, W) [+ condition (B, condition_channels, H, W)] → (B, hidden, H, W).
    """

    def __init__(self, in_channels: int, hidden: int, color_channels: int = 1, cell: str = "lstm",
                 condition_channels: int = 0, learned_initial_state: bool = False) -> None:
        super().__init__()
        self.hidden, self.cell = hidden, cell
        # channels [0, G·h): left-to-right gates; [G·h, 2·G·h): right-to-left gates
        self.input_to_state = _gate_conv(in_channels, hidden, (1, 1), cell, color_channels, directions=2)
        self.gates = self.input_to_state.out_channels // 2
        # per direction, the 2×1 column kernel as one (2h → G·h) matrix: rows [0, h) read the pixel above,
        # rows [h, 2h) the pixel to the left; initialised like a Conv1d(h, G·h, 2)
        bound = 1.0 / (2 * hidden) ** 0.5
        self.state_to_state = nn.Parameter(torch.empty(2, 2 * hidden, self.gates).uniform_(-bound, bound))
        self.condition_to_state = _condition_conv(condition_channels, 2 * self.gates)
        self.initial_state = _initial_state(learned_initial_state, 2, hidden, cell)
        self.shift_right_to_left = True  # only tests turn it off, to show that the shift is what keeps causality

    def forward(self, inputs: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        batch, _, height, width = inputs.shape
        pre = _with_condition(self.input_to_state(inputs), self.condition_to_state, condition)  # (B, 2·G·h, H, W)
        left_to_right, right_to_left = pre.chunk(2, dim=1)  # 2 × (B, G·h, H, W)
        skewed = torch.stack([skew(left_to_right), skew(right_to_left.flip(-1))])  # (2, B, G·h, H, L), L = W + H − 1
        steps = skewed.permute(4, 0, 1, 3, 2).reshape(-1, 2, batch * height, self.gates)  # (L, 2, B·H, G·h)
        hidden = inputs.new_zeros(2, batch * height, self.hidden)  # (2, B·H, h): the state of column −1
        memory = torch.zeros_like(hidden)
        initial = self._initial_maps(hidden.dtype)
        if initial is not None:
            hidden, memory = (state + start.view(2, 1, self.hidden) for state, start in zip((hidden, memory), initial,
                                                                                              strict=True))
        columns = []
        for step, step_input in enumerate(steps.unbind(0)):  # L × (2, B·H, G·h)
            above = self._above(hidden.view(2, batch, height, self.hidden), initial)  # (2, B, H, h): row r ← r − 1
            neighbours = torch.cat([above.reshape(2, batch * height, self.hidden), hidden], dim=-1)  # (2, B·H, 2h)
            from_state = torch.bmm(neighbours, self.state_to_state)  # (2, B·H, G·h)
            hidden, memory = cell_step(self.cell, step_input, from_state, hidden, memory, dim=-1)
            columns.append(hidden)
            if initial is not None and step < height - 1:  # rows r > step are still left of their column 0
                hidden, memory = (_restart_rows(state, start, step, batch, height)
                                  for state, start in zip((hidden, memory), initial, strict=True))
        out = torch.stack(columns).view(-1, 2, batch, height, self.hidden)  # (L, 2, B, H, h)
        out = out.permute(1, 2, 4, 3, 0)  # (2, B, h, H, L)
        left_to_right, right_to_left = unskew(out[0]), unskew(out[1]).flip(-1)  # 2 × (B, h, H, W)
        if self.shift_right_to_left:
            right_to_left = down_shift(right_to_left)  # (B, h, H, W), row r ← r − 1
        return left_to_right + right_to_left

    def _initial_maps(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The learned initial (hidden, memory) of both directions, each (2, h); None for zero states."""
        if self.initial_state is None:
            return None
        pairs = [self.initial_state.pair(direction) for direction in (0, 1)]
        return tuple(torch.stack(states).to(dtype) for states in zip(*pairs, strict=True))

    @staticmethod
    def _above(hidden: torch.Tensor, initial: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        """Each row's state read from the row above: (2, B, H, h) → (2, B, H, h); row 0 reads row −1."""
        if initial is None:
            return F.pad(hidden, (0, 0, 1, 0))[:, :, :-1]  # row −1: zeros
        top = initial[0].view(2, 1, 1, -1).expand(-1, hidden.shape[1], 1, -1)  # (2, B, 1, h)
        return torch.cat([top, hidden[:, :, :-1]], dim=2)


def _restart_rows(state: torch.Tensor, start: torch.Tensor, step: int, batch: int, height: int) -> torch.Tensor:
    """Put the initial state ``start`` (2, h) back into the rows r > ``step`` of a (2, B·H, h) state."""
    rows = state.view(2, batch, height, -1)
    waiting = torch.arange(height, device=state.device).view(1, 1, height, 1) > step  # (1, 1, H, 1)
    return torch.where(waiting, start.view(2, 1, 1, -1), rows).view_as(state)


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
