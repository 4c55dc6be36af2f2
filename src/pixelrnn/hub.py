"""The folder behind every model's ``save_pretrained`` / ``from_pretrained`` / ``push_to_hub``.

:class:`~pixelrnn.models.base.AutoregressiveImageModel` gets those methods from huggingface_hub's
``ModelHubMixin`` and hands the work to the functions here, so that a saved model is exactly the folder that
``pixelrnn export`` writes (one writer of the layout) and the Hub's conventions hold::

    config.json        -- library_name "pixelrnn", pixelrnn_version, architecture (the class name) and
                          model_config (asdict(ModelConfig): enough to rebuild the model), then the sections on
                          where the weights come from: data, train_config, averaged_weights (None when a model
                          saved from Python does not know them); a shipped model adds pretrained and parameters
    model.safetensors  -- model.state_dict() under its own names (safetensors: loading runs no pickled code)
    README.md          -- the model card (:mod:`pixelrnn.model_card`)

Loading reads a local folder (or a shipped model's name, :mod:`pixelrnn.pretrained`) without a network, and
downloads anything else as a Hub repo id; whatever fails is one :class:`~pixelrnn.errors.CheckpointError` line.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from huggingface_hub import hf_hub_download
from huggingface_hub.utils import EntryNotFoundError, HfHubHTTPError, HFValidationError, OfflineModeIsEnabled
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from pixelrnn._version import __version__
from pixelrnn.checkpoint import load_weights
from pixelrnn.config import ModelConfig, from_dict, to_dict
from pixelrnn.errors import CheckpointError, ConfigError, PixelRNNError, WriteError, first_line
from pixelrnn.io import atomic_write, write_json
from pixelrnn.model_card import model_card
from pixelrnn.models.registry import build_model
from pixelrnn.pretrained import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME, resolve

if TYPE_CHECKING:
    from pixelrnn.models.base import AutoregressiveImageModel

# The keys of config.json that the model itself determines; every other key is a section a caller may set.
MODEL_KEYS = ("library_name", "pixelrnn_version", "architecture", "model_config")
UNRECORDED = {"data": None, "train_config": None, "averaged_weights": None}
# What a download from the Hub raises: no network, offline mode, no such repository or file, an invalid id, or a
# downloaded config.json that is not JSON.
HUB_ERRORS = (HfHubHTTPError, EntryNotFoundError, OfflineModeIsEnabled, HFValidationError, json.JSONDecodeError,
              UnicodeDecodeError)


def folder_config(model: AutoregressiveImageModel, sections: Mapping[str, Any]) -> dict[str, Any]:
    """The ``config.json`` of ``model``: its own keys (``MODEL_KEYS``), then ``sections`` (data, train_config,
    averaged_weights, ...; those not given are None). Model keys inside ``sections`` are ignored.

    Raises:
        ConfigError: a section whose value is not JSON (a tensor, an object).
    """
    extra = {key: value for key, value in sections.items() if key not in MODEL_KEYS}
    try:
        extra = json.loads(json.dumps(extra))  # JSON values only; tuples become lists
    except (TypeError, ValueError) as error:
        raise ConfigError(f"config.json sections must be JSON values: {first_line(error)}") from error
    return {"library_name": "pixelrnn", "pixelrnn_version": __version__, "architecture": type(model).__name__,
            "model_config": to_dict(model.config), **UNRECORDED, **extra}


def recorded_sections(model: AutoregressiveImageModel) -> dict[str, Any]:
    """The sections ``model`` was loaded or last saved with (none for a model built in Python).

    They live where huggingface_hub's mixin keeps a model's config (``_hub_mixin_config``), which holds the
    ModelConfig itself until the model is loaded or saved.
    """
    stored = getattr(model, "_hub_mixin_config", None)
    return {key: value for key, value in stored.items() if key not in MODEL_KEYS} if isinstance(stored, dict) else {}


def prepare_folder(directory: str | Path) -> Path:
    """``directory``, created if missing (files already in it are replaced one by one when saving)."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # a file of that name, no permission, ...
        raise WriteError(f"cannot save to {directory}: {error.strerror or first_line(error)}") from error
    return directory


def card_text(config: dict[str, Any], test: dict[str, Any] | None = None) -> str:
    """``README.md`` for ``config``, stating ``test`` (default: a shipped model's recorded test NLL, if any)."""
    if test is None:
        test = (config.get("pretrained") or {}).get("test")
    return model_card(config, test)


def write_card(directory: Path, config: dict[str, Any], test: dict[str, Any] | None = None) -> None:
    """``README.md`` of ``config`` into ``directory``, atomically (:func:`card_text`)."""
    text = card_text(config, test)
    atomic_write(directory / CARD_NAME, lambda tmp: tmp.write_text(text))


def write_folder(model: AutoregressiveImageModel, directory: Path) -> None:
    """``model.safetensors`` (the state dict, on the CPU) and ``config.json`` of ``model``, each atomically."""
    weights = {name: tensor.detach().contiguous().cpu() for name, tensor in model.state_dict().items()}
    atomic_write(directory / WEIGHTS_NAME, lambda tmp: save_file(weights, tmp, metadata={"format": "pt"}))
    write_json(directory / CONFIG_NAME, folder_config(model, recorded_sections(model)))


def source(name_or_path: str | Path) -> str:
    """What ``from_pretrained`` reads: a local folder (a path, or a shipped model's name), checked to hold a
    pixelrnn config.json; anything else is taken as a Hub repo id and returned as given.

    Raises:
        CheckpointError: a local file, or a local folder that is not a pixelrnn export.
    """
    path = resolve(name_or_path)
    if not path.exists():
        return str(name_or_path)
    if not path.is_dir():
        raise CheckpointError(f"{name_or_path} is a file, not a saved model's folder (config.json, "
                              f"{WEIGHTS_NAME}, {CARD_NAME})")
    read_config(path / CONFIG_NAME, str(path))
    return str(path)


def read_config(path: Path, where: str) -> dict[str, Any]:
    """The ``config.json`` at ``path`` if it is pixelrnn's (a JSON object with a ``model_config``)."""
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{where} is not a pixelrnn export ({first_line(error, 160)})") from error
    if not isinstance(config, dict) or not isinstance(config.get("model_config"), dict):
        raise CheckpointError(f"{where} is not a pixelrnn export (its config.json has no model_config)")
    return config


@contextlib.contextmanager
def download_errors(given: str | Path) -> Iterator[None]:
    """Turn what a download from the Hub raises into one CheckpointError line naming ``given``."""
    try:
        yield
    except PixelRNNError:
        raise
    except HUB_ERRORS as error:
        raise CheckpointError(f"{given} is neither a saved model's folder, a pretrained name (see `pixelrnn "
                              f"pretrained`) nor a Hub model that could be downloaded ({first_line(error)})") from error


def load_folder(cls: type[AutoregressiveImageModel], model_id: str, map_location: str | torch.device,
                download: dict[str, Any]) -> AutoregressiveImageModel:
    """The model of a saved folder (``model_id`` a local folder) or of a Hub repo, in evaluation mode.

    Args:
        cls: the class asked for. The model is built by the registry from ``model_config``, so the base class
            gives the stored family, and a family refuses a folder of another family.
        map_location: the device of the returned model.
        download: the mixin's Hub options (revision, cache_dir, token, ...), passed to ``hf_hub_download``.
    """
    def fetch(name: str) -> Path:  # the local file, or the downloaded (cached) one
        if Path(model_id).is_dir():
            return Path(model_id) / name
        return Path(hf_hub_download(repo_id=model_id, filename=name, **download))

    config = read_config(fetch(CONFIG_NAME), model_id)
    weights_path = fetch(WEIGHTS_NAME)
    try:
        model = build_model(from_dict(ModelConfig, config["model_config"]))
    except PixelRNNError as error:
        raise CheckpointError(f"the model of {model_id} cannot be rebuilt: {error}") from error
    if not isinstance(model, cls):
        raise CheckpointError(f"{model_id} holds a {type(model).__name__}, not a {cls.__name__} (load it with "
                              "AutoregressiveImageModel.from_pretrained)")
    try:
        weights = load_file(weights_path)
    except (OSError, SafetensorError) as error:
        raise CheckpointError(f"{model_id} is not a pixelrnn export ({first_line(error)})") from error
    load_weights(model, weights, f"the weights of {model_id}")
    model._hub_mixin_config = config  # its sections are kept when it is saved again
    return model.to(map_location).eval()
