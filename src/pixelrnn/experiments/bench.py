"""Speed benchmarks: training steps and evaluation of a model on random images, in images per second.

Speed is measured here and written to ``docs/benchmarks.md`` with the machine it came from, never asserted by
timed tests. Random integer images are enough: the cost of every model here does not depend on pixel values.
"""

from __future__ import annotations

import dataclasses
import platform
import resource
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from pixelrnn.config import PRECISIONS, TrainConfig
from pixelrnn.errors import ConfigError
from pixelrnn.experiments.mfu import counted_flops, matmul_flops_per_second, synchronize
from pixelrnn.models import build_model, count_parameters, model_config, training_defaults
from pixelrnn.nn import native
from pixelrnn.runtime import autocast, resolve_device
from pixelrnn.sampling.fast import fast_sample_images, has_fast_sampler
from pixelrnn.training.optim import build_optimizer


@dataclass
class BenchResult:
    """One model's speed. Times are wall-clock seconds, means over the timed repetitions (after warm-up).

    ``peak_memory_mib``: on a GPU, the peak of allocated tensor memory during this benchmark; on a CPU, the
    process's peak resident memory so far (``ru_maxrss``), a per-model figure only when one model is measured
    per process, as ``benchmarks/*.sh`` do.
    """

    model: str
    image_shape: tuple[int, int, int]
    num_levels: int
    batch_size: int
    parameters: int
    device: str
    train_seconds_per_step: float
    eval_seconds_per_batch: float
    peak_memory_mib: float
    precision: str = "fp32"
    compiled: bool = False
    sample_seconds: float | None = None
    channels_last: bool = False
    train_flops_per_step: int | None = None  # matrix products and convolutions, forward and backward (mfu=True)
    matmul_flops_per_second: float | None = None  # the limit: one large torch.mm in the same run (mfu=True)

    @property
    def mfu(self) -> float | None:
        """Model FLOPs utilisation of the training step (:mod:`pixelrnn.experiments.mfu`); None if not measured."""
        if self.train_flops_per_step is None or not self.matmul_flops_per_second:
            return None
        return self.train_flops_per_step / self.train_seconds_per_step / self.matmul_flops_per_second

    @property
    def train_images_per_second(self) -> float:
        return self.batch_size / self.train_seconds_per_step

    @property
    def eval_images_per_second(self) -> float:
        return self.batch_size / self.eval_seconds_per_batch

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "train_images_per_second": self.train_images_per_second,
                "eval_images_per_second": self.eval_images_per_second, "mfu": self.mfu}


def _timed(function, device: torch.device, warmup: int, repeats: int) -> float:
    """Median seconds of one ``function()`` call over ``repeats`` timed calls after ``warmup`` untimed ones.

    The median, not the mean: on a shared machine one call slowed by another process would otherwise move the
    figure. Each call is synchronised on a GPU, so that its time is the device's.
    """
    for _ in range(warmup):
        function()
    seconds = []
    for _ in range(repeats):
        synchronize(device)
        started = time.perf_counter()
        function()
        synchronize(device)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def benchmark(model: str, image_shape: tuple[int, int, int] = (3, 32, 32), num_levels: int = 256,
              batch_size: int = 16, repeats: int = 3, warmup: int = 1, device: str = "auto", seed: int = 0,
              precision: str = "fp32", compile: bool = False, sample: bool = False, channels_last: bool = False,
              mfu: bool = False, **overrides: Any) -> BenchResult:
    """Time one optimizer step (forward, exact NLL, backward, the preset's optimizer) and one evaluation batch.

    ``precision="bf16"`` runs the forward passes under bfloat16 autocast (the head scores in float32);
    ``compile`` runs them through ``torch.compile`` (its compilation happens in the warm-up); ``sample`` also
    times the fast sampler drawing one batch (None for models without one); ``channels_last`` keeps the weights
    in channels-last memory order; ``mfu`` also counts the training step's FLOPs and measures the matrix-product
    limit, for :attr:`BenchResult.mfu`.

    Args:
        model: a registry name or preset (``row-lstm-cifar10``); ``overrides`` are architecture fields.
        image_shape: (C, H, W) of the random images; num_levels: their levels (the head follows).
        batch_size: images per step and per evaluation batch.
        repeats, warmup: timed and untimed repetitions of each measurement.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.

    Raises:
        ConfigError: an unknown model, a bad field, or repeats < 1.
    """
    if repeats < 1 or warmup < 0:
        raise ConfigError(f"repeats must be >= 1 and warmup >= 0, got {repeats} and {warmup}")
    steps = training_steps(model, image_shape, num_levels, batch_size, device, seed, precision, compile,
                           channels_last, **overrides)
    network, train_step, eval_batch, target = steps.network, steps.train_step, steps.eval_batch, steps.device
    if target.type == "cuda":
        torch.cuda.reset_peak_memory_stats(target)
    network.train()
    train_seconds = _timed(train_step, target, warmup, repeats)
    network.eval()
    eval_seconds = _timed(eval_batch, target, warmup, repeats)
    sample_seconds = None
    if sample and has_fast_sampler(network):
        sample_seconds = _timed(lambda: fast_sample_images(network, batch_size), target, 0, 1)
    network.train()
    flops, limit = (counted_flops(train_step), matmul_flops_per_second(target, precision)) if mfu else (None, None)
    return BenchResult(model, tuple(image_shape), num_levels, batch_size, count_parameters(network), str(target),
                       train_seconds, eval_seconds, _peak_memory_mib(target), precision, compile, sample_seconds,
                       channels_last, flops, limit)


@dataclass
class TrainingSteps:
    """What :func:`benchmark` times (and ``benchmarks/profile_step.py`` profiles): ``train_step()`` runs one
    optimizer step (forward, exact NLL, backward, the preset's optimizer) on a fixed batch of random images,
    ``eval_batch()`` one evaluation batch, on ``network`` (on ``device``)."""

    network: torch.nn.Module
    train_step: Callable[[], None]
    eval_batch: Callable[[], None]
    device: torch.device


def training_steps(model: str, image_shape: tuple[int, int, int] = (3, 32, 32), num_levels: int = 256,
                   batch_size: int = 16, device: str = "auto", seed: int = 0, precision: str = "fp32",
                   compile: bool = False, channels_last: bool = False, **overrides: Any) -> TrainingSteps:
    """Build ``model`` and its preset's optimizer and return its training step and evaluation batch (see
    :func:`benchmark` for the arguments)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision '{precision}' (choose from: {', '.join(PRECISIONS)})")
    torch.manual_seed(seed)
    target = resolve_device(device)
    config = model_config(model, image_shape, num_levels, **overrides)
    network = build_model(config).to(target)
    if channels_last:
        network.to(memory_format=torch.channels_last)
    forward = network.compiled(network) if compile else network
    optimizer = build_optimizer(network.parameters(), TrainConfig(**training_defaults(model)))
    images = torch.randint(0, num_levels, (batch_size, *image_shape), device=target)
    dims = images[0].numel()

    def nats() -> torch.Tensor:
        with autocast(target, precision):
            params = forward(images)
        return -network.head.log_prob(params, images)  # (B,) nats, float64 sums of float32 terms

    def train_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        (nats().sum() / (batch_size * dims)).backward()
        optimizer.step()

    @torch.no_grad()
    def eval_batch() -> None:
        nats()

    return TrainingSteps(network, train_step, eval_batch, target)


def _peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def machine_description(device: str = "auto") -> str:
    """CPU model (lscpu), cores, PyTorch version and threads, and the GPU's name when one is used (else whether
    the recurrences' native CPU loops are switched on)."""
    cpu = platform.processor() or "unknown CPU"
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        cpu = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name")),
                   cpu)
        flags = next((line for line in lscpu.splitlines() if line.startswith("Flags")), "")
        cpu += " (AMX)" if "amx_bf16" in flags else " (no AMX)"
    except OSError:
        pass
    description = f"{cpu}, {torch.get_num_threads()} threads, PyTorch {torch.__version__}"
    target = resolve_device(device)
    if target.type == "cuda":
        description += f", GPU {torch.cuda.get_device_name(target)}"
    else:  # the recurrences' native CPU loops (pixelrnn.nn.native), when a model takes them
        description += ", native loops " + ("on" if native.enabled() else "off (PIXELRNN_NATIVE=0)")
    return description
