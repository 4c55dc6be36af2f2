"""The model card (``README.md``) of a saved or exported model: YAML metadata for the Hugging Face Hub, then what
the model is, how well it does and the command that trained it.

The card is written from the folder's ``config.json`` (:mod:`pixelrnn.hub`) and the test NLL, when one is known;
sections that a model saved from Python does not record (``data``, ``train_config``, ``averaged_weights`` are
None) are left out rather than guessed.
"""

from __future__ import annotations

from typing import Any

from pixelrnn.config import DataConfig, ModelConfig, TrainConfig, command_flags, from_dict
from pixelrnn.models import field_users


def _train_command(config: dict[str, Any]) -> str:
    """The ``pixelrnn train`` command of the run: its data, model and training settings as flags."""
    stored = config.get("data") or {}
    data = DataConfig(**stored["config"]) if stored.get("config") else DataConfig(name=stored.get("name", "?"))
    model = from_dict(ModelConfig, config["model_config"])
    train = TrainConfig(**(config.get("train_config") or {}))  # as stored: the command shows it, nothing runs it
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
    data = (config.get("data") or {}).get("name", "unknown")
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
    """README.md of a saved model: YAML metadata for the Hub, then what the model is and how well it does.

    Args:
        config: the folder's ``config.json`` (:func:`pixelrnn.hub.folder_config`).
        test: ``nats_per_image``, ``bits_per_dim`` and ``num_images`` of the exact test NLL, or None if unknown.
    """
    model, data = config["model_config"], config.get("data") or {}
    shape = f"{model['image_channels']}×{model['image_height']}×{model['image_width']}"
    unrecorded = "not recorded" + (" (the checkpoint's run folder has no test line)" if data else "")
    result = (unrecorded if test is None else
              f"{test['nats_per_image']:.3f} nats/image = {test['bits_per_dim']:.4f} bits/dim over "
              f"{test['num_images']} test images (exact)")
    weights = {True: " Weights: the moving average (Polyak) of the run.",
               False: " Weights: the final weights of the run."}.get(config.get("averaged_weights"), "")
    trained = (f"`{_train_command(config)}` (the full settings are in `config.json`)" if data else
               "not recorded (saved from Python; `config.json` holds the architecture)")
    datasets = f"datasets:\n- {data.get('name', 'unknown')}\n" if data else ""
    return f"""---
library_name: pixelrnn
license: mit
pipeline_tag: unconditional-image-generation
tags:
- image-generation
- autoregressive
- {model['name'].replace('_', '-')}
{datasets}{_model_index(config, test)}---

# {config['architecture']}{' trained on ' + data['name'] if data.get('name') else ''}

An autoregressive image model of the pixelrnn library ({config['architecture']}, `{model['name']}`) for
{shape} images with {model['num_levels']} levels{', conditioned on ' + str(model['num_classes']) + ' classes'
if model['num_classes'] else ''}.{weights}

- Test negative log-likelihood: {result}.
- Trained with: {trained}.

```python
from pixelrnn.models import AutoregressiveImageModel
model = AutoregressiveImageModel.from_pretrained("path/to/this/folder")  # or its Hub repo id, "user/name"
nats = -model.log_prob(images)  # int images (B, {model['image_channels']}, {model['image_height']}, \
{model['image_width']}) → nats per image
```
"""
