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
from pixelrnn.config import DataConfig, ModelConfig, TrainConfig, command_flags, from_dict, to_dict
from pixelrnn.errors import CheckpointError, WriteError
from pixelrnn.io import atomic_write, write_json
from pixelrnn.models import build_model, field_users
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


def _train_command(config: dict[str, Any]) -> str:
    """The ``pixelrnn train`` command of the run: its data, model and training settings as flags."""
    stored = config["data"] or {}
    data = DataConfig(**stored["config"]) if stored.get("config") else DataConfig(name=stored.get("name", "?"))
    model = from_dict(ModelConfig, config["model_config"])
    train = TrainConfig(**(config["train_config"] or {}))  # as stored: the command shows it, nothing runs it
    unread = [name for name in ModelConfig.__dataclass_fields__ if model.name not in field_users(name)]
    flags = [f"--data {data.name}", *command_flags(data, skip=("name",)), f"--model {model.name}",
             *command_flags(model, skip=("name", "image_channels", "image_height", "image_width", "num_levels",
                                         "num_classes", *unread)),
             *(["--conditional"] if model.num_classes else []),
             *command_flags(train, skip=("device", "recipe", "wandb_project", "wandb_mode"))]
    return "pixelrnn train " + " ".join(flags)


def _model_index(config: dict[str, Any], test: dict[str, Any] | None) -> str:
    """The card's ``model-index`` (the Hub's evaluation results): the exact test NLL, nats/image and bits/dim."""
    if test is None:
        return ""
    data = (config["data"] or {}).get("name", "unknown")
    return f"""model-index:
- name: {config['architecture']} on {data}
  results:
  - task:
      type: unconditional-image-generation
      name: density estimation (exact negative log-likelihood)
    dataset:
      type: {data}
      name: {data}
      split: test
    metrics:
    - type: nll
      name: test NLL (nats/image)
      value: {test['nats_per_image']:.4f}
    - type: bits_per_dim
      name: test NLL (bits/dim)
      value: {test['bits_per_dim']:.5f}
"""


def model_card(config: dict[str, Any], test: dict[str, Any] | None) -> str:
    """README.md of an export: YAML metadata for the Hub, then what the model is and how well it does."""
    model, data = config["model_config"], config["data"] or {}
    shape = f"{model['image_channels']}×{model['image_height']}×{model['image_width']}"
    result = ("not recorded (the checkpoint's run folder has no test line)" if test is None else
              f"{test['nats_per_image']:.3f} nats/image = {test['bits_per_dim']:.4f} bits/dim over "
              f"{test['num_images']} test images (exact)")
    return f"""---
library_name: pixelrnn
license: mit
pipeline_tag: unconditional-image-generation
tags:
- image-generation
- autoregressive
- {model['name'].replace('_', '-')}
datasets:
- {data.get('name', 'unknown')}
{_model_index(config, test)}---

# {config['architecture']} trained on {data.get('name', 'unknown')}

An autoregressive image model of the pixelrnn library ({config['architecture']}, `{model['name']}`) for
{shape} images with {model['num_levels']} levels{', conditioned on ' + str(model['num_classes']) + ' classes'
if model['num_classes'] else ''}. Weights: {'the moving average (Polyak) of the run' if config['averaged_weights']
else 'the final weights of the run'}.

- Test negative log-likelihood: {result}.
- Trained with: `{_train_command(config)}` (the full settings are in `config.json`).

```python
from pixelrnn.export import from_pretrained
model = from_pretrained("path/to/this/folder")
nats = -model.log_prob(images)  # int images (B, {model['image_channels']}, {model['image_height']}, \
{model['image_width']}) → nats per image
```
"""
