"""benchmarks/profile_step.py: the per-kind profile of a training step behind docs/benchmarks.md."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import profile_step  # noqa: E402


def test_operations_are_sorted_into_their_kinds():
    assert profile_step.kind_of("aten::mm").startswith("matrix products")
    assert profile_step.kind_of("aten::convolution_backward").startswith("convolutions")
    assert profile_step.kind_of("NativeDiagonalLSTMBackward").startswith("native recurrence loop")
    assert profile_step.kind_of("Optimizer.step#RMSprop.step").startswith("optimizer")
    assert profile_step.kind_of("aten::cat").startswith("copies")
    assert profile_step.kind_of("aten::threshold_backward").startswith("element-wise")
    assert profile_step.kind_of("aten::empty") == "other"


def test_the_profile_of_a_small_recurrent_model_adds_up_to_its_step():
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "profile_step.py"
    result = subprocess.run([sys.executable, str(script), "--model", "diagonal-bilstm-small", "--image-shape",
                             "1x6x5", "--levels", "2", "--batch-size", "2", "--threads", "1", "--warmup", "1",
                             "--steps", "1"], capture_output=True, text=True, check=True, timeout=300)
    kinds = re.findall(r"^\| ([^|`]+?) \| ([\d.]+) \| ([\d.]+)% \|$", result.stdout, re.MULTILINE)
    assert {kind.split(" (")[0] for kind, _, _ in kinds} >= {"matrix products", "native recurrence loop"}
    assert abs(sum(float(share) for _, _, share in kinds) - 100.0) < 0.5  # every operation in one kind
    assert "| `aten::mm` | matrix products |" in result.stdout
