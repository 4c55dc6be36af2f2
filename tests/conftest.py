"""Shared test set-up: the tests folder on the import path, for ``families`` and ``causality``; subnormal floats
as each test found them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def _subnormals_as_each_test_found_them():
    """Commands and ``setup_runtime`` flush subnormal floats for their whole process; keep that from leaking from
    one test into the next, so that no test depends on the order it runs in."""
    yield
    torch.set_flush_denormal(False)
