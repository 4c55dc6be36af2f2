"""Checkpoints that rebuild their model alone, are written atomically, and load with ``weights_only=True``.

A checkpoint is one ``torch.save`` file holding only tensors and plain Python values::

    format_version, pixelrnn_version,
    model_config   -- asdict(ModelConfig): every command rebuilds the model from it
    data           -- the data set's name, levels, classes, image shape and DataConfig
    train_config   -- asdict(TrainConfig), or None
    model          -- state_dict of the unwrapped model (no DDP ``module.`` or compile ``_orig_mod.`` prefix)
    ema            -- state_dict of the moving-average weights (``ema_decay`` > 0), else None; loaded by default
    optimizer, scheduler, progress, rng -- what ``--resume`` needs to continue exactly
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from pixelrnn._version import __version__
from pixelrnn.config import ModelConfig, from_dict, to_dict
from pixelrnn.errors import CheckpointError, PixelRNNError, describe_mismatch, first_line, path_kind
from pixelrnn.io import atomic_write, load_weights_only
from pixelrnn.models import build_model
from pixelrnn.pretrained import CONFIG_NAME, WEIGHTS_NAME, is_export, resolve
from pixelrnn.runtime import Runtime, barrier

FORMAT_VERSION = 1
REQUIRED_KEYS = ("format_version", "model_config", "model", "data")


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The plain model inside DistributedDataParallel and/or ``torch.compile`` wrappers."""
    while True:
        if isinstance(model, torch.nn.parallel.DistributedDataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def make_checkpoint(model: torch.nn.Module, data_info: dict[str, Any], **state: Any) -> dict[str, Any]:
    """Assemble a checkpoint dict; ``state`` adds optimizer, scheduler, progress, rng, train_config."""
    model = unwrap_model(model)
    return {
        "format_version": FORMAT_VERSION,
        "pixelrnn_version": __version__,
        "model_config": to_dict(model.config),
        "data": data_info,
        "model": model.state_dict(),
        **state,
    }


def save_checkpoint(checkpoint: dict[str, Any], path: str | Path, runtime: Runtime | None = None) -> Path:
    """Write ``checkpoint`` to ``path`` atomically (temporary file, then rename), on the main process only.

    Every process waits at a barrier afterwards, so that no process reads a half-written checkpoint.
    """
    path = Path(path)
    if runtime is None or runtime.is_main:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: torch.save(checkpoint, tmp))
    if runtime is not None:
        barrier(runtime)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; a missing or corrupt file raises CheckpointError.

    ``path`` is a ``.pt`` file, a run folder (its ``last.pt``), an exported model's folder or the name of a
    pretrained model (``pixelrnn pretrained``); the last two give a checkpoint without training state.
    """
    given, path = path, resolve(path)
    if is_export(path):
        return _export_checkpoint(path, map_location)
    if path.is_dir():
        if not (path / "last.pt").exists():
            raise CheckpointError(f"{path} is a folder without last.pt: give a checkpoint file, a run folder or an "
                                  "exported model")
        path = path / "last.pt"
    kind = path_kind(path)
    if kind == "nothing":
        raise CheckpointError(f"checkpoint not found: {given} (not a checkpoint file, run folder, exported model "
                              "or pretrained name; see `pixelrnn pretrained`)")
    if kind != "a file":
        raise CheckpointError(f"{path} is {kind}, not a checkpoint file")
    checkpoint = load_weights_only(path, "pixelrnn checkpoint", map_location)
    if not isinstance(checkpoint, dict) or any(key not in checkpoint for key in REQUIRED_KEYS):
        raise CheckpointError(f"{path} is not a pixelrnn checkpoint (missing model config or weights)")
    if checkpoint["format_version"] > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {checkpoint['format_version']}; this pixelrnn reads up to "
            f"{FORMAT_VERSION} (upgrade pixelrnn)"
        )
    return checkpoint


def _export_checkpoint(folder: Path, map_location: str | torch.device) -> dict[str, Any]:
    """The checkpoint of an exported model's folder: its config, data and weights, no training state."""
    try:
        config = json.loads((folder / CONFIG_NAME).read_text())
        weights = load_file(folder / WEIGHTS_NAME, device=str(map_location))
    except (OSError, ValueError, SafetensorError) as error:
        raise CheckpointError(f"{folder} is not a readable pixelrnn export ({first_line(error)})") from error
    return {"format_version": FORMAT_VERSION, "pixelrnn_version": config.get("pixelrnn_version"),
            "model_config": config["model_config"], "data": config.get("data") or {},
            "train_config": config.get("train_config"), "model": weights, "ema": None}


def model_from_checkpoint(checkpoint: dict[str, Any], device: str | torch.device = "cpu",
                          averaged: bool = True) -> torch.nn.Module:
    """Rebuild the model from the stored config and load its weights (in evaluation mode).

    Args:
        averaged: load the moving-average weights (``ema``) when the run kept them, else the raw weights.
    """
    try:
        config = from_dict(ModelConfig, checkpoint["model_config"])
        model = build_model(config)
    except PixelRNNError as error:
        raise CheckpointError(f"the checkpoint's model cannot be rebuilt: {error}") from error
    use_average = averaged and checkpoint.get("ema") is not None
    load_weights(model, checkpoint["ema"] if use_average else checkpoint["model"], "the checkpoint's weights")
    return model.to(device).eval()


def load_weights(model: torch.nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """``model.load_state_dict(state)``; weights of other names or shapes are one CheckpointError line naming the
    first difference (``input_conv.weight is 32×1×7×7 in the file but 36×1×7×7 in the model (and 3 more ...)``)."""
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise CheckpointError(f"{what} are no name → tensor table")
    difference = describe_mismatch(model.state_dict(), state)
    if difference:
        raise CheckpointError(f"{what} do not fit its model: {difference}")
    try:
        model.load_state_dict(state)
    except RuntimeError as error:  # anything load_state_dict refuses beyond names and shapes
        raise CheckpointError(f"{what} do not fit its model: {first_line(error)}") from error


def load_model(path: str | Path, device: str | torch.device = "cpu", averaged: bool = True) -> torch.nn.Module:
    """The model stored in a checkpoint file, ready for ``log_prob`` and sampling (its averaged weights if kept)."""
    return model_from_checkpoint(load_checkpoint(path), device, averaged)
