"""Incremental PixelRNN: constant work per pixel and layer for the Row LSTM and the Diagonal BiLSTM.

Every layer keeps the maps of its input, hidden and cell states for the pixels already done. At pixel (i, j):

- input layer: the 7×7 mask-A convolution at (i, j) only (a window of the image);
- Row LSTM: input-to-state from the layer input at (i, j − k//2 … j), state-to-state from the cached hidden
  states of row i − 1 at (j − k//2 … j + k//2), cell state from (i − 1, j);
- Diagonal BiLSTM, left-to-right: input-to-state at (i, j), state-to-state from the cached hidden states above,
  (i − 1, j), and to the left, (i, j − 1), cell state from (i, j − 1). The right-to-left direction of row i
  needs the whole row: :meth:`PixelRNNStepper.end_row` runs it, right to left, once row i is finished; pixel
  (i, j) reads its result from row i − 1 (the paper's one-row shift);
- the 1×1 projection, residual, conditioning, skips and output layers at (i, j);
- a learned initial state is read wherever the plain layers start from it: row −1 (Row LSTM, both Diagonal
  directions), column −1 (left-to-right) and column W (right-to-left).

These are the computations of :mod:`pixelrnn.nn.recurrent` and :mod:`pixelrnn.nn.diagonal_bilstm` restricted to
one position (borders read zeros, or the learned initial state), which the tests check by sampling the same images
as the plain sampler from the same random numbers.
"""

from __future__ import annotations

import torch

from pixelrnn.models.pixelrnn import PixelRNN
from pixelrnn.nn.recurrent import DiagonalBiLSTM, RowLSTM
from pixelrnn.nn.recurrent_cell import cell_step
from pixelrnn.sampling.steppers.common import Convolutions, Stepper, window, zero_maps


def _at(maps: torch.Tensor, row: int, col: int) -> torch.Tensor:
    """(B, C) values of (B, C, H, W) maps at (row, col), zeros outside the map."""
    return window(maps, (row, row + 1), (col, col + 1))[:, :, 0, 0]


class PixelRNNStepper(Stepper):
    """Incremental evaluation of a :class:`PixelRNN` (either layer, either cell, skips, conditioning).

    Args:
        model: the PixelRNN (evaluation mode).
        batch: B, the number of images.
        labels: int64 (B,) for a class-conditional model, else None.
        condition: (B, Cc, H, W) given map of a conditioned network (Multi-Scale's second half), else None.
    """

    steps = PixelRNN

    def __init__(self, model: PixelRNN, batch: int, labels: torch.Tensor | None = None,
                 condition: torch.Tensor | None = None) -> None:
        self.model, self.condition = model, condition

        def maps(channels: int) -> torch.Tensor:
            return zero_maps(model, batch, channels)

        h, layers = model.config.hidden_channels, len(model.layers)
        self.features = [maps(2 * h) for _ in range(layers + 1)]  # the input of layer l; [L]: the final stream
        self.hidden, self.memory = [maps(h) for _ in range(layers)], [maps(h) for _ in range(layers)]
        diagonal = [isinstance(layer.recurrent, DiagonalBiLSTM) for layer in model.layers]
        self.hidden_back = [maps(h) if is_diagonal else None for is_diagonal in diagonal]
        self.memory_back = [maps(h) if is_diagonal else None for is_diagonal in diagonal]
        self.pre_back = [maps(layer.recurrent.gates) if is_diagonal else None
                         for layer, is_diagonal in zip(model.layers, diagonal, strict=True)]
        self.codes = model.class_codes(labels)
        self.convs = Convolutions()
        self.input_reach = model.input_conv.kernel_size[0] // 2

    def _input_layer_at(self, images: torch.Tensor, row: int, col: int) -> torch.Tensor:
        """The mask-A input convolution at (row, col): (B, 2h); only the rows it reads are preprocessed."""
        first = max(row - self.input_reach, 0)
        rows = self.model.preprocess(images[:, :, first:row + self.input_reach + 1])  # (B, C, ≤ k, W) in [−1, 1]
        return self.convs.at(self.model.input_conv, rows.to(self.features[0].dtype), row - first, col)

    def params_at(self, images: torch.Tensor, row: int, col: int) -> torch.Tensor:
        model = self.model
        features = self._condition(self._input_layer_at(images, row, col), 0)  # (B, 2h)
        self.features[0][:, :, row, col] = features
        skipped = 0
        for index, layer in enumerate(model.layers):
            if isinstance(layer.recurrent, RowLSTM):
                out = self._row_lstm_at(index, layer.recurrent, row, col)
            else:
                out = self._diagonal_at(index, layer.recurrent, row, col)
            update = self.convs.pointwise(layer.project, out)  # (B, 2h)
            features = self._condition(features + update if layer.residual else update, index + 1)
            self.features[index + 1][:, :, row, col] = features
            if model.skips is not None:
                skipped = skipped + self.convs.pointwise(model.skips[index], features)
        return self.convs.sequential(model.output, features if model.skips is None else skipped)  # (B, C·P)

    def _gate_inputs(self, recurrent, index: int, row: int, col: int) -> torch.Tensor:
        """Input-to-state pre-activations at (row, col), with the conditioning bias: (B, gates)."""
        pre = self.convs.at(recurrent.input_to_state, self.features[index], row, col)
        if recurrent.condition_to_state is not None:
            pre = pre + self.convs.at(recurrent.condition_to_state, self.condition, row, col)
        return pre

    def _row_lstm_at(self, index: int, recurrent: RowLSTM, row: int, col: int) -> torch.Tensor:
        reach = recurrent.state_to_state.kernel_size[0] // 2
        columns = (col - reach, col + reach + 1)
        if row > 0 or recurrent.initial_state is None:
            above = window(self.hidden[index], (row - 1, row), columns)  # (B, h, 1, k)
        else:  # row −1: the learned state at every column, zeros beyond the row's ends
            start = recurrent.initial_state.pair(0)[0].to(self.hidden[index].dtype)  # (h,)
            above = window(start.view(1, -1, 1, 1).expand_as(self.hidden[index][:, :, :1]), (0, 1), columns)
        from_state = self.convs.pointwise(recurrent.state_to_state, above.flatten(1))  # (B, G·h)
        hidden, memory = cell_step(recurrent.cell, self._gate_inputs(recurrent, index, row, col), from_state,
                                   *self._states_at(index, recurrent, 0, row - 1, col))
        self.hidden[index][:, :, row, col], self.memory[index][:, :, row, col] = hidden, memory
        return hidden  # (B, h)

    def _states_at(self, index: int, recurrent, direction: int, row: int, col: int) -> tuple[torch.Tensor, ...]:
        """(hidden, memory) (B, h) of one direction at (row, col); outside the image: the initial state.

        Outside means row −1, column −1 or column W (the states the plain layers start from); zeros when the
        layer's initial state is not learned.
        """
        hidden = self.hidden[index] if direction == 0 else self.hidden_back[index]
        memory = self.memory[index] if direction == 0 else self.memory_back[index]
        if recurrent.initial_state is None or (row >= 0 and 0 <= col < hidden.shape[-1]):
            return _at(hidden, row, col), _at(memory, row, col)
        return tuple(start.to(hidden.dtype).expand(hidden.shape[0], -1)
                     for start in recurrent.initial_state.pair(direction))

    def _diagonal_at(self, index: int, recurrent: DiagonalBiLSTM, row: int, col: int) -> torch.Tensor:
        pre_forward, pre_back = self._gate_inputs(recurrent, index, row, col).chunk(2, dim=1)  # 2 × (B, G·h)
        self.pre_back[index][:, :, row, col] = pre_back
        left, left_memory = self._states_at(index, recurrent, 0, row, col - 1)  # 2 × (B, h)
        above = self._states_at(index, recurrent, 0, row - 1, col)[0]  # (B, h)
        neighbours = torch.cat([above, left], dim=1)  # (B, 2h): above, left
        hidden, memory = cell_step(recurrent.cell, pre_forward, neighbours @ recurrent.state_to_state[0], left,
                                   left_memory)
        self.hidden[index][:, :, row, col], self.memory[index][:, :, row, col] = hidden, memory
        return hidden + _at(self.hidden_back[index], row - 1, col)  # + right-to-left of the row above (zeros at 0)

    def end_row(self, row: int) -> None:
        """Run every Diagonal BiLSTM's right-to-left direction over the finished row, right to left."""
        width = self.features[0].shape[-1]
        for index, layer in enumerate(self.model.layers):
            if not isinstance(layer.recurrent, DiagonalBiLSTM):
                continue
            hidden_back, memory_back = self.hidden_back[index], self.memory_back[index]
            for col in reversed(range(width)):
                right, right_memory = self._states_at(index, layer.recurrent, 1, row, col + 1)  # 2 × (B, h)
                above = self._states_at(index, layer.recurrent, 1, row - 1, col)[0]  # (B, h)
                neighbours = torch.cat([above, right], dim=1)  # (B, 2h): above, "left"
                hidden, memory = cell_step(layer.recurrent.cell, self.pre_back[index][:, :, row, col],
                                           neighbours @ layer.recurrent.state_to_state[1], right, right_memory)
                hidden_back[:, :, row, col], memory_back[:, :, row, col] = hidden, memory
