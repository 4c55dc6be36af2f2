"""Typed configuration of data, models and training.

Every config is a dataclass; a checkpoint stores ``to_dict(model_config)`` so that every command rebuilds
the model from the checkpoint alone. ``from_dict`` rejects unknown keys and ``validate`` rejects
out-of-range values with a one-line :class:`~pixelrnn.errors.ConfigError`.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from typing import Any, TypeVar

from pixelrnn.errors import ConfigError

DATASETS = ("digits", "mnist", "binarized_mnist", "cifar10", "folder", "npz")
OPTIMIZERS = ("adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "exponential", "cosine", "plateau")
BINARIZATIONS = ("fixed", "dynamic", "once")
RECURRENT_LAYERS = ("row_lstm", "diagonal_bilstm")
CELLS = ("lstm", "gru")
CONDITIONINGS = ("embedding", "onehot", "film")
PRECISIONS = ("fp32", "bf16")
TRACKERS = ("tensorboard", "wandb")
WANDB_MODES = ("offline", "online")


@dataclass
class DataConfig:
    """Which images to load and how.

    Attributes:
        name: one of ``DATASETS``. ``digits`` is scikit-learn's 8×8 handwritten digits (17 grey levels),
            shipped inside the package and needing no download.
        path: for ``mnist``/``binarized_mnist``/``cifar10`` the folder holding (or receiving) the official
            files, or a ``.npz`` file of them (``x_train``, ``x_test``, ``x_valid``, ``y_*``); for ``folder`` the
            image folder; for ``npz`` the ``.npz`` file. With ``binarize`` ``dynamic`` or ``once`` the path is
            MNIST's.
        binarize: ``binarized_mnist`` only: ``fixed`` reads the standard Larochelle split (PixelRNN's Table 4
            uses it); ``dynamic`` draws each training pixel as Bernoulli(grey / 255) from MNIST anew every epoch,
            as the literature's "dynamically binarized MNIST" (not comparable with the fixed split); ``once``
            draws the training images once. In both, the test (and held-out validation) images are drawn once,
            with ``seed``.
        valid_fraction: share of the training images held out, deterministically, as the validation split
            (data sets without an official validation split). 0 trains on every training image, as PixelCNN++
            does; the trainer then validates on the test split (metrics lines say ``"split": "test"``) and keeps
            the checkpoint of lowest test NLL as ``best.pt``.
        seed: seed of the validation split and of dynamic binarization.
        download: fetch missing MNIST / CIFAR-10 files from their official locations (checksums verified).
        hflip: random horizontal flips of training images.
        max_train_images: keep only the first N training images (None: all).
        max_test_images: keep only the first N test images (None: all).
    """

    name: str = "digits"
    path: str | None = None
    binarize: str = "fixed"
    valid_fraction: float = 0.1
    seed: int = 0
    download: bool = True
    hflip: bool = False
    max_train_images: int | None = None
    max_test_images: int | None = None

    def validate(self) -> None:
        _check_choice("data set", self.name, DATASETS)
        _check_choice("binarization", self.binarize, BINARIZATIONS)
        if not 0.0 <= self.valid_fraction < 1.0:
            raise ConfigError(f"valid_fraction must be in [0, 1), got {self.valid_fraction}")
        for field_name in ("max_train_images", "max_test_images"):
            value = getattr(self, field_name)
            if value is not None and value < 1:
                raise ConfigError(f"{field_name} must be at least 1, got {value}")
        if self.name in ("folder", "npz") and not self.path:
            raise ConfigError(f"data set '{self.name}' needs a path (--data-path)")


@dataclass
class ModelConfig:
    """Architecture of one model; enough to rebuild it from a checkpoint.

    Attributes:
        name: a key of the model registry (``pixelrnn.models.MODELS``).
        image_channels, image_height, image_width: the shape C×H×W of the images the model is built for.
        num_levels: intensity levels per sub-pixel (256; 2 for binary images; 17 for the 8×8 digits).
        num_classes: number of class labels to condition on (0: unconditional).
        conditioning: how the label enters every layer: ``embedding`` (a learned embedding projected to a bias
            per layer), ``onehot`` (a per-layer bias V·onehot(y)) or ``film`` (per-layer scale and shift).
        hidden_channels: h of the paper; the residual stream carries 2h feature maps.
        num_layers: number of residual blocks (PixelCNN) or recurrent layers (PixelRNN).
        kernel_size: spatial size of the mask-B convolutions inside the blocks.
        first_kernel_size: spatial size of the mask-A input convolution (7 in the paper).
        output_channels: width of the two ReLU + 1×1 mask-B output layers.
        recurrent_layer: PixelRNN only: ``row_lstm`` (§3.1) or ``diagonal_bilstm`` (§3.2).
        cell: PixelRNN only: the recurrent cell, ``lstm`` (the paper) or ``gru``.
        skip_connections: PixelCNN and PixelRNN: learnable 1×1 mask-B connections from every layer to the output
            (PixelRNN paper §3.3, used in all three networks: §4; Table 2 measures them); their sum replaces the last
            layer's output as the input of the output layers.
        residual_connections: PixelCNN and PixelRNN: add every block's / recurrent layer's output to its input
            (§3.3). Off only for the paper's Table 2 ablation.
        learned_initial_state: PixelRNN only: the recurrent state before the first row (Row LSTM) or before the
            first column and row (Diagonal BiLSTM) is a learned vector per layer and direction (hidden and, for the
            LSTM, cell state), as the paper learns it; off: zeros.
        subsample_factor: Multi-Scale PixelRNN only: the small image keeps every f-th row and column (§3.6).
        num_mixtures: PixelCNN++ only: logistic mixture components per pixel.
        dropout: PixelCNN++ only: drop probability inside every gated ResNet block.
        weight_norm: PixelCNN++ only: weight normalisation of every convolution, with data-dependent
            initialisation on a new training run, as the authors' code (False: plain weights, as before).
    """

    name: str = "pixelcnn"
    image_channels: int = 1
    image_height: int = 8
    image_width: int = 8
    num_levels: int = 256
    num_classes: int = 0
    conditioning: str = "embedding"
    hidden_channels: int = 16
    num_layers: int = 4
    kernel_size: int = 3
    first_kernel_size: int = 7
    output_channels: int = 32
    recurrent_layer: str = "row_lstm"
    cell: str = "lstm"
    skip_connections: bool = False
    residual_connections: bool = True
    learned_initial_state: bool = False
    subsample_factor: int = 2
    num_mixtures: int = 10
    dropout: float = 0.0
    weight_norm: bool = False

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the images this model is built for."""
        return (self.image_channels, self.image_height, self.image_width)

    def validate(self) -> None:
        positive = ("image_channels", "image_height", "image_width", "hidden_channels", "num_layers",
                    "kernel_size", "first_kernel_size", "output_channels")
        for field_name in positive:
            if getattr(self, field_name) < 1:
                raise ConfigError(f"model {field_name} must be at least 1, got {getattr(self, field_name)}")
        if self.image_channels not in (1, 3):
            raise ConfigError(f"images must have 1 or 3 channels, got {self.image_channels}")
        if not 2 <= self.num_levels <= 256:
            raise ConfigError(f"num_levels must be in [2, 256], got {self.num_levels}")
        if self.num_classes < 0:
            raise ConfigError(f"num_classes must be >= 0, got {self.num_classes}")
        for field_name in ("kernel_size", "first_kernel_size"):
            if getattr(self, field_name) % 2 == 0:
                raise ConfigError(f"model {field_name} must be odd, got {getattr(self, field_name)}")
        _check_choice("recurrent layer", self.recurrent_layer, RECURRENT_LAYERS)
        _check_choice("recurrent cell", self.cell, CELLS)
        _check_choice("conditioning", self.conditioning, CONDITIONINGS)
        if self.num_mixtures < 1 or not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"num_mixtures must be >= 1 and dropout in [0, 1), got {self.num_mixtures} and "
                              f"{self.dropout}")
        if self.subsample_factor < 2:
            raise ConfigError(f"subsample_factor must be at least 2, got {self.subsample_factor}")
        if self.weight_norm and self.name != "pixelcnn_pp":
            raise ConfigError(f"weight_norm is implemented for PixelCNN++ only, not for model '{self.name}'")


@dataclass
class TrainConfig:
    """How to optimise.

    Attributes:
        epochs: passes over the training split.
        max_steps: stop after this many optimizer steps (None: run all epochs).
        batch_size: images per optimizer step, per process (before gradient accumulation splits it).
        eval_batch_size: images per forward pass during evaluation.
        optimizer: one of ``OPTIMIZERS``.
        lr, weight_decay: optimizer settings.
        adam_beta1, adam_beta2: Adam's and AdamW's moment decay rates β₁, β₂ (torch's 0.9 and 0.999 by default;
            the PixelCNN++ reference, openai/pixel-cnn ``train.py``, uses 0.95 and 0.9995); RMSProp ignores them.
        schedule: one of ``SCHEDULES``: ``exponential`` multiplies the rate by ``lr_decay`` every step,
            ``cosine`` anneals to 0 over the run, ``plateau`` multiplies it by ``plateau_factor`` when the
            validation bits/dim has not improved for ``plateau_patience`` epochs.
        grad_clip: clip the global gradient norm to this value (0: no clipping).
        grad_accum: split each batch into this many micro-batches, accumulating gradients.
        precision: ``fp32``, or ``bf16``: the training forward pass under bfloat16 autocast (the loss, the output
            head and every evaluation stay in float32, so reported bits/dim are exact).
        compile: run the training forward pass through ``torch.compile``.
        channels_last: keep the weights (and so the activations of the convolutions) in channels-last memory
            order, which some convolution kernels run faster on (measured per model in docs/benchmarks.md).
        init_batch_size: training images of the data-dependent initialisation of a weight-normalised model
            (``ModelConfig.weight_norm``), run once at the start of a new run (100, as the PixelCNN++ reference).
        ema_decay: keep an exponential moving average of the weights with this decay (0: off), used for
            validation, test, sample grids and as the checkpoint's default weights (PixelCNN++ uses 0.9995).
        checkpoint_every: also save ``last.pt`` inside an epoch every N steps (0: only at the end of an epoch);
            a resumed run continues from a mid-epoch checkpoint exactly.
        checkpoint_minutes: also save ``last.pt`` inside an epoch when this many minutes have passed since the last
            save (0: off), so that a long epoch (hours for the CIFAR-10 PixelRNNs on a CPU) loses at most that much.
        sample_every: write a sample grid every N epochs (0: never).
        num_samples: images in each sample grid.
        log_every: write a training line to ``metrics.jsonl`` every N steps.
        seed: base seed; each process uses ``seed * world_size + rank``.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        log: experiment trackers that also receive the metrics, sample grids and config, from ``TRACKERS``
            (see docs/tracking.md); each needs its pip extra, e.g. ``pixelrnn[tensorboard]``.
        wandb_project, wandb_mode: the wandb project, and ``offline`` (no network; ``wandb sync`` later)
            or ``online``.
        recipe: ``name@vN`` of the paper recipe (:mod:`pixelrnn.training.recipes`) the run was started from, or empty.
    """

    epochs: int = 10
    max_steps: int | None = None
    batch_size: int = 32
    eval_batch_size: int = 256
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    schedule: str = "constant"
    lr_decay: float = 0.9999
    plateau_factor: float = 0.5
    plateau_patience: int = 2
    grad_clip: float = 0.0
    grad_accum: int = 1
    precision: str = "fp32"
    compile: bool = False
    channels_last: bool = False
    init_batch_size: int = 100
    ema_decay: float = 0.0
    checkpoint_every: int = 0
    checkpoint_minutes: float = 10.0
    sample_every: int = 1
    num_samples: int = 16
    log_every: int = 10
    seed: int = 0
    device: str = "auto"
    log: list[str] = dataclasses.field(default_factory=list)
    wandb_project: str = "pixelrnn"
    wandb_mode: str = "offline"
    recipe: str = ""

    def validate(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{field.name} must be a finite number, got {value}")
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("schedule", self.schedule, SCHEDULES)
        for field_name in ("epochs", "batch_size", "eval_batch_size", "grad_accum", "log_every", "num_samples",
                           "init_batch_size"):
            if getattr(self, field_name) < 1:
                raise ConfigError(f"{field_name} must be at least 1, got {getattr(self, field_name)}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"max_steps must be at least 1, got {self.max_steps}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        for field_name in ("adam_beta1", "adam_beta2"):
            if not 0.0 < getattr(self, field_name) < 1.0:
                raise ConfigError(f"{field_name} must be in (0, 1), got {getattr(self, field_name)}")
        if not 0 < self.lr_decay <= 1 or not 0 < self.plateau_factor < 1:
            raise ConfigError("lr_decay must be in (0, 1] and plateau_factor in (0, 1)")
        for field_name in ("weight_decay", "grad_clip", "sample_every", "plateau_patience", "checkpoint_every",
                           "checkpoint_minutes"):
            if getattr(self, field_name) < 0:
                raise ConfigError(f"{field_name} must be >= 0, got {getattr(self, field_name)}")
        _check_choice("precision", self.precision, PRECISIONS)
        for tracker in self.log:
            _check_choice("tracker", tracker, TRACKERS)
        _check_choice("wandb mode", self.wandb_mode, WANDB_MODES)
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.batch_size % self.grad_accum:
            raise ConfigError(f"batch_size {self.batch_size} is not divisible by grad_accum {self.grad_accum}")


ConfigT = TypeVar("ConfigT", DataConfig, ModelConfig, TrainConfig)

# The `pixelrnn train` flag of a config field where it is not the field's own name (``--data-path`` for
# ``DataConfig.path``); the command line and the command a model card prints are both built from these.
FLAG_NAMES = {DataConfig: {"name": "data", "path": "data-path", "seed": "data-seed", "download": "no-download"},
              ModelConfig: {"num_layers": "layers"}, TrainConfig: {}}


def command_flags(config: DataConfig | ModelConfig | TrainConfig, skip: tuple[str, ...] = ()) -> list[str]:
    """The ``pixelrnn train`` flags that give ``config`` its values where they differ from the defaults:
    ``--layers 3``, ``--no-skip-connections``, ``--log wandb``; ``skip`` names fields to leave out."""
    defaults, names = type(config)(), FLAG_NAMES[type(config)]
    flags = []
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.name in skip or value == getattr(defaults, field.name):
            continue
        flag = "--" + names.get(field.name, field.name.replace("_", "-"))
        if field.name == "download":
            flags.append(flag)  # the default is True: only --no-download changes it
        elif isinstance(value, bool):
            flags.append(flag if value else f"--no-{flag[2:]}")
        else:
            flags += [f"{flag} {item}" for item in (value if isinstance(value, list) else [value])]
    return flags


def to_dict(config: DataConfig | ModelConfig | TrainConfig) -> dict[str, Any]:
    """Plain dict of a config (only str/int/float/bool/None values: safe for ``weights_only`` loads)."""
    return dataclasses.asdict(config)


def from_dict(cls: type[ConfigT], values: dict[str, Any]) -> ConfigT:
    """Build and validate a config, rejecting unknown keys and values of the wrong type."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        _check_type(key, value, hints[key])
    config = cls(**values)
    config.validate()
    return config


def _check_type(key: str, value: Any, hint: Any) -> None:
    if typing.get_origin(hint) is list:  # list[str]: a list whose items all have the item type
        (item_type,) = typing.get_args(hint)
        if isinstance(value, list) and all(isinstance(item, item_type) for item in value):
            return
        raise ConfigError(f"config field {key} has the wrong type: {value!r}")
    allowed = typing.get_args(hint) or (hint,)
    if value is None and type(None) in allowed:
        return
    if float in allowed and isinstance(value, int) and not isinstance(value, bool):
        return
    if any(isinstance(value, t) and not (t is int and isinstance(value, bool)) for t in allowed
           if isinstance(t, type) and t is not type(None)):
        return
    raise ConfigError(f"config field {key} has the wrong type: {value!r}")


def _check_choice(what: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"unknown {what} '{value}' (choose from: {', '.join(choices)})")
