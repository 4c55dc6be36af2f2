"""What adding a model family touches: its module, its stepper and the registry line — nothing else.

``toy_family.py`` defines a family outside the library (its class with its own ModelConfig field, preset and
training defaults; its stepper) and registers it with one ``register_family`` call; it then trains, saves, loads,
samples fast, exports and shows a ``pixelrnn train`` flag for it. It runs in its own process so that the
registration stays out of the other tests (``test_contract`` expects exactly the library's families).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pixelrnn


def test_a_family_added_by_one_registry_line_trains_saves_loads_samples_and_exports(tmp_path):
    script = Path(__file__).with_name("toy_family.py")
    source = str(Path(pixelrnn.__file__).parents[1])  # the tree under test, not an installed copy
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, env=env,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "the toy family works end to end" in result.stdout
