"""``export`` / ``from_pretrained``: a trained model as a folder in the Hugging Face Hub's conventions.

The folder holds ``config.json`` (the model config, enough to rebuild the model, plus what it was trained on),
``model.safetensors`` (the weights; the moving average when the run kept one) and ``README.md``, a model card
with YAML metadata, the test likelihood and the command that trained it. ``huggingface-cli upload`` (or
``HfApi().upload_folder``) can push it as it is; nothing here needs a network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from pixelrnn._version import __version__
from pixelrnn.checkpoint import load_checkpoint, load_weights, model_from_checkpoint
from pixelrnn.config import ModelConfig, from_dict, to_dict
from pixelrnn.errors import CheckpointError, WriteError
from pixelrnn.io import atomic_write, write_json
from pixelrnn.model_card import model_card
from pixelrnn.models import build_model
from pixelrnn.pretrained import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME, is_export, resolve
from pixelrnn.run_folder import checkpoint_folder, read_metrics


def export_model(checkpoint_path: str | Path, directory: str | Path) -> Path:
    """Write ``config.json``, ``model.safetensors`` and ``README.md`` for a checkpoint into ``directory``."""
    checkpoint = load_checkpoint(checkpoint_path)
    model = model_from_checkpoint(checkpoint)
    directory = _export_folder(Path(directory))
    config = {"library_name": "pixelrnn", "pixelrnn_version": __version__, "architecture": type(model).__name__,
              "model_config": to_dict(model.config), "data": _plain(checkpoint["data"]),
              "train_config": checkpoint.get("train_config"), "averaged_weights": checkpoint.get("ema") is not None}
    weights = {name: tensor.detach().contiguous().cpu() for name, tensor in model.state_dict().items()}
    atomic_write(directory / WEIGHTS_NAME, lambda tmp: save_file(weights, tmp, metadata={"format": "pt"}))
    write_json(directory / CONFIG_NAME, config)
    card = model_card(config, recorded_test_metrics(Path(checkpoint_path)))
    atomic_write(directory / CARD_NAME, lambda tmp: tmp.write_text(card))
    return directory


def _export_folder(directory: Path) -> Path:
    """``directory``, created if missing; an earlier export there is replaced, anything else is refused."""
    if directory.exists() and not directory.is_dir():
        raise WriteError(f"cannot export to {directory}: it is a file (name a new or empty folder)")
    if directory.is_dir() and any(directory.iterdir()):
        try:
            ours = json.loads((directory / CONFIG_NAME).read_text()).get("library_name") == "pixelrnn"
        except (OSError, ValueError, AttributeError):
            ours = False
        if not ours or (directory / "last.pt").exists():
            raise WriteError(f"cannot export to {directory}: it holds other files (name a new or empty folder, or "
                             "an earlier export to replace)")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise WriteError(f"cannot export to {directory}: {error.strerror or error}") from error
    return directory


def from_pretrained(directory: str | Path, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The model of an exported folder, or of a pretrained model by name, in evaluation mode.

    Args:
        directory: an exported folder, or the name of a shipped model (``pixelrnn pretrained``).

    Returns:
        The model, giving the same log-likelihoods as the checkpoint it was exported from.

    Raises:
        CheckpointError: a missing or unreadable file, or weights that do not fit the config.
    """
    given, directory = directory, resolve(directory)
    if not directory.exists():
        raise CheckpointError(f"{given} is neither an exported model's folder nor a pretrained name (see "
                              "`pixelrnn pretrained`)")
    try:
        config = json.loads((directory / CONFIG_NAME).read_text())
        model = build_model(from_dict(ModelConfig, config["model_config"]))
        weights = load_file(directory / WEIGHTS_NAME)
    except (OSError, KeyError, ValueError, RuntimeError, SafetensorError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{directory} is not a pixelrnn export ({reason[:160]})") from error
    load_weights(model, weights, f"the weights of {directory}")
    return model.to(device).eval()


def _plain(value: Any) -> Any:
    """JSON-able copy (tuples → lists)."""
    return json.loads(json.dumps(value))


def recorded_test_metrics(checkpoint_path: Path) -> dict[str, Any] | None:
    """The run's final ``test`` line of ``metrics.jsonl`` beside the checkpoint, if there is one; for a
    pretrained model (its name or folder), the test NLL its ``config.json`` states."""
    folder = resolve(checkpoint_path)
    if is_export(folder):
        return json.loads((folder / CONFIG_NAME).read_text()).get("pretrained", {}).get("test")
    lines = read_metrics(checkpoint_folder(checkpoint_path))
    tests = [line for line in lines if line.get("kind") == "test"]
    return tests[-1] if tests else None
