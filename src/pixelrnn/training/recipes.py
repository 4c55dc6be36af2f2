"""Recipes: every paper row as a named, versioned training set-up, runnable as ``pixelrnn train --recipe NAME``.

A recipe fixes the data set (and its split), the model preset (and any change to it) and the training settings
of one row of a paper's table, with the figure the paper reports. What the paper states is taken from it; what
it leaves open (learning rate, clipping, epochs, some sizes) is ours, and ``ours`` says which. The name and
version of the recipe a run used are stored in its checkpoint (``TrainConfig.recipe``, e.g.
``pixelrnn/table4/diagonal-bilstm@v1``); a recipe whose settings change gets a new version.

Papers: *Pixel Recurrent Neural Networks* (van den Oord, Kalchbrenner, Kavukcuoglu, ICML 2016: Tables 2–5),
*Conditional Image Generation with PixelCNN Decoders* (van den Oord et al., NeurIPS 2016: Table 1) and
*PixelCNN++* (Salimans et al., ICLR 2017, trained as openai/pixel-cnn ``train.py`` trains it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pixelrnn.config import DataConfig, TrainConfig
from pixelrnn.errors import ConfigError
from pixelrnn.models import PRESETS, training_defaults


@dataclass(frozen=True)
class Recipe:
    """One paper row: the settings that train it and the figure the paper reports.

    Attributes:
        name: ``paper/table/row``, e.g. ``pixelrnn/table4/diagonal-bilstm``.
        version: bumped whenever a setting changes; stored with the name in every checkpoint.
        source: the paper and table.
        row: the row as the paper names it.
        target: the paper's figure, in ``unit`` (``nats/image`` for binarized MNIST, else ``bits/dim``); None for
            a row whose source states no valid likelihood (the seed report's small CIFAR-10 models).
        model: the model preset; ``model_fields`` are changes to it (e.g. the depth of Table 3).
        data: :class:`~pixelrnn.config.DataConfig` fields (the path is the user's: ``--data-path``).
        train: :class:`~pixelrnn.config.TrainConfig` fields, over the preset's training defaults.
        ours: what the paper does not state and we chose.
        model_fields: changes to the preset's architecture.
        conditional: the model is conditioned on the data set's class labels (``pixelrnn train --conditional``).
    """

    name: str
    version: int
    source: str
    row: str
    target: float | None
    unit: str
    model: str
    data: dict[str, Any]
    train: dict[str, Any]
    ours: str
    model_fields: dict[str, Any] = field(default_factory=dict)
    conditional: bool = False

    @property
    def key(self) -> str:
        """``name@vN``, what a checkpoint stores."""
        return f"{self.name}@v{self.version}"


PIXELRNN = "PixelRNN (van den Oord et al., ICML 2016)"
_BINARIZED_MNIST = {"name": "binarized_mnist", "binarize": "fixed"}  # 50,000 / 10,000 / 10,000 (Larochelle)
_CIFAR10 = {"name": "cifar10", "valid_fraction": 0.0}  # all 50,000 training images; validation = the test split
_RNN_TRAIN = {"optimizer": "rmsprop", "batch_size": 16, "lr": 1e-3, "grad_clip": 1.0, "sample_every": 5}
_RNN_OURS = ("RMSProp and batch 16 are the paper's (§4; batch 16 is stated for CIFAR-10); the learning rate 1e-3, "
             "clipping at norm 1 and the number of epochs are ours")
_MNIST_OURS = _RNN_OURS + "; the paper states the MNIST size of the Diagonal BiLSTM only (7 layers, h = 16): the " \
                          "PixelCNN and Row LSTM get the same sizes"
SEED_REPORT = "the seed comparison report (this project's predecessor), CIFAR-10"
_SEED_TRAIN = {"optimizer": "adam", "lr": 1e-3, "weight_decay": 1e-4, "schedule": "plateau", "plateau_factor": 0.5,
               "plateau_patience": 2, "grad_clip": 1.0, "batch_size": 32, "epochs": 10}
_SEED_OURS = ("the report's recipe (Adam 1e-3, weight decay 1e-4, ReduceLROnPlateau 0.5 / 2 epochs, clipping 1, batch "
              "32, 10 epochs); its 0.0018-0.0020 bits/dim is no likelihood of 8-bit images, so the row has no target; "
              "ours: the validation split (10 % of the training images) and the plateau measured on it")
_CIFAR_OURS = _RNN_OURS + "; no validation split: the test split is validated on, as the paper reports test NLL"
_SEED_ROW_LSTM_OURS = ("the report's network (the paper's CIFAR-10 Row LSTM, 12 layers, h = 128), RMSProp and "
                       "batch 16, one epoch with the training forward pass under bfloat16 autocast (every evaluation "
                       "stays float32); its 6.91 bits/dim after epoch 1 was measured on an A100; ours: the learning "
                       "rate 1e-3 and clipping at norm 1 (the PixelRNN rows'), channels-last weights (4-5 % faster "
                       "on one CPU thread), and no validation split: the test split is scored once, after the epoch")


# Version 2 of the Table 4 PixelCNN: version 1 (the preset's h = 16, 7 blocks, constant rate, 50 epochs) stopped
# improving near 89.7 nats on the validation images after 7 of its epochs (a CPU run, 13 epochs), 8 nats short
# of the paper; twice the width and 12 blocks with a cosine schedule over 6 epochs fit a CPU day far better.
_TABLE4_PIXELCNN_OURS = ("RMSProp and batch 16 are the paper's (§4); the size (h = 32, 12 residual blocks, 216,513 "
                         "parameters; the paper gives none for its MNIST PixelCNN), the learning rate 1e-3 with a "
                         "cosine schedule over 6 epochs and clipping at norm 1 are ours")


def _table4(row: str, preset: str, target: float, version: int = 1, ours: str = _MNIST_OURS,
            train: dict[str, Any] | None = None, **model_fields: Any) -> Recipe:
    return Recipe(f"pixelrnn/table4/{preset.removesuffix('-mnist')}", version,
                  f"{PIXELRNN}, Table 4 (binarized MNIST)", row, target, "nats/image", preset, dict(_BINARIZED_MNIST),
                  {**_RNN_TRAIN, "epochs": 50, **(train or {})}, ours, model_fields)


def _cifar_row(table: str, name: str, row: str, preset: str, target: float, epochs: int = 30,
               ours: str = _CIFAR_OURS, **model_fields: Any) -> Recipe:
    return Recipe(f"pixelrnn/{table}/{name}", 1, f"{PIXELRNN}, {table.replace('table', 'Table ')} (CIFAR-10)", row,
                  target, "bits/dim", preset, dict(_CIFAR10), {**_RNN_TRAIN, "epochs": epochs}, ours, model_fields)


_TABLE3_OURS = _CIFAR_OURS + "; the table's model is the Row LSTM in our reading (its 12 layers give Table 2's 3.06)"
_GATED_OURS = ("the CIFAR-10 size is not given: 20 layers of 256 maps, 5×5 (guessed, see the preset); optimizer, "
               "learning rate, batch and epochs are ours (the PixelRNN paper's RMSProp and batch 16)")
_PP_OURS = ("everything as openai/pixel-cnn train.py: Adam β 0.95/0.9995, lr 1e-3 × 0.999995 per step, batch 12 per "
            "GPU × 8 (96 in one process; 12 per process under torchrun with 8), Polyak 0.9995, dropout 0.5, no flips, "
            "all 50,000 training images, up to its 5,000 epochs (max_epochs), weight normalisation with data-dependent "
            "initialisation on 100 images (init scale 0.1 in each block's second convolution); ours: nothing")

LAB = "the MNIST lab (the seed project's teaching lab), binarized MNIST"
_LAB_OURS = ("the lab's network (7×7 mask A into 64 maps, five 7×7 mask-B layers of 64) and its sigmoid + BCE loss, "
             "reported as the exact Bernoulli NLL in nats; ours: the two 1×1 output layers, Adam 1e-3 with a cosine "
             "schedule over 10 epochs, batch 32, clipping at norm 1, the fixed Larochelle split, and (version 2) the "
             "training forward pass under bfloat16 autocast with channels-last weights, 2.1× as fast on one CPU thread "
             "(every evaluation stays float32)")

SEED_FOUR_CLASSES = "the seed comparison report (this project's predecessor), CIFAR-10 classes 0-3"
_FOUR_CLASSES = {"name": "cifar10", "classes": [0, 1, 2, 3]}  # airplane, automobile, bird, cat: 20,000 / 4,000
_FOUR_CLASS_TRAIN = {"batch_size": 16, "epochs": 10, "schedule": "exponential", "lr_decay": 0.999995,
                     "sample_every": 2, "precision": "bf16"}
_FOUR_CLASS_OURS = ("the report's network (1 ResNet block per stage, 40 filters, 5 mixtures, label embedding) and "
                    "its batch 16 with the rate times 0.999995 per step; ours: 10 epochs, PixelCNN++'s Adam "
                    "(1e-3, beta 0.95/0.9995) and Polyak averaging 0.9995, the validation split (10 % of the "
                    "training images), and (version 2) the training forward pass under bfloat16 autocast, twice as "
                    "fast on an AMX CPU (every evaluation stays float32)")


def _four_classes(conditioning: str, row: str) -> Recipe:
    name = "pixelcnn-pp" + ("" if conditioning == "embedding" else f"-{conditioning}")
    ours = _FOUR_CLASS_OURS if conditioning == "embedding" else \
        _FOUR_CLASS_OURS + f"; the fusion study's variant: {conditioning} instead of the embedding"
    return Recipe(f"seed/cifar10-4class/{name}", 2, SEED_FOUR_CLASSES, row, None, "bits/dim", "pixelcnn-pp-small",
                  dict(_FOUR_CLASSES), dict(_FOUR_CLASS_TRAIN), ours, {"conditioning": conditioning},
                  conditional=True)


RECIPES: dict[str, Recipe] = {recipe.name: recipe for recipe in [
    _table4("PixelCNN", "pixelcnn-mnist", 81.30, 2, _TABLE4_PIXELCNN_OURS, {"epochs": 6, "schedule": "cosine"},
            hidden_channels=32, num_layers=12),
    _table4("Row LSTM", "row-lstm-mnist", 80.54),
    _table4("Diagonal BiLSTM (7 layers, h = 16)", "diagonal-bilstm-mnist", 79.20),
    _cifar_row("table5", "pixelcnn", "PixelCNN (15 layers, h = 128)", "pixelcnn-cifar10", 3.14),
    _cifar_row("table5", "row-lstm", "Row LSTM (12 layers, h = 128)", "row-lstm-cifar10", 3.07),
    _cifar_row("table5", "diagonal-bilstm", "Diagonal BiLSTM (12 layers, h = 128)", "diagonal-bilstm-cifar10", 3.00),
    *[_cifar_row("table3", f"row-lstm-{layers}-layers", f"{layers} layer{'s' * (layers > 1)}", "row-lstm-cifar10",
                 target, ours=_TABLE3_OURS, num_layers=layers)
      for layers, target in ((1, 3.30), (2, 3.20), (3, 3.17), (6, 3.09), (9, 3.08), (12, 3.06))],
    *[_cifar_row("table2", name, row, "row-lstm-cifar10", target, skip_connections=skips, residual_connections=res)
      for name, row, target, skips, res in (
          ("row-lstm-no-skip-no-residual", "Row LSTM, no skip, no residual", 3.22, False, False),
          ("row-lstm-residual", "Row LSTM, residual only", 3.09, False, True),
          ("row-lstm-skip", "Row LSTM, skip only", 3.07, True, False),
          ("row-lstm-skip-residual", "Row LSTM, skip and residual", 3.06, True, True))],
    Recipe("lab/binarized-mnist/pixelcnn", 2, LAB, "PixelCNN (7×7, 6 layers of 64 maps)", None, "nats/image",
           "pixelcnn-lab", dict(_BINARIZED_MNIST), {"optimizer": "adam", "lr": 1e-3, "schedule": "cosine",
                                                     "batch_size": 32, "epochs": 10, "grad_clip": 1.0,
                                                     "sample_every": 2, "precision": "bf16", "channels_last": True},
           _LAB_OURS),
    Recipe("gated-pixelcnn/table1/cifar10", 1, "Conditional Image Generation with PixelCNN Decoders (van den Oord "
           "et al., NeurIPS 2016), Table 1 (CIFAR-10)", "Gated PixelCNN", 3.03, "bits/dim", "gated-pixelcnn-cifar10",
           dict(_CIFAR10), {**_RNN_TRAIN, "epochs": 30}, _GATED_OURS),
    Recipe("pixelcnn-pp/cifar10", 1, "PixelCNN++ (Salimans et al., ICLR 2017), CIFAR-10", "PixelCNN++", 2.92,
           "bits/dim", "pixelcnn-pp-cifar10", {**_CIFAR10, "hflip": False},
           {"optimizer": "adam", "lr": 1e-3, "schedule": "exponential", "lr_decay": 0.999995, "ema_decay": 0.9995,
            "batch_size": 96, "epochs": 5000, "sample_every": 20}, _PP_OURS),
    *[Recipe(f"seed/cifar10/{preset}", 1, SEED_REPORT, row, None, "bits/dim", preset, {"name": "cifar10"},
             dict(_SEED_TRAIN), _SEED_OURS + note)
      for preset, row, note in (
          ("pixelcnn-small", "PixelCNN (44,704 parameters)", ""),
          ("row-lstm-small", "Row LSTM (43,136 parameters)", "; our row-lstm-small has 50,784 parameters"),
          ("diagonal-bilstm-small", "Diagonal BiLSTM (32,640 parameters)",
           "; our diagonal-bilstm-small has 48,864 parameters"))],
    Recipe("seed/cifar10/row-lstm-epoch1", 1, SEED_REPORT, "Row LSTM (12 layers, h = 128), one epoch in bfloat16",
           6.91, "bits/dim", "row-lstm-cifar10", dict(_CIFAR10),
           {**_RNN_TRAIN, "epochs": 1, "precision": "bf16", "channels_last": True, "sample_every": 1},
           _SEED_ROW_LSTM_OURS),
    _four_classes("embedding", "class-conditional PixelCNN++ (label embedding)"),
    _four_classes("onehot", "class-conditional PixelCNN++, fusion study: one-hot bias"),
    _four_classes("film", "class-conditional PixelCNN++, fusion study: FiLM"),
]}


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name`` (with or without its ``@vN``); ConfigError listing the names otherwise."""
    base, _, version = name.partition("@v")
    recipe = RECIPES.get(base)
    if recipe is None:
        raise ConfigError(f"unknown recipe '{name}' (see `pixelrnn recipes`: {', '.join(RECIPES)})")
    if version and version != str(recipe.version):
        raise ConfigError(f"recipe {base} is at version {recipe.version}, not {version}")
    return recipe


def recipe_settings(recipe: Recipe, data_fields: dict[str, Any], model_fields: dict[str, Any],
                    train_fields: dict[str, Any]) -> tuple[DataConfig, dict[str, Any], TrainConfig]:
    """The recipe's data config, model changes and training config, with the caller's fields winning.

    Args:
        data_fields, model_fields, train_fields: settings given explicitly (e.g. ``--data-path``, ``--epochs``).

    Returns:
        (DataConfig, ModelConfig fields over the preset, TrainConfig with ``recipe`` = ``name@vN``).
    """
    data = DataConfig(**{**recipe.data, **data_fields})
    data.validate()
    train = TrainConfig(**{**training_defaults(recipe.model), **recipe.train, **train_fields, "recipe": recipe.key})
    train.validate()
    return data, {**recipe.model_fields, **model_fields}, train


def describe(recipe: Recipe) -> str:
    """Several lines: the row, the paper's figure, and every setting the recipe fixes."""
    preset = {key: value for key, value in PRESETS[recipe.model].items() if key != "name"}
    architecture = {**preset, **recipe.model_fields}
    train = {**training_defaults(recipe.model), **recipe.train}
    changed = {key: value for key, value in train.items()
               if value != getattr(TrainConfig(), key) or key in recipe.train}
    return "\n".join([
        f"recipe {recipe.key}: {recipe.source}, {recipe.row}: {_figure(recipe)}",
        f"  model: {recipe.model} {_fields(architecture)}{', conditioned on the labels' * recipe.conditional}",
        f"  data: {_fields(recipe.data)}",
        f"  train: {_fields(changed)}",
        f"  ours, not the paper's: {recipe.ours}",
    ])


def table() -> str:
    """A Markdown table of every recipe: name, paper row, the paper's figure, model preset, data set."""
    lines = ["| recipe | paper, row | paper's figure | model | data |", "|---|---|---|---|---|"]
    lines += [f"| `{recipe.name}` | {recipe.source}: {recipe.row} | {_figure(recipe)} | "
              f"`{recipe.model}`{' ' + _fields(recipe.model_fields) if recipe.model_fields else ''}"
              f"{', conditional' * recipe.conditional} | {_data(recipe.data)} |" for recipe in RECIPES.values()]
    return "\n".join(lines)


def _data(data: dict[str, Any]) -> str:
    """``cifar10``, or ``cifar10 classes 0, 1, 2, 3`` for a recipe that keeps some classes."""
    classes = data.get("classes")
    return data["name"] + (f" classes {', '.join(map(str, classes))}" if classes else "")


def _figure(recipe: Recipe) -> str:
    return "none stated" if recipe.target is None else f"{recipe.target:.2f} {recipe.unit}"


def _fields(values: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in values.items())


__all__ = ["RECIPES", "Recipe", "describe", "get_recipe", "recipe_settings", "table"]
