"""benchmarks/gpu_rows.sh: the GPU rows in one call, smoke-run here on the CPU with a tiny model and random data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_rows.sh"


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    rng = np.random.default_rng(0)
    data = tmp_path / "cifar10-subset.npz"
    np.savez(data, x_train=rng.integers(0, 256, (24, 32, 32, 3), dtype=np.uint8), y_train=rng.integers(0, 10, 24),
             x_test=rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8), y_test=rng.integers(0, 10, 8))
    environment = {**os.environ, "PYTHON": sys.executable, "DEVICE": "cpu", "REPEATS": "1",
                   "RUNS": str(tmp_path / "runs"), "PRESETS": "pixelcnn-tiny",
                   "BENCH_EXTRA": "--image-shape 1x8x8 --levels 2",
                   "RECIPES": "pixelrnn/table5/pixelcnn", "OMP_NUM_THREADS": "1",
                   "TRAIN_EXTRA": "--hidden-channels 6 --layers 1 --output-channels 12 --batch-size 4 "
                                  "--eval-batch-size 8", **env}
    return subprocess.run(["bash", str(SCRIPT), str(tmp_path / "out"), str(data), "2"], env=environment,
                          capture_output=True, text=True, timeout=600)


def test_every_bench_variant_and_the_short_training_come_back_in_a_few_files(tmp_path):
    result = _run(tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    assert sorted(path.name for path in out.iterdir()) == ["bench.jsonl", "bench.md", "machine.txt",
                                                           "pixelrnn-table5-pixelcnn.jsonl", "train.txt"]
    rows = [json.loads(line) for line in (out / "bench.jsonl").read_text().splitlines()]
    assert [(row["precision"], row["compiled"]) for row in rows] == [("bf16", False), ("fp32", False), ("bf16", True)]
    assert all(row["train_flops_per_step"] > 0 for row in rows)  # --mfu on every variant
    assert "test NLL:" in (out / "train.txt").read_text() and "failures: 0" in (out / "machine.txt").read_text()
    metrics = [json.loads(line) for line in (out / "pixelrnn-table5-pixelcnn.jsonl").read_text().splitlines()]
    assert metrics[-1]["kind"] == "test"


def test_a_failing_step_is_reported_and_the_rest_still_runs(tmp_path):
    result = _run(tmp_path, PRESETS="no-such-preset")
    assert result.returncode == 1
    assert (tmp_path / "out" / "bench.md").read_text().count("FAILED: bench") == 3
    assert "test NLL:" in (tmp_path / "out" / "train.txt").read_text()  # the training still ran
    assert "failures: 3" in (tmp_path / "out" / "machine.txt").read_text()
