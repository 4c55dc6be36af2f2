"""The training loop: one code path for one CPU, one GPU and many processes under torchrun.

Each epoch trains on the training split, then evaluates the exact validation bits/dim (on the test split when
the data set has no validation images, ``valid_fraction`` 0: see :attr:`Trainer.valid_split`), appends to
``metrics.jsonl``, redraws ``loss_curve.png``, writes a sample grid every ``sample_every`` epochs, and saves
``last.pt`` (and ``best.pt`` when validation improved), then logs the epoch's console line
(:mod:`pixelrnn.training.console`, which also reports progress inside the epoch). A new run of a weight-normalised
model starts with its data-dependent initialisation (:meth:`Trainer.initialize_from_data`). The checkpoint holds
the optimizer, scheduler, RNG state and the position inside the epoch, so ``resume=True`` continues exactly where
a run stopped; Ctrl-C saves ``last.pt`` before returning. With ``log`` set, the same metrics, sample grids and run
config also go to TensorBoard and/or wandb (:mod:`pixelrnn.training.tracking`), closed at the end of ``fit`` however it
ends.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import time
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from pixelrnn.checkpoint import load_checkpoint
from pixelrnn.config import DataConfig, TrainConfig
from pixelrnn.data import ImageDataset, ImageSplit, iterate_batches
from pixelrnn.likelihood import NLLResult, evaluate_nll, nats_to_bits_per_dim
from pixelrnn.plots import save_image_grid
from pixelrnn.run_folder import METRICS_FILE
from pixelrnn.runtime import Runtime, autocast, broadcast_tensors
from pixelrnn.sampling import draw
from pixelrnn.training.console import EpochProgress, EpochReport, EpochStats, epoch_line
from pixelrnn.training.optim import WeightAverage, build_optimizer, build_scheduler, is_per_step
from pixelrnn.training.records import RunRecords, TrainResult, nll_fields
from pixelrnn.training.stopping import (
    CheckpointCadence,
    StopRequested,
    StopSignals,
    agree,
    check_finite_loss,
)
from pixelrnn.training.tracking import Tracker, close_trackers, make_trackers, require_packages

logger = logging.getLogger("pixelrnn")


class Trainer(RunRecords):
    """Trains an autoregressive image model on an :class:`ImageDataset`.

    Args:
        model: the (unwrapped) model, already built for the data set's image shape and levels.
        data: the data set; its ``train``, ``valid`` and ``test`` splits are used.
        config: optimisation settings.
        run_dir: folder of the run's checkpoints, metrics and pictures.
        runtime: device and process group (see :func:`pixelrnn.runtime.setup_runtime`).
        data_config: stored in the checkpoint so that ``eval`` finds the same data again.
    """

    def __init__(self, model: torch.nn.Module, data: ImageDataset, config: TrainConfig, run_dir: str | Path,
                 runtime: Runtime, data_config: DataConfig | None = None) -> None:
        config.validate()
        require_packages(config.log)  # every process: a missing package stops them all, before any work
        self.model, self.data, self.config, self.runtime = model.to(runtime.device), data, config, runtime
        self.run_dir = Path(run_dir)
        self.data_config = data_config
        self.conditional = model.config.num_classes > 0
        self.network = DistributedDataParallel(self.model) if runtime.distributed else self.model
        if config.channels_last:
            self.model.to(memory_format=torch.channels_last)  # 4-d weights only; the convolutions follow them
        if config.compile:
            self.network = self.model.compiled(self.network)  # the checkpoint still saves the plain self.model
        self.optimizer = build_optimizer(self.model.parameters(), config)
        self.average = WeightAverage(self.model, config.ema_decay) if config.ema_decay > 0 else None
        per_rank = -(-len(data.train) // runtime.world_size)  # DistributedSampler pads to ceil(N / W)
        self.steps_per_epoch = -(-per_rank // config.batch_size)
        planned = config.epochs * self.steps_per_epoch
        self.total_steps = min(planned, config.max_steps) if config.max_steps else planned
        self.scheduler = build_scheduler(self.optimizer, config, self.total_steps)
        self.progress: dict[str, Any] = {"epoch": 0, "step": 0, "batch_in_epoch": 0, "best_valid_bits_per_dim": None,
                                         "end_pending": None,  # "epoch" / "max_steps": validation still to do
                                         "elapsed_seconds": 0.0}  # wall time of the run's earlier sessions
        self.signals = StopSignals()
        self.cadence = CheckpointCadence(config.checkpoint_every, config.checkpoint_minutes)
        self.saved_step: int | None = None  # the step of the last last.pt written
        self.metrics_path = self.run_dir / METRICS_FILE
        self.trackers: list[Tracker] = []  # opened by fit, on the main process only
        self.epoch_stats = EpochStats()  # the training steps of the epoch being closed, for its console line
        self.last_validation: tuple[int, NLLResult] | None = None  # (step, result) of the last epoch's close
        self.stored_test: NLLResult | None = None  # a resumed run that had ended: its logged test NLL
        self._session_started = time.perf_counter()

    # ----------------------------------------------------------------------------------------- the loop
    def fit(self, resume: bool = False) -> TrainResult:
        """Train until ``epochs`` or ``max_steps``, then evaluate the test split exactly.

        SIGINT (Ctrl-C) and SIGTERM stop the run at the next step boundary and save ``last.pt`` there
        (:mod:`pixelrnn.training.stopping`); a non-finite loss or weight stops it with :class:`TrainingDiverged`,
        saving nothing. The trackers named in ``config.log`` are opened first (main process) and closed however
        ``fit`` ends.
        """
        self._start(resume)
        try:
            if self.stored_test is not None:  # resumed with nothing left to do: its test NLL is the one logged
                return self._result(test=self.stored_test, already_ended=True)
            with self.signals:
                if self.progress["end_pending"]:  # stopped while closing an epoch: close it now
                    self._end_epoch()
                while self.progress["step"] < self.total_steps:
                    self._train_epoch()
                    if self.progress["end_pending"]:
                        self._stop_if_asked()
                        self._end_epoch()
                    self._stop_if_asked()
                test = self._final_test()
                self._log({"kind": "test", **nll_fields(test)})
                if self.runtime.is_main and self.data.partial_test_note(test.num_images):
                    logger.warning(self.data.partial_test_note(test.num_images))
                self._plot_curves()
                return self._result(test=test)
        except KeyboardInterrupt as stop:
            at_boundary = getattr(stop, "at_boundary", True)
            if at_boundary:
                self.save("last.pt")
            return self._result(test=None, interrupted=True, signal_number=getattr(stop, "signal_number", 2),
                                saved=at_boundary)
        finally:  # also after a stop or an error: the trackers flush what they hold
            close_trackers(self.trackers)
            self.trackers = []

    def _start(self, resume: bool) -> None:
        """Restore ``last.pt``, or start the run folder (and a weight-normalised model's data-dependent init);
        open the trackers and write the run's ``config.json``."""
        if resume:
            self.restore(load_checkpoint(self.run_dir / "last.pt", map_location=self.runtime.device))
        else:
            if self.runtime.is_main:
                self.run_dir.mkdir(parents=True, exist_ok=True)
                self.metrics_path.write_text("")
            if self.model.config.weight_norm:
                self.initialize_from_data()
        if self.runtime.is_main:
            if self.valid_split == "test":
                logger.info("no validation images (valid_fraction 0): validating on the test split; best.pt "
                            "has the lowest test bits/dim")
            self.trackers = make_trackers(self.config.log, self.run_dir, self.progress["step"] if resume else None,
                                          self.config.wandb_project, self.config.wandb_mode)
        self._write_run_config()

    def initialize_from_data(self) -> None:
        """Data-dependent initialisation of a weight-normalised model (``ModelConfig.weight_norm``), new runs only.

        The init batch is the first ``init_batch_size`` images (the reference's ``train.py`` uses 100) of epoch 0's
        shuffled training order for one process, seeded with ``config.seed`` (a single-process run also trains on
        them first): the same batch on every rank. The directions v and dropout are seeded with ``config.seed``
        too. Rank 0's result is then broadcast, so that every replica starts from the same
        weights, and the moving average starts from them.
        """
        images, labels = next(iterate_batches(self.data.train, self.config.init_batch_size, shuffle=True,
                                              seed=self.config.seed))
        device = self.runtime.device
        self.model.initialize_from_data(images.to(device), labels.to(device) if self.conditional else None,
                                        seed=self.config.seed)
        broadcast_tensors(self.model.state_dict().values(), self.runtime)
        if self.average is not None:
            self.average.module.load_state_dict(self.model.state_dict())

    def _train_epoch(self) -> None:
        epoch, skip = self.progress["epoch"], self.progress["batch_in_epoch"]
        batches = iterate_batches(
            self.data.training_split(epoch), self.config.batch_size, shuffle=True, seed=self.config.seed, epoch=epoch,
            rank=self.runtime.rank, world_size=self.runtime.world_size, skip_batches=skip,
            hflip=bool(self.data_config and self.data_config.hflip),
        )
        bar = EpochProgress(epoch + 1, self.config.epochs, self.steps_per_epoch, initial=skip,
                            enabled=self.runtime.is_main, world_size=self.runtime.world_size)
        self.epoch_stats = bar.stats
        with bar:  # a terminal's bar is cleared however the epoch ends; a log file gets a line every 30 s
            for images, labels in batches:
                with self.signals.deferred():  # the step and its record, whole: a signal waits for the boundary
                    nats = self._train_step(images.to(self.runtime.device), labels.to(self.runtime.device))
                    bar.update(nats, nats_to_bits_per_dim(nats, images[0].numel()), images.shape[0])
                    self._advance(nats, images[0].numel(), bar.images_per_second)
                if self.progress["step"] >= self.total_steps or self.progress["end_pending"]:
                    break
                self._step_boundary()

    def _advance(self, nats: float, dims: int, images_per_second: float) -> None:
        """Count a finished step (closing the epoch after its last batch, or at ``max_steps``), log it."""
        check_finite_loss(nats, self.progress["step"] + 1, self.saved_step)
        self.progress["step"] += 1
        self.progress["batch_in_epoch"] += 1
        if self.progress["step"] % self.config.log_every == 0:
            self._log({"kind": "train", "nats_per_image": nats, "bits_per_dim": nats_to_bits_per_dim(nats, dims),
                       "lr": self.optimizer.param_groups[0]["lr"], "images_per_second": images_per_second})
        if self.progress["batch_in_epoch"] >= self.steps_per_epoch:
            self.progress.update(epoch=self.progress["epoch"] + 1, batch_in_epoch=0, end_pending="epoch")
        elif self.progress["step"] >= self.total_steps:  # stopped inside an epoch by max_steps
            self.progress["end_pending"] = "max_steps"

    def _step_boundary(self) -> None:
        """Between two steps: stop on a recorded signal, save ``last.pt`` when the cadence says so (every process
        agrees on both)."""
        stop, save = agree(self.runtime, self.signals.pending is not None,
                           self.cadence.due(self.progress["step"]))
        if stop:
            raise StopRequested(self.signals.pending or signal.SIGTERM)
        if save:
            self.save("last.pt")

    def _stop_if_asked(self) -> None:
        """Stop here if a signal was recorded (on any process)."""
        if agree(self.runtime, self.signals.pending is not None)[0]:
            raise StopRequested(self.signals.pending or signal.SIGTERM)

    def _train_step(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        """One optimizer step over a batch split into ``grad_accum`` micro-batches; returns its mean nats/image."""
        self.optimizer.zero_grad(set_to_none=True)
        batch_size, dims = images.shape[0], images[0].numel()
        micro_batches = list(zip(images.chunk(self.config.grad_accum), labels.chunk(self.config.grad_accum),
                                 strict=True))
        total_nats = torch.zeros((), dtype=torch.float64, device=images.device)
        for index, (micro_images, micro_labels) in enumerate(micro_batches):
            last = index == len(micro_batches) - 1
            sync = contextlib.nullcontext() if last or not self.runtime.distributed else self.network.no_sync()
            with sync:
                with autocast(self.runtime.device, self.config.precision):
                    params = self.network(micro_images, micro_labels if self.conditional else None)
                nats = -self.model.head.log_prob(params, micro_images)  # (b,) nats per image, float64 sums
                (nats.sum() / (batch_size * dims)).backward()  # mean nats per dimension over the whole batch
            total_nats += nats.detach().sum()
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        if self.average is not None:
            self.average.update(self.model)
        if is_per_step(self.scheduler):
            self.scheduler.step()
        return total_nats.item() / batch_size

    def _end_epoch(self) -> None:
        """Validate (and at a full epoch's end draw the sample grid), then record the epoch whole: the
        ``valid`` line, ``best.pt``, the plateau schedule's step and ``last.pt``. A stop during validation or
        sampling saves the run with the epoch's close still pending, and the resumed run closes it again."""
        full_epoch = self.progress["end_pending"] == "epoch"
        split = self.valid_split
        result = self._evaluate(getattr(self.data, split))
        self.last_validation = (self.progress["step"], result)
        epoch = self.progress["epoch"]
        if full_epoch and self.config.sample_every and epoch % self.config.sample_every == 0 and self.runtime.is_main:
            self.write_samples(self.run_dir / "samples" / f"epoch_{epoch:03d}.png", seed=self.config.seed + epoch)
        with self.signals.deferred():
            improved = self._record_validation(split, result)
            if full_epoch and self.scheduler is not None and not is_per_step(self.scheduler):
                self.scheduler.step(result.bits_per_dim)
            self.progress["end_pending"] = None
            self.save("last.pt")
        self._plot_curves()
        if self.runtime.is_main:
            logger.info(epoch_line(self._epoch_report(result, full_epoch, improved)))
        self.epoch_stats = EpochStats()

    def _epoch_report(self, result: NLLResult, full_epoch: bool, improved: bool) -> EpochReport:
        """The console's account of the epoch just validated (see :mod:`pixelrnn.training.console`)."""
        dims, stats = result.dims_per_image, self.epoch_stats
        best_nats = self.progress["best_valid_bits_per_dim"] * dims * math.log(2.0)
        return EpochReport(
            epoch=self.progress["epoch"] + (0 if full_epoch else 1), epochs=self.config.epochs, partial=not full_epoch,
            train_nats=stats.nats_per_image, valid_nats=result.nats_per_image, best_nats=best_nats,
            improved=improved, split=self.valid_split, dims=dims, binary=self.data.num_levels == 2,
            images_per_second=stats.images * self.runtime.world_size / stats.seconds if stats.seconds else 0.0,
            elapsed=self.elapsed_seconds, saved=("last.pt", "best.pt") if improved else ("last.pt",))

    # ------------------------------------------------------------------------------------- evaluation
    def _evaluate(self, split: ImageSplit) -> NLLResult:
        batches = iterate_batches(split, self.config.eval_batch_size, shuffle=False,
                                  rank=self.runtime.rank, world_size=self.runtime.world_size)
        return evaluate_nll(self.evaluated_model, batches, self.runtime, conditional=self.conditional)

    def _final_test(self) -> NLLResult:
        """The exact NLL of the test split at the end of training. Where the last epoch's close has just validated
        these same weights on the test split (``valid_fraction`` 0), that result (the same numbers) is the test
        result, and the pass over the test images is not run a second time."""
        if self.valid_split == "test" and self.last_validation is not None:
            step, result = self.last_validation
            if step == self.progress["step"]:
                return result
        return self._evaluate(self.data.test)

    @property
    def evaluated_model(self) -> torch.nn.Module:
        """The weights that are evaluated and sampled: the moving average when ``ema_decay`` > 0."""
        return self.model if self.average is None else self.average.module

    @property
    def valid_split(self) -> str:
        """The split validated on after every epoch: ``valid``, or ``test`` when the data set has no validation
        images (``valid_fraction`` 0 trains on every training image; best.pt is then chosen by test NLL, which
        is what papers report)."""
        return "valid" if len(self.data.valid) else "test"

    def _record_validation(self, split: str, result: NLLResult) -> bool:
        """Log the exact bits/dim on :attr:`valid_split` as a ``valid`` line naming its ``split``; save ``best.pt``
        when it improved, and say whether it did."""
        self._log({"kind": "valid", "split": split, **nll_fields(result)})
        best = self.progress["best_valid_bits_per_dim"]
        if best is None or result.bits_per_dim < best:
            self.progress["best_valid_bits_per_dim"] = result.bits_per_dim
            self.save("best.pt")
            return True
        return False

    @property
    def elapsed_seconds(self) -> float:
        """Wall time of the run so far in seconds: its earlier sessions (stored in the checkpoint) and this one."""
        return self.progress["elapsed_seconds"] + time.perf_counter() - self._session_started

    def write_samples(self, path: Path, seed: int) -> Path:
        """Draw ``num_samples`` images (cycling through the classes when conditional) into a PNG grid."""
        images = draw(self.evaluated_model, self.config.num_samples, seed=seed)  # labels 0, 1, … when conditional
        path = save_image_grid(images, self.data.num_levels, path)
        for tracker in self.trackers:
            tracker.log_image(self.progress["step"], "samples", path)
        return path
