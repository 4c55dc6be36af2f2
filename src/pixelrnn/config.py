"""Typed configuration of data, models and training.

Every config is a dataclass; a checkpoint stores ``to_dict(model_config)`` so that every command rebuilds
the model from the checkpoint alone. ``from_dict`` rejects unknown keys and ``validate`` rejects
out-of-range values with a one-line :class:`~pixelrnn.errors.ConfigError`.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pixelrnn.errors import ConfigError

DATASETS = ("digits", "mnist", "binarized_mnist", "cifar10", "folder", "npz")
OPTIMIZERS = ("adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "exponential", "cosine", "plateau")
BINARIZATIONS = ("fixed", "dynamic", "once")
CONDITIONINGS = ("embedding", "onehot", "film")
PRECISIONS = ("fp32", "bf16")
TRACKERS = ("tensorboard", "wandb")
WANDB_MODES = ("offline", "online")


@dataclass
class DataConfig:
    """Which images to load and how.

    Attributes:
        name: one of ``DATASETS``. ``digits`` is the 8×8 handwritten digits (17 grey levels; UCI optdigits),
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
        classes: keep only the images of these labels, in every split, relabelled 0 … K − 1 in the order given
            (``[0, 1, 2, 3]``: CIFAR-10's airplane, automobile, bird and cat as classes 0–3); empty: every image.
            A model conditioned on such a data set has K classes.
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
    classes: list[int] = dataclasses.field(default_factory=list)

    def validate(self) -> None:
        _check_choice("data set", self.name, DATASETS)
        if any(label < 0 for label in self.classes) or len(set(self.classes)) != len(self.classes):
            raise ConfigError(f"classes must be distinct labels >= 0, got {self.classes}")
        _check_choice("binarization", self.binarize, BINARIZATIONS)
        if not 0.0 <= self.valid_fraction < 1.0:
            raise ConfigError(f"valid_fraction must be in [0, 1), got {self.valid_fraction}")
        for field_name in ("max_train_images", "max_test_images"):
            value = getattr(self, field_name)
            if value is not None and value < 1:
                raise ConfigError(f"{field_name} must be at least 1, got {value}")
        if self.name in ("folder", "npz") and not self.path:
            raise ConfigError(f"data set '{self.name}' needs a path (--data-path)")


def _arch(default: Any, help: str, **metadata: Any) -> Any:
    """A shared architecture field of ModelConfig: its default, and the help of its ``pixelrnn train`` flag."""
    return dataclasses.field(default=default, metadata={"help": help, **metadata})


@dataclass
class ModelConfig:
    """Architecture of one model; enough to rebuild it from a checkpoint.

    The fields below are shared by the families (a family's ``config_fields`` says which of the optional ones
    it reads); each registered family adds its own fields, declared in its module as :class:`ModelField` s
    (e.g. ``recurrent_layer`` in :mod:`pixelrnn.models.pixelrnn`, ``num_mixtures`` in
    :mod:`pixelrnn.models.pixelcnn_pp`), so a config stays one flat, typed dataclass (see
    :func:`add_model_fields`).

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
        skip_connections: learnable 1×1 mask-B connections from every layer to the output (PixelRNN paper §3.3,
            used in all three networks: §4; Table 2 measures them); their sum replaces the last layer's output as
            the input of the output layers.
        residual_connections: add every block's / recurrent layer's output to its input (§3.3). Off only for the
            paper's Table 2 ablation.
    """

    name: str = "pixelcnn"
    image_channels: int = 1
    image_height: int = 8
    image_width: int = 8
    num_levels: int = 256
    num_classes: int = 0
    conditioning: str = _arch("embedding", "with --conditional: how the label enters each layer",
                              choices=CONDITIONINGS)
    hidden_channels: int = _arch(16, "h of the paper: the residual stream carries 2h feature maps")
    num_layers: int = _arch(4, "residual blocks, gated or recurrent layers, or blocks per resolution")
    kernel_size: int = _arch(3, "odd size of the mask-B convolutions inside the blocks")
    first_kernel_size: int = _arch(7, "odd size of the mask-A input convolution, 7 in the paper")
    output_channels: int = _arch(32, "feature maps of the two ReLU + 1×1 output layers")
    skip_connections: bool = _arch(False, "learnable connections from every layer to the output, as the paper")
    residual_connections: bool = _arch(True, "residual connections; off: the ablation of the paper's Table 2")

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
        for field in dataclasses.fields(self):  # the choices and checks of the shared and the families' fields
            choices, check = field.metadata.get("choices"), field.metadata.get("check")
            if choices:
                _check_choice(field.metadata.get("label", field.name.replace("_", " ")), getattr(self, field.name),
                              choices)
            if check is not None:
                check(self)


@dataclass(frozen=True)
class ModelField:
    """A ModelConfig field that one model family declares in its own module (``model_fields`` of its class).

    Attributes:
        name: the field's name; its ``pixelrnn train`` flag is ``--`` + the name with dashes.
        type: ``bool``, ``int``, ``float`` or ``str`` (a checkpoint stores plain values only).
        default: the value of a config that does not set it.
        help: the flag's help text (the CLI adds which families read the field, and the default).
        choices: the allowed values of a ``str`` field; ``validate`` refuses others with
            ``unknown <label> '<value>' (choose from: ...)``.
        label: the words naming the field in that message (default: the name with spaces).
        check: ``check(config)`` raises a one-line ConfigError for an out-of-range value; ``validate`` runs it.
    """

    name: str
    type: type
    default: bool | int | float | str
    help: str
    choices: tuple[str, ...] = ()
    label: str = ""
    check: Callable[[Any], None] | None = None


def add_model_fields(fields: Sequence[ModelField]) -> None:
    """Make ``fields`` fields of :class:`ModelConfig`, after the ones it has (the registry does it for a family).

    The class is changed in place, so every module that imported it sees the new fields; configs made before
    lack them, so families are registered first (importing :mod:`pixelrnn` registers the library's). Declaring
    the same :class:`ModelField` again (a family built on another, such as the Multi-Scale PixelRNN) is a no-op.

    Raises:
        ValueError: another declaration of a field name ModelConfig already has (a programming error).
    """
    declared = {field.name: field.metadata.get("spec") for field in dataclasses.fields(ModelConfig)}
    added = []
    for spec in fields:
        if spec.name in declared:
            if declared[spec.name] is not spec:
                raise ValueError(f"ModelConfig already has a field '{spec.name}' declared elsewhere")
            continue
        declared[spec.name] = spec
        metadata = {"help": spec.help, "choices": spec.choices, "label": spec.label or spec.name.replace("_", " "),
                    "check": spec.check, "spec": spec}
        added.append(dataclasses.field(default=spec.default, metadata=metadata))
        added[-1].name, added[-1].type = spec.name, spec.type
    if added:
        _extend_in_place(ModelConfig, added)


def _extend_in_place(cls: type, added: list[dataclasses.Field]) -> None:
    """Give dataclass ``cls`` the generated methods and fields of a fresh dataclass with ``added`` appended."""
    hints = typing.get_type_hints(cls)
    current = [(field.name, hints[field.name], dataclasses.field(default=field.default, metadata=field.metadata))
               for field in dataclasses.fields(cls)]
    fresh = dataclasses.make_dataclass(cls.__name__, [*current, *((f.name, f.type, f) for f in added)],
                                       namespace={"__module__": cls.__module__, "__qualname__": cls.__qualname__})
    for attribute in ("__init__", "__repr__", "__eq__", "__match_args__", "__dataclass_fields__",
                      "__dataclass_params__"):
        setattr(cls, attribute, fresh.__dict__[attribute])
    for field in added:
        cls.__annotations__[field.name] = field.type
        setattr(cls, field.name, field.default)


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
