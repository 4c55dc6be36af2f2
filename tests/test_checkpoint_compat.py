"""Checkpoints written before the package moved into its role folders still load and score the same.

``tests/fixtures/pre-layout/`` holds tiny checkpoints of five families (two training steps on the 8×8 digits)
written by the code of commit 7787cb7, and the log-likelihoods that code gave the first 8 digits test images.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pixelrnn.checkpoint import load_model
from pixelrnn.config import DataConfig
from pixelrnn.data import load_dataset

FIXTURES = Path(__file__).parent / "fixtures" / "pre-layout"
EXPECTED = json.loads((FIXTURES / "expected_log_prob.json").read_text())


@pytest.mark.parametrize("family", sorted(EXPECTED))
def test_a_checkpoint_written_before_the_move_loads_and_scores_the_same(family):
    model = load_model(FIXTURES / f"{family}.pt")
    images = load_dataset(DataConfig(name="digits", max_test_images=8)).test.images
    with torch.no_grad():
        log_prob = model.log_prob(images).double()
    assert log_prob.tolist() == pytest.approx(EXPECTED[family], rel=1e-6)
