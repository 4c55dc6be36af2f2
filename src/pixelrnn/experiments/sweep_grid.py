"""The grid and settings of a sweep: keys, typed values, points with readable folder names, a TOML file.

A grid axis is ``model`` (model or preset names), ``model.<field>``, ``train.<field>`` or ``data.<field>`` of
:mod:`pixelrnn.config` with a list of values; every combination is a point. :func:`make_spec` merges the command
line over a sweep file and checks every point's configs, so that a bad value fails before anything trains.
:mod:`pixelrnn.experiments.sweep` runs the points.
"""

from __future__ import annotations

import importlib
import itertools
import json
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pixelrnn.config import DataConfig, ModelConfig, TrainConfig, from_dict
from pixelrnn.errors import ConfigError
from pixelrnn.models import DATA_FIELDS, model_config, training_defaults

SECTIONS = {"model": ModelConfig, "train": TrainConfig, "data": DataConfig}
DEFAULT_MODEL = "pixelcnn-small"
OPTION_TYPES = {"model": str, "data": str, "conditional": bool, "sweep_dir": str, "storage": str, "study_name": str,
                "workers": int}
BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


# ------------------------------------------------------------------------------------------------ the grid
@dataclass(frozen=True)
class GridAxis:
    """One swept setting: ``key`` is canonical (``model``, ``model.num_layers``), ``label`` names it in folders."""

    key: str
    label: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class SweepPoint:
    """One combination of grid values, keyed like the axes; ``name`` is its run folder's name."""

    name: str
    values: dict[str, Any]


def resolve_key(key: str, model_aliases: dict[str, str] | None = None) -> tuple[str, str, Any]:
    """(canonical key, label, type hint) of a grid or fixed key such as ``model.layers`` or ``train.lr``."""
    key = key.strip()
    if key in ("model", "model.name"):
        return "model", "model", str
    if key == "data":
        key = "data.name"
    section, _, name = key.partition(".")
    if section not in SECTIONS or not name:
        raise ConfigError(f"unknown sweep key '{key}' (use model=..., model.<field>, train.<field> or data.<field>)")
    cls = SECTIONS[section]
    field_name = (model_aliases or {}).get(name, name) if section == "model" else name
    hints = typing.get_type_hints(cls)
    if field_name not in hints:
        raise ConfigError(f"unknown {cls.__name__} field '{name}' in '{key}' (fields: {', '.join(hints)})")
    if section == "model" and field_name in DATA_FIELDS:
        raise ConfigError(f"'{key}' comes from the data set and cannot be set by a sweep")
    return f"{section}.{field_name}", ("data" if key == "data.name" else name), hints[field_name]


def convert_value(key: str, value: Any, hint: Any) -> Any:
    """``value`` (typed, or text from the command line) as the field's type; ConfigError if it is not one."""
    if typing.get_origin(hint) is list:  # e.g. TrainConfig.log: a list of names, fixed only
        (item_type,) = typing.get_args(hint)
        if isinstance(value, list) and all(isinstance(item, item_type) for item in value):
            return list(value)
        raise ConfigError(f"{key} must be a list of {item_type.__name__}, got {value!r}")
    allowed = typing.get_args(hint) or (hint,)
    converted = _parse_text(value, allowed) if isinstance(value, str) and str not in allowed else value
    if type(converted) is int and int not in allowed and float in allowed:
        converted = float(converted)  # TOML's 0 for a float field
    if converted is None and type(None) in allowed or type(converted) in allowed:
        return converted
    names = " or ".join("none" if kind is type(None) else kind.__name__ for kind in allowed)
    raise ConfigError(f"{key} must be {names}, got {value!r}")


def _parse_text(text: str, allowed: tuple[Any, ...]) -> Any:
    """Text as the first of None, bool, int, float that ``allowed`` holds and that it spells; else the text."""
    word = text.strip().lower()
    if type(None) in allowed and word in ("none", "null"):
        return None
    if bool in allowed and word in BOOLEANS:
        return BOOLEANS[word]
    for kind in (int, float):
        if kind in allowed:
            try:
                return kind(word)
            except ValueError:
                pass
    return text


def make_axis(key: str, values: list[Any], model_aliases: dict[str, str] | None = None) -> GridAxis:
    """A checked grid axis: known key, a non-empty list, values of the field's type, no repeats."""
    canonical, label, hint = resolve_key(key, model_aliases)
    if typing.get_origin(hint) is list:
        raise ConfigError(f"'{key}' holds a list and cannot be swept; give it as a fixed value")
    if not isinstance(values, list | tuple) or not values:
        raise ConfigError(f"grid key '{key}' needs a non-empty list of values, got {values!r}")
    converted = tuple(convert_value(key, value, hint) for value in values)
    if len(set(map(repr, converted))) < len(converted):
        raise ConfigError(f"grid key '{key}' repeats a value: {list(converted)}")
    return GridAxis(canonical, label, converted)


def parse_grid_option(text: str) -> tuple[str, list[str]]:
    """``"model.layers=1,2,3"`` → ``("model.layers", ["1", "2", "3"])`` (values stay text until converted)."""
    key, equals, values = text.partition("=")
    if not equals or not key.strip():
        raise ConfigError(f"--grid expects KEY=V1,V2,..., got '{text}'")
    return key.strip(), [value.strip() for value in values.split(",") if value.strip()]


def make_grid(items: list[tuple[str, list[Any]]], model_aliases: dict[str, str] | None = None) -> list[GridAxis]:
    """Axes from (key, values) pairs; a key given twice (also as an alias) is a ConfigError."""
    axes: dict[str, GridAxis] = {}
    for key, values in items:
        axis = make_axis(key, values, model_aliases)
        if axis.key in axes:
            raise ConfigError(f"grid key '{key}' is given twice (as {axes[axis.key].label} and {axis.label})")
        axes[axis.key] = axis
    return list(axes.values())


def grid_points(grid: list[GridAxis]) -> list[SweepPoint]:
    """Every combination of the axes' values, in grid order, each with a distinct readable folder name."""
    labels = [axis.label for axis in grid]
    labels = [axis.key if labels.count(axis.label) > 1 else axis.label for axis in grid]  # train.seed, data.seed
    points = []
    for values in itertools.product(*(axis.values for axis in grid)):
        name = ",".join(f"{label}={_folder_text(value)}" for label, value in zip(labels, values, strict=True))
        points.append(SweepPoint(name, {axis.key: value for axis, value in zip(grid, values, strict=True)}))
    if len({point.name for point in points}) < len(points):
        raise ConfigError("two grid points map to the same run folder name; use values that differ in letters "
                          "or digits")
    return points


def _folder_text(value: Any) -> str:
    text = str(value).lower() if isinstance(value, bool) or value is None else str(value)
    return re.sub(r"[^A-Za-z0-9._+-]", "_", text)


# ------------------------------------------------------------------------------------------ the settings
@dataclass
class SweepSettings:
    """A sweep as written in a TOML file or on the command line, before merging and checking.

    Attributes:
        options: the ``[sweep]`` table: model, data (the data set's name), conditional, sweep_dir, storage,
            study_name, workers.
        grid: (key, values) pairs; values may be text (command line) or typed (TOML).
        model, train, data: fixed ModelConfig (flag aliases allowed), TrainConfig and DataConfig fields.
    """

    options: dict[str, Any] = field(default_factory=dict)
    grid: list[tuple[str, list[Any]]] = field(default_factory=list)
    model: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class SweepSpec:
    """A checked sweep: the grid and the settings every point shares.

    Attributes:
        grid: the swept axes, in order (the first varies slowest).
        sweep_dir: folder of ``sweep.json``, the default ``sweep.db`` and one run folder per point.
        model: model or preset of every point (None when ``model`` is an axis).
        model_overrides, train, data: fixed ModelConfig / TrainConfig / DataConfig fields (TrainConfig starts
            from the model's preset training defaults, as ``pixelrnn train``).
        storage: Optuna storage URL (default ``sqlite:///<sweep_dir>/sweep.db``).
        study_name: Optuna study name (default: the sweep folder's name).
        command: the command that started the sweep, recorded in ``sweep.json``.
        workers: local processes that train points at once (like storage and command, not part of the
            sweep's identity: any number of processes may run the same sweep).
    """

    grid: list[GridAxis]
    sweep_dir: Path
    model: str | None = DEFAULT_MODEL
    conditional: bool = False
    model_overrides: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    storage: str | None = None
    study_name: str | None = None
    command: str = ""
    workers: int = 1

    @property
    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{(self.sweep_dir / 'sweep.db').resolve()}"

    @property
    def name(self) -> str:
        return self.study_name or self.sweep_dir.resolve().name

    def identity(self) -> dict[str, Any]:
        """What makes two sweeps the same one (not the device, storage or command): JSON-safe."""
        return json.loads(json.dumps({
            "grid": [{"key": axis.key, "label": axis.label, "values": list(axis.values)} for axis in self.grid],
            "model": self.model, "conditional": self.conditional, "model_overrides": self.model_overrides,
            "train": {key: value for key, value in self.train.items() if key != "device"}, "data": self.data}))


def _toml_reader() -> Any:
    """``tomllib`` (Python 3.11+), or ``tomli`` on Python 3.10 (a dependency there); ConfigError if neither."""
    for name in ("tomllib", "tomli"):
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError:
            continue
    raise ConfigError("reading a TOML sweep file needs Python 3.11 or later (tomllib), or tomli: pip install tomli "
                      "(or give the grid with --grid)")


def load_sweep_file(path: str | Path) -> SweepSettings:
    """Read a TOML sweep file: ``[sweep]``, ``[grid]`` (key → list), ``[model]``, ``[train]``, ``[data]``."""
    tomllib = _toml_reader()
    try:
        with open(path, "rb") as handle:
            tables = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"sweep file not found: {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    unknown = sorted(set(tables) - {"sweep", "grid", "model", "train", "data"})
    if unknown or not all(isinstance(table, dict) for table in tables.values()):
        raise ConfigError(f"{path}: a sweep file holds only the tables [sweep], [grid], [model], [train], [data]"
                          + (f" (found {', '.join(unknown)})" if unknown else ""))
    return SweepSettings(tables.get("sweep", {}), list(tables.get("grid", {}).items()), tables.get("model", {}),
                         tables.get("train", {}), tables.get("data", {}))


def make_spec(settings: SweepSettings, overrides: SweepSettings | None = None,
              model_aliases: dict[str, str] | None = None, command: str = "") -> tuple[SweepSpec, list[SweepPoint]]:
    """Merge ``overrides`` (the command line) over ``settings`` (a file), check every point's configs.

    Returns:
        The spec and its points. Raises ConfigError, before anything trains, for an unknown key, an empty or
        repeated value list, a key both swept and fixed, or a point whose configs fail validation.
    """
    overrides = overrides or SweepSettings()
    options = _options({**settings.options, **overrides.options})
    axes = {axis.key: axis for axis in make_grid(settings.grid, model_aliases)}
    axes.update({axis.key: axis for axis in make_grid(overrides.grid, model_aliases)})  # the command line wins
    if not axes:
        raise ConfigError("a sweep needs a grid: --grid KEY=V1,V2,... or a [grid] table")
    fixed = {section: _fixed(section, {**getattr(settings, section), **getattr(overrides, section)}, model_aliases)
             for section in SECTIONS}
    if "data" in options:
        fixed["data"].setdefault("name", options["data"])
    both = [key for key in axes if key == "model" and "model" in options
            or key.partition(".")[2] in fixed.get(key.partition(".")[0], {})]
    if both:
        raise ConfigError(f"{', '.join(both)} is both swept (grid) and fixed; give it in one place")
    spec = SweepSpec(list(axes.values()), Path(options.get("sweep_dir", "runs/sweep")),
                     None if "model" in axes else options.get("model", DEFAULT_MODEL),
                     options.get("conditional", False), fixed["model"],
                     fixed["train"], fixed["data"], options.get("storage"), options.get("study_name"), command,
                     options.get("workers", 1))
    points = grid_points(spec.grid)
    for point in points:
        point_configs(spec, point)
    return spec, points


def _options(values: dict[str, Any]) -> dict[str, Any]:
    """The ``[sweep]`` settings, typed; ConfigError for an unknown one or a bad value."""
    unknown = sorted(set(values) - set(OPTION_TYPES))
    if unknown:
        raise ConfigError(f"unknown [sweep] setting(s) {', '.join(unknown)} (known: {', '.join(OPTION_TYPES)})")
    options = {key: convert_value(key, value, OPTION_TYPES[key]) for key, value in values.items()}
    if options.get("workers", 1) < 1:
        raise ConfigError(f"workers must be at least 1, got {options['workers']}")
    return options


def _fixed(section: str, values: dict[str, Any], model_aliases: dict[str, str] | None = None) -> dict[str, Any]:
    """Fixed ``[model]`` / ``[train]`` / ``[data]`` values keyed by config field, typed."""
    converted = {}
    for key, value in values.items():
        canonical, _, hint = resolve_key(f"{section}.{key}", model_aliases)
        if canonical == "model":
            raise ConfigError("give the model as [sweep] model = ... or --model, not as [model] name")
        converted[canonical.partition(".")[2]] = convert_value(f"{section}.{key}", value, hint)
    return converted


@dataclass
class PointConfigs:
    """What :func:`pixelrnn.train.train` needs for one point."""

    model: str
    model_overrides: dict[str, Any]
    data: DataConfig
    train: TrainConfig
    conditional: bool


def point_configs(spec: SweepSpec, point: SweepPoint) -> PointConfigs:
    """The validated configs of ``point`` (ConfigError naming the point if they are invalid)."""
    swept = {section: {key.partition(".")[2]: value for key, value in point.values.items()
                       if key.startswith(f"{section}.")} for section in SECTIONS}
    model = point.values.get("model", spec.model)
    overrides = {**spec.model_overrides, **swept["model"]}
    try:
        data = from_dict(DataConfig, {**spec.data, **swept["data"]})
        train = from_dict(TrainConfig, {**training_defaults(model), **spec.train, **swept["train"]})
        model_config(model, (1, 8, 8), 256, **overrides)  # validation only: its checks do not depend on the data
    except ConfigError as error:
        raise ConfigError(f"sweep point {point.name}: {error}") from None
    return PointConfigs(model, overrides, data, train, spec.conditional)
