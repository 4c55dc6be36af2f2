"""``export`` / ``from_pretrained``: a trained model as a folder in the Hugging Face Hub's conventions.

The folder holds ``config.json`` (the model config, enough to rebuild the model, plus what it was trained on),
``model.safetensors`` (the weights; the moving average when the run kept one) and ``README.md``, a model card
with YAML metadata, the test likelihood and the command that trained it. It is written by the model's
``save_pretrained`` (:mod:`pixelrnn.hub`), so ``model.push_to_hub(repo_id)``, ``huggingface-cli upload`` or
``HfApi().upload_folder`` publish it as it is; nothing here needs a network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from pixelrnn.checkpoint import load_checkpoint, model_from_checkpoint
from pixelrnn.errors import CheckpointError, WriteError
from pixelrnn.model_card import model_card
from pixelrnn.models import AutoregressiveImageModel
from pixelrnn.pretrained import CONFIG_NAME, has_export_config, is_export, resolve
from pixelrnn.run_folder import checkpoint_folder, read_metrics

__all__ = ["export_model", "from_pretrained", "model_card", "recorded_test_metrics"]


def export_model(checkpoint_path: str | Path, directory: str | Path) -> Path:
    """Write ``config.json``, ``model.safetensors`` and ``README.md`` for a checkpoint into ``directory``.

    The checkpoint's data, training settings and test NLL (its run's ``metrics.jsonl``) go into the config and
    the card; the files are the model's ``save_pretrained``. Subnormal weights (below 1.2e-38 in float32, where
    weight decay leaves unused weights) are written as zeros, which is how every ``pixelrnn`` command reads them
    (:func:`pixelrnn.runtime.flush_denormals`), so that no user of the files pays the CPU's slow path for them.
    """
    checkpoint = load_checkpoint(checkpoint_path)
    model = model_from_checkpoint(checkpoint)
    _zero_subnormals(model)
    directory = _export_folder(Path(directory))
    sections = {"data": checkpoint["data"], "train_config": checkpoint.get("train_config"),
                "averaged_weights": checkpoint.get("ema") is not None}
    model.save_pretrained(directory, config=sections,
                          model_card_kwargs={"test": recorded_test_metrics(Path(checkpoint_path))})
    return directory


def _zero_subnormals(model: torch.nn.Module) -> None:
    """Set the model's subnormal floating-point weights and buffers to zero, in place."""
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.masked_fill_(tensor.abs() < torch.finfo(tensor.dtype).tiny, 0.0)


def _export_folder(directory: Path) -> Path:
    """``directory``, created if missing; an earlier export there is replaced, anything else is refused."""
    if directory.exists() and not directory.is_dir():
        raise WriteError(f"cannot export to {directory}: it is a file (name a new or empty folder)")
    foreign = not has_export_config(directory) or (directory / "last.pt").exists()
    if directory.is_dir() and any(directory.iterdir()) and foreign:
        raise WriteError(f"cannot export to {directory}: it holds other files (name a new or empty folder, or an "
                         "earlier export to replace)")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise WriteError(f"cannot export to {directory}: {error.strerror or error}") from error
    return directory


def from_pretrained(directory: str | Path, device: str | torch.device = "cpu") -> AutoregressiveImageModel:
    """The model of an exported (or ``save_pretrained``) folder, or of a pretrained model by name, in evaluation
    mode; local only, never the network (``AutoregressiveImageModel.from_pretrained`` also takes Hub repo ids).

    Args:
        directory: an exported folder, or the name of a shipped model (``pixelrnn pretrained``).
        device: the device to put the model on.

    Returns:
        The model, giving the same log-likelihoods as the checkpoint it was exported from.

    Raises:
        CheckpointError: a missing or unreadable file, or weights that do not fit the config.
    """
    if not resolve(directory).exists():
        raise CheckpointError(f"{directory} is neither an exported model's folder nor a pretrained name (see "
                              "`pixelrnn pretrained`)")
    return AutoregressiveImageModel.from_pretrained(directory, map_location=device)


def recorded_test_metrics(checkpoint_path: Path) -> dict[str, Any] | None:
    """The run's final ``test`` line of ``metrics.jsonl`` beside the checkpoint, if there is one; for a
    pretrained model (its name or folder), the test NLL its ``config.json`` states."""
    folder = resolve(checkpoint_path)
    if is_export(folder):
        return json.loads((folder / CONFIG_NAME).read_text()).get("pretrained", {}).get("test")
    lines = read_metrics(checkpoint_folder(checkpoint_path))
    tests = [line for line in lines if line.get("kind") == "test"]
    return tests[-1] if tests else None
