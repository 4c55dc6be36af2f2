"""The gather whose backward gathers too (nn/position_gather.py): gradients equal index_select's in float64."""

from __future__ import annotations

import pytest
import torch

from pixelrnn.nn.diagonal_bilstm import diagonal_schedule
from pixelrnn.nn.position_gather import gather_positions, inverse_positions


@pytest.mark.parametrize(("index", "constant"), [
    ([3, 0, 2, 1], None),  # a permutation
    ([2, 0, 1, 2, 0, 1, 1], None),  # read up to three times, one source never
    ([4, 4, 0, 3, 1, 4], 4),  # a zero slot read thrice, source 2 never
])
def test_the_gradient_equals_index_selects(index, constant):
    generator = torch.Generator().manual_seed(0)
    source = torch.randn(3, 5, 2, dtype=torch.float64, generator=generator)
    if constant is not None:
        source[:, constant] = 0  # the constant slot: its gradient is not needed
    index = torch.tensor(index)
    weights = torch.randn(3, len(index), 2, dtype=torch.float64, generator=generator)
    ours, reference = source.clone().requires_grad_(), source.clone().requires_grad_()
    gathered = gather_positions(ours, 1, index, inverse_positions(index, 5, constant))
    assert torch.equal(gathered, reference.index_select(1, index))
    (gathered * weights).sum().backward()
    (reference.index_select(1, index) * weights).sum().backward()
    expected = reference.grad.clone()
    if constant is not None:
        expected[:, constant] = 0
    assert torch.equal(ours.grad, expected)
    assert torch.autograd.gradcheck(lambda x: gather_positions(x, 1, index, inverse_positions(index, 5)), (ours,))


def test_the_diagonal_orders_are_read_twice_and_written_once():
    schedule = diagonal_schedule(5, 7)
    assert schedule.reads_inverse.shape == (2, 35)  # each pixel read once by each direction
    assert schedule.writes_inverse.shape == (2, 1, 36)
    # the right-to-left direction's last row is shifted out: those diagonal positions get no gradient
    assert (schedule.writes_inverse[1] == 35).sum() == 7 + 1 and (schedule.writes_inverse[0] == 35).sum() == 1
