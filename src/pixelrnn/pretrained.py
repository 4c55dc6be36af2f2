"""Pretrained models shipped inside the package, loaded by name wherever a checkpoint path is accepted.

Each model is an exported folder (``config.json``, ``model.safetensors``, ``README.md``: the Hub's conventions,
see :mod:`pixelrnn.export`) under ``pixelrnn/pretrained_models/NAME/``. Its ``config.json`` has a ``pretrained``
section besides the export's fields::

    recipe         -- the recipe that trained it, ``name@vN`` (``pixelrnn recipes``)
    source, row    -- the paper (or report) and the row of its table the run reproduces
    paper_figure   -- that row's figure in ``unit`` (nats/image for binarized MNIST, else bits/dim), or None
    test           -- nats_per_image, bits_per_dim and num_images of ``pixelrnn eval`` over the whole test split
    check          -- the same over the first ``num_images`` test images: what the tests recompute
    compute        -- cpu_hours, machine, threads, date, epochs
    command        -- the command that trained it

The folders are written by ``scripts/reproduce.py`` from finished runs (docs/reproduction.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODELS_DIR = Path(__file__).parent / "pretrained_models"
CONFIG_NAME, WEIGHTS_NAME, CARD_NAME = "config.json", "model.safetensors", "README.md"


@dataclass(frozen=True)
class PretrainedModel:
    """One shipped model: its folder and the ``pretrained`` section of its ``config.json``."""

    name: str
    folder: Path
    info: dict[str, Any]
    parameters: int

    @property
    def data_name(self) -> str:
        """The data set's name (``binarized_mnist``, ``cifar10``)."""
        return str(self.info.get("data", "?"))

    def test_figure(self) -> str:
        """The test NLL as the paper's table reports it: nats/image for binary data, else bits/dim."""
        test = self.info["test"]
        if self.info.get("unit") == "nats/image":
            return f"{test['nats_per_image']:.2f} nats/image"
        return f"{test['bits_per_dim']:.3f} bits/dim"

    def paper_figure(self) -> str:
        """The paper's (or report's) figure for the row, or "none stated"."""
        figure = self.info.get("paper_figure")
        return "none stated" if figure is None else f"{figure:.2f} {self.info.get('unit', '')}"


def is_export(folder: str | Path) -> bool:
    """Whether ``folder`` is an exported model (``config.json`` of the export schema and ``model.safetensors``)."""
    return (Path(folder) / WEIGHTS_NAME).is_file() and has_export_config(folder)


def has_export_config(folder: str | Path) -> bool:
    """Whether ``folder`` holds a ``config.json`` of the export schema (pixelrnn's, with a ``model_config``)."""
    try:
        config = json.loads((Path(folder) / CONFIG_NAME).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get("library_name") == "pixelrnn" and "model_config" in config


def available() -> dict[str, PretrainedModel]:
    """Every shipped model by name, sorted by name."""
    models = {}
    for folder in sorted(MODELS_DIR.glob("*/")) if MODELS_DIR.is_dir() else []:
        if not is_export(folder):
            continue
        config = json.loads((folder / CONFIG_NAME).read_text())
        models[folder.name] = PretrainedModel(folder.name, folder, config.get("pretrained", {}),
                                              int(config.get("parameters", 0)))
    return models


def resolve(name_or_path: str | Path) -> Path:
    """The path to read for ``name_or_path``: an existing file or folder as given, else a shipped model's folder.

    A name that is neither stays as given, so the caller's "not found" message names what the user typed.
    """
    path = Path(name_or_path)
    if path.exists():
        return path
    shipped = available().get(str(name_or_path))
    return shipped.folder if shipped is not None else path


def listing() -> str:
    """The table ``pixelrnn pretrained`` prints: name, paper row, data, test NLL (the paper's), parameters."""
    models = available()
    if not models:
        return "no pretrained models are shipped with this version"
    header = ("name", "paper row", "data", "test NLL (paper)", "parameters")
    rows = [(model.name, f"{model.info.get('source_short', '')} {model.info.get('row', '')}".strip(),
             model.data_name, f"{model.test_figure()} ({model.paper_figure()})", f"{model.parameters:,}")
            for model in models.values()]
    widths = [max(len(row[index]) for row in [header, *rows]) for index in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in [header, *rows]]
    return "\n".join(lines + ["", "use a name wherever a checkpoint is accepted: pixelrnn eval NAME, sample NAME, "
                                  "complete NAME, classify NAME, pixelrnn.from_pretrained(NAME)"])


__all__ = ["MODELS_DIR", "PretrainedModel", "available", "is_export", "listing", "resolve"]
