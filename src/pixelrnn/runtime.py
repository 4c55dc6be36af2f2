"""Where the code runs: device choice, seeding, and torchrun / DistributedDataParallel set-up.

Only this module reads torchrun's environment variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``). One code
path serves one CPU, one GPU and many processes: ``torchrun --nproc_per_node N -m pixelrnn train ...``.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import random
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from pixelrnn.errors import ConfigError

logger = logging.getLogger("pixelrnn")


@dataclass(frozen=True)
class Runtime:
    """The process's place in a (possibly one-process) job."""

    device: torch.device
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """True on the one process that logs and writes files."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` → this process's GPU if CUDA is available, else the CPU; otherwise the named device."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ConfigError(f"unknown device '{name}' (use auto, cpu, cuda or cuda:N)") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device '{name}' asked for, but CUDA is not available on this machine")
    if device.type == "cuda" and device.index is None:
        device = torch.device(f"cuda:{local_rank}")
    return device


def flush_denormals() -> None:
    """Have the CPU treat subnormal floats (below 1.2e-38 in float32) as zero, for this process.

    Training drives some weights towards zero (weight decay on weights that get no gradient, e.g. a masked
    convolution's hidden taps), and once they are subnormal every operation that reads them runs on the CPU's
    slow path: a small CIFAR-10 Row LSTM with a third of its weights subnormal after 2,000 Adam steps trained at
    24 images/s instead of 42. Flushing them changes no likelihood by a measurable amount (such a weight adds
    under 1e-36 to a pre-activation). No effect on GPUs or CPUs without the FTZ/DAZ modes.
    """
    torch.set_flush_denormal(True)


_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc's mallopt parameters (malloc.h)


def keep_freed_memory() -> bool:
    """Have glibc keep the memory this process frees for its next allocations, instead of handing it back.

    By default glibc serves every block above 32 MB (and, at first, above 128 KB) by a fresh ``mmap`` and returns it
    on free, so a training step's large buffers come back as new pages every step: each first touch a page fault
    and a zeroed page, work that does not parallelise. On ``diagonal-bilstm-cifar10`` (batch 8, one thread) that was
    39,000–235,000 page faults per step (the PyTorch loop / the native loop), 0.05–0.4 s of system time; with the
    memory kept, about 1,500 once three warm-up steps have run (docs/benchmarks.md). The cost: the process holds
    its peak memory until it exits, as PyTorch's CUDA allocator does. Every ``pixelrnn`` command calls it; returns
    False where the C library is not glibc (nothing changes there).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # another C library (musl) or none by that name
        return False
    return mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, 2 ** 31 - 1) == 1


def setup_runtime(device_name: str = "auto") -> Runtime:
    """Set up the process: subnormal floats flushed to zero (:func:`flush_denormals`); join the torchrun process
    group when launched by torchrun.

    Uses NCCL on GPUs and gloo on CPUs. Without torchrun's variables, returns a one-process runtime.
    """
    flush_denormals()
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Runtime(device=resolve_device(device_name))
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Runtime(device=device, rank=rank, world_size=world_size, local_rank=local_rank)


def is_main_process() -> bool:
    """True unless this process is a non-zero rank of a torchrun job (used to print results once)."""
    return int(os.environ.get("RANK", "0")) == 0


def teardown_runtime(runtime: Runtime) -> None:
    """Leave the process group, if this process joined one, after every process has come this far.

    Without the barrier a fast rank could tear its gloo group down while a slower one still finishes its
    last steps; that raced at exit (a rank aborted with "terminate called without an active exception").
    Called from a ``finally`` block while an exception propagates, it skips the barrier: the other ranks
    may never reach it, and torchrun stops them when this one fails.
    """
    if runtime.distributed and dist.is_initialized():
        if sys.exc_info()[0] is None:
            dist.barrier()
        dist.destroy_process_group()


def autocast(device: torch.device, precision: str):
    """The context of a mixed-precision forward pass: bfloat16 autocast for ``bf16``, nothing for ``fp32``."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def process_seed(base_seed: int, runtime: Runtime) -> int:
    """A different, reproducible seed per process: ``base_seed * world_size + rank``."""
    return base_seed * runtime.world_size + runtime.rank


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def barrier(runtime: Runtime) -> None:
    """Wait for every process (no-op in one process)."""
    if runtime.distributed:
        dist.barrier()


def all_reduce_sum(values: torch.Tensor, runtime: Runtime) -> torch.Tensor:
    """Sum a tensor over all processes (returns a new tensor; float64 sums stay float64).

    gloo reduces on the CPU; NCCL needs the tensor on this process's GPU.
    """
    if not runtime.distributed:
        return values.clone()
    device = runtime.device if runtime.device.type == "cuda" else torch.device("cpu")
    reduced = values.detach().to(device).clone()
    dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
    return reduced.to(values.device)


@contextlib.contextmanager
def evaluation_mode(module: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """``module`` in evaluation mode (no dropout) inside the block, its own mode restored after, even on error."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def broadcast_tensors(tensors: Iterable[torch.Tensor], runtime: Runtime) -> None:
    """Overwrite every tensor, in place, with rank 0's (no-op in one process). Tensors live on the device.

    A tensor in another memory layout (channels-last weights) travels as a contiguous copy.
    """
    if runtime.distributed:
        for tensor in tensors:
            sent = tensor.contiguous()  # the tensor itself when it already is
            dist.broadcast(sent, src=0)
            if sent is not tensor:
                tensor.copy_(sent)
