"""Optimizers and learning-rate schedules named in :class:`~pixelrnn.config.TrainConfig`."""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch

from pixelrnn.config import TrainConfig


def build_optimizer(parameters: Iterable[torch.nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    """Adam, AdamW or RMSProp (the PixelRNN paper's choice) with the config's rate and weight decay.

    Adam and AdamW use the config's betas (β₁, β₂) = (``adam_beta1``, ``adam_beta2``).
    """
    parameters = list(parameters)
    betas = (config.adam_beta1, config.adam_beta2)
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=config.lr, betas=betas, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(parameters, lr=config.lr, betas=betas, weight_decay=config.weight_decay)
    return torch.optim.RMSprop(parameters, lr=config.lr, weight_decay=config.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int):
    """The learning-rate schedule, or None for a constant rate.

    ``exponential`` and ``cosine`` are stepped after every optimizer step (:func:`is_per_step`);
    ``plateau`` after every epoch with the validation bits/dim.
    """
    if config.schedule == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config.lr_decay)
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total_steps))
    if config.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=config.plateau_factor, patience=config.plateau_patience
        )
    return None


def is_per_step(scheduler) -> bool:
    """True for schedules stepped after each optimizer step, False for per-epoch (plateau) ones."""
    return scheduler is not None and not isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)


class WeightAverage:
    """Exponential moving average (Polyak averaging) of a model's weights, as PixelCNN++ evaluates with.

    After every optimizer step, each averaged parameter moves to ``decay · average + (1 − decay) · weight``;
    buffers are copied. ``module`` is a frozen copy of the model holding the averages.
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        for average, weight in zip(self.module.parameters(), model.parameters(), strict=True):
            average.lerp_(weight, 1.0 - self.decay)
        for average, buffer in zip(self.module.buffers(), model.buffers(), strict=True):
            average.copy_(buffer)
