"""What a run leaves: its checkpoints, ``metrics.jsonl``, ``config.json`` and loss curve, and its TrainResult.

:class:`RunRecords` is the half of :class:`~pixelrnn.training.trainer.Trainer` that writes and reads them: the
checkpoint that resumes a run exactly (weights, optimizer, scheduler, RNG state, progress inside the epoch, the
moving average), restoring it (and forgetting the metrics logged after it), the metric lines and the curve.
It works on the trainer's state: ``model``, ``optimizer``, ``scheduler``, ``average``, ``progress``, ``config``,
``data``, ``data_config``, ``runtime``, ``run_dir``, ``metrics_path``, ``trackers``, ``cadence`` and ``saved_step``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pixelrnn.checkpoint import make_checkpoint, save_checkpoint
from pixelrnn.config import to_dict
from pixelrnn.errors import CheckpointError
from pixelrnn.io import atomic_write
from pixelrnn.likelihood import NLLResult, uniform_bits_per_dim
from pixelrnn.plots import save_loss_curves
from pixelrnn.run_folder import append_json_line, read_metrics, write_run_config
from pixelrnn.training.stopping import check_finite_weights
from pixelrnn.training.tracking import metric_scalars


@dataclass
class TrainResult:
    """What a finished (or interrupted) run produced. Bits/dim are None when not measured.

    ``valid_split`` names the split that ``best_valid_bits_per_dim`` was measured on: ``valid``, or ``test`` for a
    data set without validation images. An ``interrupted`` run names the ``signal_number`` that stopped it (2:
    SIGINT, 15: SIGTERM) and whether ``last.pt`` was ``saved`` at the step it stopped at (False after a second
    signal inside a step: the checkpoint before it is kept). A resumed run that had already reached its ``epochs`` /
    ``max_steps`` (the settings it ran with, given here) and its test is ``already_ended``: nothing was trained or
    evaluated, and ``test`` is the result logged when it ended.
    """

    run_dir: Path
    steps: int
    epochs_completed: int
    best_valid_bits_per_dim: float | None
    test: NLLResult | None
    interrupted: bool = False
    valid_split: str = "valid"
    signal_number: int | None = None
    saved: bool = True
    already_ended: bool = False
    epochs: int = 0
    max_steps: int | None = None


class RunRecords:
    """Checkpoints and run files of a :class:`~pixelrnn.training.trainer.Trainer` (see the module docstring)."""

    def checkpoint(self) -> dict[str, Any]:
        """Everything needed to rebuild the model and to resume this run exactly."""
        data_info = {"name": self.data.name, "num_levels": self.data.num_levels,
                     "num_classes": self.data.num_classes, "image_shape": list(self.data.image_shape),
                     "config": to_dict(self.data_config) if self.data_config else None}
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return make_checkpoint(
            self.model, data_info, train_config=to_dict(self.config), optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict() if self.scheduler is not None else None,
            progress={**self.progress, "elapsed_seconds": self.elapsed_seconds}, rng=rng,
            ema=self.average.module.state_dict() if self.average is not None else None,
        )

    def save(self, name: str) -> Path:
        """Write the checkpoint ``name`` (``last.pt``, ``best.pt``); never one of non-finite weights."""
        check_finite_weights(self.model, self.progress["step"], self.saved_step)
        path = save_checkpoint(self.checkpoint(), self.run_dir / name, self.runtime)
        if name == "last.pt":
            self.saved_step = self.progress["step"]
            self.cadence.saved()
        return path

    def restore(self, checkpoint: dict[str, Any]) -> None:
        """Load weights, optimizer, scheduler, RNG state and progress from a ``checkpoint()`` dict."""
        if "progress" not in checkpoint or "optimizer" not in checkpoint:
            raise CheckpointError("the checkpoint holds no training state to resume from")
        self.model.load_state_dict(checkpoint["model"])
        if self.average is not None:
            self.average.module.load_state_dict(checkpoint.get("ema") or checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        if self.scheduler is not None and checkpoint.get("scheduler") is not None:
            self.scheduler.load_state_dict(checkpoint["scheduler"])
        torch.set_rng_state(checkpoint["rng"]["torch"].cpu())
        if "cuda" in checkpoint["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([state.cpu() for state in checkpoint["rng"]["cuda"]])
        self.progress = {"end_pending": None, "elapsed_seconds": 0.0, **checkpoint["progress"]}
        self._session_started = time.perf_counter()
        self.saved_step = self.progress["step"]
        # forget metrics logged after this checkpoint, and the final test line (it comes after the last one, at its
        # step), as they will be logged again; unless the run has nothing left to do, when its test line stays
        lines, step = read_metrics(self.run_dir), self.progress["step"]
        finished = step >= self.total_steps and not self.progress["end_pending"]
        kept = [line for line in lines if line["step"] <= step and (line.get("kind") != "test" or finished)]
        tests = [line for line in kept if line.get("kind") == "test" and line["step"] == step]
        self.stored_test = NLLResult(tests[-1]["nats_per_image"] * tests[-1]["num_images"], tests[-1]["num_images"],
                                     math.prod(self.data.image_shape)) if tests else None
        if self.runtime.is_main and kept != lines:
            atomic_write(self.metrics_path,
                         lambda tmp: tmp.write_text("".join(json.dumps(line) + "\n" for line in kept)))

    def _write_run_config(self) -> None:
        if self.runtime.is_main:
            run_config = {"model": to_dict(self.model.config), "train": to_dict(self.config),
                          "data": to_dict(self.data_config) if self.data_config else None,
                          "world_size": self.runtime.world_size}
            write_run_config(self.run_dir, run_config)
            for tracker in self.trackers:
                tracker.log_config(run_config)

    def _log(self, fields: dict[str, Any]) -> None:
        if self.runtime.is_main:
            line = {"epoch": self.progress["epoch"], "step": self.progress["step"], "time": time.time(), **fields}
            append_json_line(self.metrics_path, line)
            for tracker in self.trackers:
                tracker.log_scalars(line["step"], metric_scalars(line))

    def _plot_curves(self) -> None:
        """Redraw ``loss_curve.png``. A stop signal waits until the picture is drawn (a moment): raised inside the
        plotting library's first import, Python would wrap it into an unrelated RuntimeError and the run would end
        in a traceback instead of stopping."""
        if not self.runtime.is_main:
            return
        with self.signals.deferred():
            self._draw_curves()

    def _draw_curves(self) -> None:
        lines = read_metrics(self.run_dir)
        train = [(line["step"], line["bits_per_dim"]) for line in lines if line["kind"] == "train"]
        valid = [(line["step"], line["bits_per_dim"]) for line in lines if line["kind"] == "valid"]
        config = self.model.config
        layers = f"{config.num_layers} layer{'s' if config.num_layers != 1 else ''}"
        title = (f"{self.run_dir.resolve().name}: {config.name} (h {config.hidden_channels}, {layers}"
                 f"{', conditional' if self.conditional else ''}) on {self.data.name}")
        save_loss_curves(train, valid, self.run_dir / "loss_curve.png", uniform_bits_per_dim(self.data.num_levels),
                         valid_label="validation" if self.valid_split == "valid" else "test (validation)",
                         title=title)

    def _result(self, test: NLLResult | None, interrupted: bool = False, signal_number: int | None = None,
                saved: bool = True, already_ended: bool = False) -> TrainResult:
        return TrainResult(self.run_dir, self.progress["step"], self.progress["epoch"],
                           self.progress["best_valid_bits_per_dim"], test, interrupted, self.valid_split,
                           signal_number, saved, already_ended, self.config.epochs, self.config.max_steps)


def nll_fields(result: NLLResult) -> dict[str, Any]:
    """The fields of a metrics line for an exact NLL: nats/image, bits/dim and the number of images."""
    return {"nats_per_image": result.nats_per_image, "bits_per_dim": result.bits_per_dim,
            "num_images": result.num_images}
