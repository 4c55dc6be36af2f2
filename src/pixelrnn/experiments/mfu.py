"""Model FLOPs utilisation: how much of the machine's matrix-product speed a training step uses.

MFU = (matrix-product FLOPs of one training step / its seconds) / (FLOP/s of one large ``torch.mm`` on the same
device, threads and precision, measured in the same run). The FLOPs are counted by
``torch.utils.flop_counter.FlopCounterMode``: matrix products and convolutions of the forward and backward passes
(element-wise work is not counted, as is usual for MFU), so a model that spends its time in copies and small
element-wise kernels shows a low MFU even when every product runs at full speed.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

MATMUL_SIZE = 2048  # n of the n×n by n×n product that measures the limit (17 GFLOP: ~0.1-1 s on a CPU core)


def synchronize(device: torch.device) -> None:
    """Wait for the GPU's queued work, so that a timer reads the device's time (nothing to do on a CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def counted_flops(function: Callable[[], object]) -> int:
    """Matrix-product and convolution FLOPs of one ``function()`` call, forward and backward."""
    with FlopCounterMode(display=False) as counter:
        function()
    return counter.get_total_flops()


def matmul_flops_per_second(device: torch.device, precision: str = "fp32", size: int = MATMUL_SIZE,
                            repeats: int = 10) -> float:
    """FLOP/s of one ``size``×``size`` ``torch.mm`` (float32, or bfloat16 for ``precision="bf16"``): the fastest
    of ``repeats`` timed products after one untimed one (the limit is what the machine can reach; on a shared
    machine the median of a few products moved by ~30 % between runs)."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    left, right = (torch.randn(size, size, device=device).to(dtype) for _ in range(2))
    seconds = []
    for repeat in range(repeats + 1):
        synchronize(device)
        started = time.perf_counter()
        torch.mm(left, right)
        synchronize(device)
        if repeat:
            seconds.append(time.perf_counter() - started)
    return 2 * size ** 3 / min(seconds)
