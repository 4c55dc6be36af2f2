"""Shared test set-up: the tests folder on the import path, for ``families`` and ``causality``."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
