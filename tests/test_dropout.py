"""pixelrnn.nn.dropout: nn.Dropout's distribution and scaling, with a mask cheap to draw on a CPU."""

from __future__ import annotations

import pytest
import torch

from pixelrnn.nn.dropout import Dropout, dropout, keep_mask


@pytest.mark.parametrize("p", [0.5, 0.3, 0.9])
def test_each_element_is_kept_with_probability_one_minus_p(p):
    torch.manual_seed(0)
    keep = keep_mask((1000, 1000), p).float()
    sigma = (p * (1 - p) / keep.numel()) ** 0.5
    assert abs(keep.mean().item() - (1 - p)) < 5 * sigma
    # no pattern along the memory order: every position modulo 64 (the bits of one draw) keeps at the same rate,
    # and neighbours are uncorrelated
    per_bit = keep.view(-1)[: keep.numel() // 64 * 64].view(-1, 64).mean(dim=0)
    assert (per_bit - (1 - p)).abs().max().item() < 5 * (p * (1 - p) / (keep.numel() / 64)) ** 0.5
    flat = keep.view(-1) - (1 - p)
    correlation = (flat[1:] * flat[:-1]).mean().item() / (p * (1 - p))
    assert abs(correlation) < 5 / keep.numel() ** 0.5


def test_output_and_gradient_are_the_input_times_mask_over_one_minus_p():
    torch.manual_seed(1)
    inputs = torch.randn(4, 6, 5, 7, dtype=torch.float64, requires_grad=True)
    outputs = dropout(inputs, 0.5)
    kept = outputs != 0
    assert 0.3 < kept.double().mean().item() < 0.7
    assert torch.equal(outputs[kept], inputs[kept] * 2)
    weights = torch.randn_like(inputs)
    (outputs * weights).sum().backward()
    assert torch.equal(inputs.grad, torch.where(kept, weights * 2, 0))

    def with_one_mask(x):  # the same draw at every call, so that gradcheck sees one function
        torch.manual_seed(2)
        return dropout(x, 0.3)

    assert torch.autograd.gradcheck(with_one_mask, (inputs.detach().requires_grad_(),))


def test_the_same_seed_draws_the_same_mask_and_evaluation_is_the_identity():
    inputs = torch.randn(3, 8, 9, 9)
    torch.manual_seed(5)
    first = dropout(inputs, 0.5)
    torch.manual_seed(5)
    assert torch.equal(dropout(inputs, 0.5), first)
    layer = Dropout(0.5).eval()
    assert layer(inputs) is inputs and dropout(inputs, 0.0) is inputs
    assert torch.equal(dropout(inputs, 1.0), torch.zeros_like(inputs))
    assert dropout(inputs.bfloat16(), 0.5).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="dropout probability"):
        Dropout(1.5)
