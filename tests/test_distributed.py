"""torchrun with 2 CPU processes (gloo): training, a checkpoint that loads in one process, exact eval."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import torch

from pixelrnn.checkpoint import load_checkpoint, load_model
from pixelrnn.evaluate import evaluate

pytestmark = pytest.mark.slow


def _torchrun(*args: str, processes: int = 2) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
               "-m", "pixelrnn", *args]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _printed_bits(stdout: str) -> float:
    return float(re.search(r"([0-9.]+) bits/dim over", stdout).group(1))


def test_two_process_training_and_exact_distributed_evaluation(tmp_path):
    run_dir = tmp_path / "ddp"
    _torchrun("train", "--model", "pixelcnn", "--hidden-channels", "4", "--layers", "1", "--output-channels",
              "8", "--max-train-images", "96", "--max-test-images", "45", "--epochs", "2", "--batch-size", "8",
              "--eval-batch-size", "16", "--sample-every", "1", "--num-samples", "4", "--device", "cpu",
              "--run-dir", str(run_dir))
    checkpoint = load_checkpoint(run_dir / "last.pt")
    assert not any(key.startswith("module.") for key in checkpoint["model"])
    assert checkpoint["progress"]["epoch"] == 2
    model = load_model(run_dir / "last.pt")  # a DDP checkpoint loads in one process
    assert torch.isfinite(model.log_prob(torch.randint(0, 17, (2, 1, 8, 8)))).all()

    # 45 test images over 2 processes: 23 + 22, each counted once, no padding duplicates.
    test_line = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()][-1]
    assert test_line["kind"] == "test" and test_line["num_images"] == 45
    single = evaluate(run_dir / "last.pt", batch_size=16, device="cpu").result
    assert single.num_images == 45
    assert test_line["bits_per_dim"] == pytest.approx(single.bits_per_dim, rel=1e-6)

    distributed = _torchrun("eval", str(run_dir / "last.pt"), "--batch-size", "7", "--device", "cpu")
    assert "over 45 images" in distributed.stdout
    assert _printed_bits(distributed.stdout) == pytest.approx(single.bits_per_dim, abs=1e-4)
    assert (run_dir / "samples/epoch_002.png").is_file()
