"""``train``: data set + model name + settings → a trained run folder. The library form of ``pixelrnn train``."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from pixelrnn.checkpoint import load_checkpoint
from pixelrnn.config import DataConfig, ModelConfig, TrainConfig, from_dict
from pixelrnn.data import check_data_fits_model, load_dataset
from pixelrnn.errors import CheckpointError, DataError
from pixelrnn.models import build_model, model_config, training_defaults
from pixelrnn.run_folder import check_resumable, claimed_run_folder
from pixelrnn.runtime import is_main_process, process_seed, seed_everything, setup_runtime, teardown_runtime
from pixelrnn.training.records import TrainResult
from pixelrnn.training.trainer import Trainer


def train(
    run_dir: str | Path,
    data: DataConfig | None = None,
    model: str = "pixelcnn",
    model_overrides: dict[str, Any] | None = None,
    config: TrainConfig | None = None,
    resume: bool = False,
    train_overrides: dict[str, Any] | None = None,
    conditional: bool = False,
    overwrite: bool = False,
) -> TrainResult:
    """Train a model and evaluate it exactly on the test split.

    Args:
        run_dir: folder for ``last.pt``, ``best.pt``, ``metrics.jsonl``, ``loss_curve.png``, ``samples/``.
        data: which data set (default: the embedded 8×8 digits).
        model: a registry name (``pixelcnn``) or a preset name (``pixelcnn-small``).
        model_overrides: ModelConfig fields that win over the preset (e.g. ``{"num_layers": 3}``).
        config: optimisation settings (default: ``TrainConfig()`` with the preset's training defaults, e.g. the
            PixelRNN presets' RMSProp; see ``pixelrnn.models.PRESET_TRAINING``).
        resume: continue the run in ``run_dir`` from its ``last.pt``; the model and data come from that
            checkpoint, the training settings too, with ``train_overrides`` applied (e.g. a larger ``epochs``).
        train_overrides: TrainConfig fields to change when resuming.
        conditional: condition the model on the data set's class labels (p(x | y) instead of p(x)).
        overwrite: a new run may replace the trained run that ``run_dir`` holds (else that is refused).

    Returns:
        The run's result, with the exact test NLL (None when interrupted by Ctrl-C).

    Raises:
        RunFolderError: ``run_dir`` holds a run (and neither ``resume`` nor ``overwrite``), another process trains
            in it, or its ``last.pt`` is not the run's (see :func:`pixelrnn.run_folder.claimed_run_folder`).
    """
    claim = claimed_run_folder(run_dir, resume, overwrite) if is_main_process() else contextlib.nullcontext()
    with claim:
        return _train(Path(run_dir), data, model, model_overrides, config, resume, train_overrides, conditional)


def _train(run_dir: Path, data: DataConfig | None, model: str, model_overrides: dict[str, Any] | None,
           config: TrainConfig | None, resume: bool, train_overrides: dict[str, Any] | None,
           conditional: bool) -> TrainResult:
    if resume:
        data, model_cfg, config = _resumed_configs(run_dir, train_overrides or {})
    else:
        data, config = data or DataConfig(), config or TrainConfig(**training_defaults(model))
        config.validate()
    runtime = setup_runtime(config.device)
    try:
        seed_everything(process_seed(config.seed, runtime))
        dataset = load_dataset(data)
        if not resume:
            if conditional and dataset.num_classes == 0:
                raise DataError(f"data set '{dataset.name}' has no class labels to condition on")
            num_classes = dataset.num_classes if conditional else 0
            model_cfg = model_config(model, dataset.image_shape, dataset.num_levels, num_classes,
                                     **(model_overrides or {}))
        check_data_fits_model(dataset, model_cfg)
        trainer = Trainer(build_model(model_cfg), dataset, config, run_dir, runtime, data_config=data)
        return trainer.fit(resume=resume)
    finally:
        teardown_runtime(runtime)


def _resumed_configs(run_dir: Path, train_overrides: dict[str, Any]) -> tuple[DataConfig, ModelConfig, TrainConfig]:
    checkpoint = load_checkpoint(run_dir / "last.pt")
    check_resumable(run_dir, checkpoint)
    stored_data = checkpoint["data"].get("config")
    if stored_data is None or checkpoint.get("train_config") is None:
        raise CheckpointError(f"{run_dir / 'last.pt'} holds no data or training settings to resume with")
    train_config = from_dict(TrainConfig, {**checkpoint["train_config"], **train_overrides})
    return from_dict(DataConfig, stored_data), from_dict(ModelConfig, checkpoint["model_config"]), train_config

