"""Session: the training loop, its events, pause/resume/stop and checkpoints, written to a run folder
(:mod:`engine.runfolder`: the format).

Randomness is a function of (seed, step): the batch indices come from a per-epoch permutation and the augmentations
from a generator seeded per step, so a resumed run retraces an uninterrupted one exactly (on the CPU).
"""
from __future__ import annotations

import importlib
import math
import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from engine import distributed, events
from engine.build import RunConfig, build, build_optimizer
from engine.checkpoint import (
    check_architecture,
    load_checkpoint,
    restore_model,
    restore_training,
    save_checkpoint,
    training_tensors,
)
from engine.config import from_dict, to_dict
from engine.data import Dataset
from engine.data.augment import Augment
from engine.device import autocast_dtype, pick_device
from engine.errors import Cancelled, PeerLost, describe
from engine.eval import collapse
from engine.eval.layers import at_layer
from engine.eval.probe import OnlineProbe
from engine.eval.protocol import EvalSplit, baselines
from engine.methods import METHODS, Method, StepOutput
from engine.methods.base import attention_overlays
from engine.nets import untrained_backbone
from engine.runfolder import MetricsLog, RunFolder, runs_root

MAX_BAD_STEPS = 5  # consecutive non-finite losses before the run stops
STEP_EVENT_INTERVAL = 0.25  # seconds of training between Step events (throttling at the source)
PAUSED_POLL_S = 0.1  # while paused, requested previews are served this often
LOADING_STATUS_INTERVAL_S = 1.0  # a slow dataset load reports its progress this often
PREVIEW_IMAGES = 4  # test images shown in previews and attention overlays


def saved_config(folder: RunFolder, **overrides: Any) -> RunConfig:
    """The config in the folder's ``run.json``, checked field by field (a hand-edited one is refused in one
    sentence naming the field); ``overrides`` replace saved values."""
    saved = folder.read_config()
    try:
        return from_dict(RunConfig, {**saved, **overrides})
    except ValueError as e:
        raise ValueError(f"{folder.run_json} has a setting that cannot be used: {e}") from None


def new_run_dir(config: RunConfig) -> Path:
    """A fresh folder under :func:`runs_root` named by the time, the method and the dataset."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = runs_root() / f"{stamp}-{config.method}-{config.dataset}"
    n = 1
    while run_dir.exists():  # a second run started within the same second (Stop, Start in the window)
        n += 1
        run_dir = runs_root() / f"{stamp}-{config.method}-{config.dataset}-{n}"
    return run_dir


def learning_rate(config: RunConfig, step: int, progress: float | None) -> float:
    """Linear warm-up, then cosine decay over the budget's progress (constant without a budget)."""
    warmup = min(1.0, (step + 1) / config.warmup_steps) if config.warmup_steps else 1.0
    decay = 1.0 if progress is None else 0.5 * (1 + math.cos(math.pi * progress))
    return config.lr * warmup * decay


# each modality's session class (a path: the text and video sessions import this module)
SESSIONS = {"image": f"{__name__}.Session", "text": "engine.text.session.TextSession",
            "video": "engine.video.session.VideoSession"}


def make_session(config: RunConfig, run_dir: Path | None = None, on_event: Callable[[Any], None] | None = None,
                 resume: bool = False) -> Any:
    """The session that trains ``config``: a :class:`Session` for an image method, an
    ``engine.text.session.TextSession`` (the same interface) for a text method, an ``engine.video.session.VideoSession``
    (a Session scoring tracking instead of kNN) for a video method."""
    if METHODS[config.method].modality == "text" and distributed.launched():
        raise ValueError(f"{config.method} trains on text in one process: run it without torchrun")
    module, _, name = SESSIONS[METHODS[config.method].modality].rpartition(".")
    session = getattr(importlib.import_module(module), name)
    return session(config, run_dir, on_event, resume)


def resume_session(run_dir: Path, on_event: Callable[[Any], None] | None = None, **overrides: Any) -> Any:
    """The session that continues the run in ``run_dir`` from its checkpoint (``Session.from_run_dir`` for
    either modality); ``overrides`` change e.g. the budget."""
    return make_session(saved_config(RunFolder(run_dir), **overrides), Path(run_dir), on_event, resume=True)


class LoadingStatus:
    """``progress(fraction)`` of a slow load as Status events ("Loading folder: 40 %, 0:12 left"), at most every
    LOADING_STATUS_INTERVAL_S."""

    def __init__(self, what: str, on_event: Callable[[Any], None]):
        self.what, self.on_event = what, on_event
        self.started = self.shown = time.monotonic()

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        if fraction <= 0 or now - self.shown < LOADING_STATUS_INTERVAL_S:
            return
        self.shown = now
        left = round((now - self.started) * (1 - fraction) / fraction)
        self.on_event(events.Status(f"{self.what}: {fraction:.0%}, {left // 60}:{left % 60:02d} left"))


class PendingSteps:
    """Steps trained since the last Step event: events are throttled, but no step's loss is dropped."""

    def __init__(self, elapsed: float):
        self.clear(elapsed)

    def clear(self, elapsed: float) -> None:
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.logs: dict[str, float] = {}
        self.images = 0
        self.since = elapsed

    def add(self, step: int, loss: float, logs: dict[str, float], images: int) -> None:
        self.steps.append(step)
        self.losses.append(loss)
        self.logs.update(logs)
        self.images += images


class RunControl:
    """What every session shares: its config and run folder, the events callback, and the controls that may be
    called from any thread (``pause``/``resume``/``stop``, ``request_preview``); ``run()`` blocks."""

    def __init__(self, config: RunConfig, run_dir: Path | None = None,
                 on_event: Callable[[Any], None] | None = None, resume: bool = False):
        self.config = config
        self.resume_from_checkpoint = resume
        self.run_dir = Path(run_dir) if run_dir is not None else new_run_dir(config)
        self.folder = RunFolder(self.run_dir)
        self.on_event = on_event or (lambda event: None)
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._preview_requested = threading.Event()
        self.step = 0
        self.elapsed = 0.0  # seconds of training, pauses excluded
        self._bad_steps = 0  # consecutive non-finite steps

    @classmethod
    def from_run_dir(cls, run_dir: Path, on_event: Callable[[Any], None] | None = None, **overrides: Any):
        """Resume the run in ``run_dir`` from its checkpoint; ``overrides`` change e.g. the budget."""
        return cls(saved_config(RunFolder(run_dir), **overrides), Path(run_dir), on_event, resume=True)

    # control, from any thread
    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()

    def request_preview(self) -> None:
        self._preview_requested.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def run(self) -> events.Finished:
        try:
            self._setup()
            finished = self._train()
        except Exception as e:  # the message reaches the user and the run keeps what it learnt
            if isinstance(e, Cancelled) and self._stop.is_set():  # Stop while the dataset loaded: nothing written
                finished = events.Finished(self.step, "stopped")
            else:
                self.on_event(events.Error(describe(e), traceback.format_exc()))
                if not isinstance(e, PeerLost):  # torchrun is stopping this process too: keep the last checkpoint
                    self._save_after_failure()
                finished = events.Finished(self.step, "failed")
        self.on_event(finished)
        return finished

    def _save_after_failure(self) -> None:
        """Checkpoint the weights as they are (skipped steps never touched them) if training had started."""
        if self.metrics is None or self.step == 0:
            return
        try:
            self._checkpoint()
        except Exception as e:  # noqa: BLE001  (the first error is the one to report)
            self.on_event(events.Warning(f"could not write a checkpoint after the failure: {e}"))
        self.metrics.close()

    def _train(self) -> events.Finished:
        """The training loop: steps, throttled Step events, evaluations, previews and checkpoints on their
        schedules, then the final checkpoint and evaluation. Subclasses provide the parts."""
        cfg = self.config
        self.method.train()
        pending = PendingSteps(self.elapsed)
        last_eval = last_ckpt = last_preview = self.elapsed
        if self.evaluable and cfg.eval_every_s > 0:
            self._evaluate()
        self._maybe_preview(force=True)
        try:
            while True:
                while not self._running.wait(PAUSED_POLL_S):  # returns at once unless paused
                    self._maybe_preview(force=False)
                with distributed.peers_answering():  # several processes: rank 0's clock and Stop for all
                    self.elapsed, stop = distributed.rank0_clock(self.elapsed, self._stop_requested())
                if stop:
                    self._stop.set()
                    break
                if (progress := self._progress()) is not None and progress >= 1.0:
                    break
                started = time.perf_counter()
                with distributed.peers_answering():
                    out = self._train_step()
                    self.elapsed += time.perf_counter() - started
                    if out is None:
                        continue
                    loss = distributed.mean(out.loss.detach()).item()  # the global batch's loss
                self.metrics.write({"step": self.step, "loss": loss, "lr": self._lr(), **out.logs})
                pending.add(self.step, loss, out.logs, self._step_amount(out))
                if self.elapsed - pending.since >= STEP_EVENT_INTERVAL:
                    self._emit_steps(pending)
                if cfg.eval_every_s and self.evaluable and self.elapsed - last_eval >= cfg.eval_every_s:
                    self._evaluate()
                    last_eval = self.elapsed
                preview_due = cfg.preview_every_s and self.elapsed - last_preview >= cfg.preview_every_s
                if preview_due:
                    last_preview = self.elapsed
                self._maybe_preview(force=bool(preview_due))
                if cfg.checkpoint_every_s and self.elapsed - last_ckpt >= cfg.checkpoint_every_s:
                    self._save_periodic()
                    last_ckpt = self.elapsed
        finally:  # steps since the last event reach the plots, even when the run fails
            if pending.steps:
                self._emit_steps(pending)
        self._checkpoint()
        reason = "stopped" if self._stop.is_set() else "completed"
        scores = self._final_eval() if cfg.final_eval and self.evaluable and reason == "completed" else {}
        self.metrics.close()
        return events.Finished(self.step, reason, scores)

    def _stop_requested(self) -> bool:
        """Stop, or a stop request in the run folder (rank 0 reads it: a file any process may write)."""
        return self._stop.is_set() or (distributed.is_main() and self.folder.stop_requested())

    def _log_eval(self, event: events.Eval) -> None:
        self.metrics.write({"step": event.step, "eval": event.scores, "baselines": event.baselines,
                            "final": event.final})
        self.metrics.flush()
        self.on_event(event)

    def _checkpoint(self) -> None:
        """The checkpoint, in a run folder written again first if it was deleted mid-run (warned): its settings
        and curves come back from this process, so the run loses nothing. Several processes: rank 0 alone."""
        if not distributed.is_main():
            return
        if (restored := self.folder.restore(self.metrics)) is not None:
            self.metrics = restored
            self.on_event(events.Warning(f"the run folder {self.run_dir} was deleted at step {self.step}: written "
                                         "again with its settings and curves; training goes on"))
        self._save()

    def _save_periodic(self) -> None:
        """A periodic checkpoint that cannot be written (disk full, folder gone read-only) leaves the previous one in
        place and training goes on, warned; the final checkpoint's failure fails the run."""
        try:
            self._checkpoint()
        except OSError as e:
            self.on_event(events.Warning(f"could not write the checkpoint at step {self.step} "
                                         f"({e.strerror or e}): the previous one is kept and training goes on"))



class Session(RunControl):
    """Trains one image run. ``on_event`` is called on the training thread with each event; keep it cheap."""

    modality = "image"  # what it trains on (engine.text.session.TextSession: "text")

    def __init__(self, config: RunConfig, run_dir: Path | None = None,
                 on_event: Callable[[Any], None] | None = None, resume: bool = False):
        super().__init__(config, run_dir, on_event, resume)
        self._attention_extra: torch.Tensor | None = None  # uint8 images the user asked to see attention on
        # set up by _setup(), on the training thread
        self.device = torch.device("cpu")
        self.autocast: torch.dtype | None = None  # mixed-precision dtype, None for float32
        self.dataset: Dataset | None = None  # at the run's resolution
        self.image_size = 0
        self.augment: Augment | None = None
        self.method: Method | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.probe: OnlineProbe | None = None  # None for unlabelled data
        self.eval_split: EvalSplit | None = None  # online kNN's bank and queries, None for unlabelled data
        self.baselines: dict[str, dict[str, float]] = {}  # raw pixels' and a random network's online scores
        self.metrics: MetricsLog | None = None  # metrics.jsonl, open once training is set up
        self._permutation = (-1, torch.empty(0, dtype=torch.long))  # (epoch, its order of the training images)

    def request_attention(self, images: torch.Tensor) -> None:
        """Add uint8 images (B, C, S, S) at the run's size and channels (e.g. a dropped file) to the attention
        overlays, from the next step on (at once while paused). Raises ValueError for other shapes."""
        if self.dataset is None:
            raise ValueError("the run has not loaded its data yet")
        expected = (self.dataset.channels, self.image_size, self.image_size)
        if images.ndim != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(f"images of shape (B, {', '.join(map(str, expected))}) expected, "
                             f"not {tuple(images.shape)}")
        self._attention_extra = images
        self._preview_requested.set()

    def evaluate(self) -> dict[str, float]:
        """Load this run's checkpoint and evaluate it on the full splits (``main.py eval RUN_DIR``); the scores are
        also appended to its metrics as a final eval record. Raises what setting up raises (ValueError,
        CheckpointError, DatasetUnavailable: one sentence each) without emitting Finished: nothing was trained."""
        self._setup()
        try:
            if self.eval_split is None:
                raise ValueError(f"{self.config.dataset} has no labels to evaluate against")
            return self._final_eval()
        finally:
            self.metrics.close()

    def _setup(self) -> None:
        cfg = self.config
        self.device = distributed.rank_device(pick_device(cfg.device))
        distributed.join(self.device)
        if distributed.world_size() > 1:
            distributed.local_batch(cfg.batch_size)  # refuses a batch the processes cannot split evenly
        self.autocast = autocast_dtype(self.device, cfg.precision)
        self.on_event(events.Status(f"Loading {cfg.dataset}"))
        built = build(cfg, device=self.device, progress=LoadingStatus(f"Loading {cfg.dataset}", self.on_event),
                      cancelled=self._stop.is_set)
        if warning := METHODS[cfg.method].data_warning(cfg.dataset, cfg.dataset_options, built.augment.config):
            self.on_event(events.Warning(warning))
        dataset = built.dataset
        for path, reason in dataset.skipped:
            self.on_event(events.Warning(f"skipped {path}: {reason}"))
        self.dataset, self.image_size, self.augment = dataset, built.image_size, built.augment
        self.method = built.method
        torch.manual_seed(cfg.seed)  # what draws from torch's global generator from here on (the probe, ...)
        self.optimizer = build_optimizer(self.method, cfg)
        labelled = dataset.eval_train.labels is not None and dataset.test.labels is not None and dataset.num_classes > 1
        if labelled and dataset.train.labels is not None:  # a single image's crops have none
            self.probe = OnlineProbe(self.method.backbone.out_dim, dataset.num_classes).to(self.device)
        if labelled and distributed.is_main():  # rank 0 alone evaluates
            self.eval_split = EvalSplit.from_dataset(dataset, cfg.eval_bank, cfg.eval_queries, cfg.seed)
        if self.eval_split is not None and cfg.eval_every_s > 0:
            self.on_event(events.Status("Computing baselines (raw pixels, random network)"))
            self.baselines = self._baselines(self.eval_split, probe=False)

        self.method.attach_training_data(dataset, lambda text: self.on_event(events.Status(text)))
        if self.resume_from_checkpoint:
            self._load()
        else:
            self.method.prepare_data(dataset.train)
        self._join_ranks()
        if distributed.is_main():  # rank 0 alone writes the run folder
            self._write_run_json()
            self.metrics = self.folder.open_metrics()
        else:
            self.metrics = MetricsLog(open(os.devnull, "w"))
        self.on_event(events.Started(str(self.run_dir), to_dict(cfg), str(self.device), cfg.steps or None,
                                     dataset.name, len(dataset.train), self.image_size, dataset.channels))

    def _join_ranks(self) -> None:
        """Several processes: every rank starts from rank 0's weights, with BatchNorm statistics synchronised across
        ranks where the device can (CUDA: SyncBatchNorm; on the CPU each rank normalises its own slice)."""
        if distributed.world_size() == 1:
            return
        if self.device.type == "cuda":
            self.method = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.method)
        distributed.broadcast_state(self.method)

    def _baselines(self, split: EvalSplit, probe: bool) -> dict[str, dict[str, float]]:
        cfg = self.config
        key = {"dataset": cfg.dataset, "options": cfg.dataset_options, "size": self.image_size,
               "backbone": cfg.backbone, "bank": len(split.bank), "queries": len(split.queries), "seed": cfg.seed,
               **({"layer": cfg.eval_layer} if cfg.eval_layer else {})}  # the same keys as before at layer 0

        def random_encoder():
            backbone = untrained_backbone(cfg.backbone, self.dataset.channels, self.image_size, cfg.seed + 1)
            return at_layer(backbone, cfg.eval_layer)

        return baselines(split, key, self.augment.prepare, random_encoder, self.device, probe)

    def _write_run_json(self) -> None:
        d = self.dataset
        self.folder.write_info({"config": to_dict(self.config), "dataset": {
            "name": d.name, "train": len(d.train), "test": len(d.test), "classes": d.class_names,
            "image_size": self.image_size, "channels": d.channels}, "device": str(self.device),
            "torch": torch.__version__})

    def _batch_indices(self, step: int) -> torch.Tensor:
        """Indices of batch ``step``: consecutive slices of a fresh permutation per epoch (seed, epoch)."""
        n, b = len(self.dataset.train), self.config.batch_size
        positions = torch.arange(step * b, (step + 1) * b)
        epochs = positions // n
        out = torch.empty(b, dtype=torch.long)
        for epoch in epochs.unique().tolist():
            if self._permutation[0] != epoch:
                seed = self.config.seed * 100003 + epoch
                self._permutation = (epoch, torch.randperm(n, generator=torch.Generator().manual_seed(seed)))
            mask = epochs == epoch
            out[mask] = self._permutation[1][positions[mask] % n]
        return out

    def _progress(self) -> float | None:
        cfg = self.config
        if cfg.steps:
            return min(1.0, self.step / cfg.steps)
        if cfg.minutes:
            return min(1.0, self.elapsed / (cfg.minutes * 60))
        return None

    def _lr(self) -> float:
        return learning_rate(self.config, self.step, self._progress())

    @property
    def evaluable(self) -> bool:
        """Labelled data to evaluate against (online kNN, final scores)."""
        return self.eval_split is not None

    def _step_amount(self, out: StepOutput) -> int:
        return self.config.batch_size

    def _train_step(self) -> StepOutput | None:
        """One optimisation step on batch ``self.step``; None when the loss or gradients were not finite and
        the update was skipped (after MAX_BAD_STEPS in a row the run stops)."""
        cfg = self.config
        seed = (cfg.seed * 1_000_003 + self.step) * distributed.world_size() + distributed.rank()
        rng = torch.Generator(self.device).manual_seed(seed)  # each rank augments its slice its own way
        index = self.method.batch_indices(self.step, distributed.shard(self._batch_indices(self.step)), rng)
        for parameter in self.method.fresh_parameters():  # re-initialised: no momentum from its previous life
            self.optimizer.state.pop(parameter, None)
        images = self.dataset.train.images[index].to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, self.autocast or torch.float32, enabled=self.autocast is not None):
            out = self.method.training_step(images, rng)
        self.optimizer.zero_grad(set_to_none=True)
        finite = distributed.everywhere(bool(torch.isfinite(out.loss)))  # ranks skip a step together
        if finite:
            out.loss.backward()
            distributed.average_gradients(self.method.parameters())
            grads = [p.grad for p in self.method.parameters() if p.grad is not None]
            finite = not grads or bool(torch.isfinite(torch.nn.utils.get_total_norm(grads)))
        if not finite:
            self.optimizer.zero_grad(set_to_none=True)
            self._bad_steps += 1
            self.on_event(events.Warning(f"step {self.step}: loss or gradients are not finite; step skipped"))
            self.step += 1
            if self._bad_steps >= MAX_BAD_STEPS:
                raise FloatingPointError(f"{self._bad_steps} consecutive non-finite steps: lower the learning rate "
                                         "or change the method's settings; the last good checkpoint is kept")
            return None
        self._bad_steps = 0
        for group in self.optimizer.param_groups:
            group["lr"] = self._lr()
        self.optimizer.step()
        self.step += 1
        self.method.after_step(self._progress() or 0.0)
        distributed.broadcast_state(self.method, buffers_only=True)
        if self.probe is not None:
            labels = self.dataset.train.labels[index].to(self.device)
            out.logs["online_probe_acc"] = self.probe.step(out.features.float(), labels)
        return out

    def _emit_steps(self, pending: PendingSteps) -> None:
        rate = pending.images / max(self.elapsed - pending.since, 1e-9)
        epoch = self.step * self.config.batch_size / len(self.dataset.train)
        self.on_event(events.Step(self.step, epoch, tuple(pending.steps), tuple(pending.losses), self._lr(), rate,
                                  self.elapsed, self._eta(rate), pending.logs))
        self.metrics.flush()
        pending.clear(self.elapsed)

    def _eta(self, images_per_s: float) -> float | None:
        cfg = self.config
        if cfg.steps:
            return (cfg.steps - self.step) * cfg.batch_size / max(images_per_s, 1e-9)
        if cfg.minutes:
            return max(0.0, cfg.minutes * 60 - self.elapsed)
        return None

    @property
    def encoder(self) -> torch.nn.Module:
        """The network kNN and linear probes evaluate: the method's encoder read at the run's ``eval_layer``."""
        return at_layer(self.method.encoder, self.config.eval_layer)

    def _evaluate(self) -> None:
        scores = self.eval_split.evaluate(self.encoder, self.augment.prepare, self.device, probe=False)
        health, reason = collapse.monitor(self.method.embedder, self.eval_split.queries.images, self.augment.prepare,
                                          self.augment, self.device, self.config.seed, self.method.centred_embedder)
        self._log_eval(events.Eval(self.step, {**scores, **health, **self._method_scores(False)}, self.baselines))
        if reason and self.step >= self.method.monitor_grace_steps:
            self.on_event(events.Collapsed(self.step, reason))

    def _final_eval(self) -> dict[str, float]:
        self.on_event(events.Status("Final evaluation: kNN and linear probe on the full splits"))
        split = EvalSplit.from_dataset(self.dataset)
        scores = {**split.evaluate(self.encoder, self.augment.prepare, self.device, probe=True),
                  **self._method_scores(True)}
        self._log_eval(events.Eval(self.step, scores, self._baselines(split, probe=True), final=True))
        return scores

    def _method_scores(self, final: bool) -> dict[str, float]:
        """Scores a method computes itself, beside kNN and the probe (CLIP's zero-shot accuracy): its optional
        ``evaluation_scores(dataset, limit, final)`` on the test split (the online evaluation's queries, or all)."""
        scores = getattr(self.method, "evaluation_scores", None)
        return {} if scores is None else scores(self.dataset, 0 if final else self.config.eval_queries, final)

    def _maybe_preview(self, force: bool) -> None:
        """The pretext-task preview and the attention overlays of a few test images, when due or requested."""
        if not (force or self._preview_requested.is_set()) or not distributed.is_main():
            return
        self._preview_requested.clear()
        images = self.dataset.test.images[:PREVIEW_IMAGES].to(self.device)
        tiles = self.method.preview(images, torch.Generator(self.device).manual_seed(self.step))
        self.on_event(events.Preview(self.step, tiles))
        self.on_event(self.attention())

    def attention(self) -> events.Attention:
        """Attention overlays of a few test images and of those given to ``request_attention``. Call it on the
        training thread, or on any thread once the run has ended."""
        return attention_event(self.method, self.dataset, self._attention_extra, self.device, self.step)

    # checkpoints
    def _save(self) -> None:
        if not all(torch.isfinite(p).all() for p in self.method.parameters()):
            self.on_event(events.Warning("weights are not finite: checkpoint not written, the previous one is kept"))
            return
        state = {"step": self.step, "elapsed": self.elapsed, "config": to_dict(self.config),
                 "method": self.config.method, "backbone": self.config.backbone, "image_size": self.image_size,
                 "channels": self.dataset.channels, "mean": self.augment.mean.flatten().tolist(),
                 "std": self.augment.std.flatten().tolist()}
        save_checkpoint(self.folder.checkpoint, training_tensors(self.method, self.optimizer, self.probe), state)
        self.on_event(events.Checkpoint(self.step, str(self.folder.checkpoint)))

    def _load(self) -> None:
        tensors, state = load_checkpoint(self.folder.checkpoint)
        check_architecture(state, self.config.method, self.config.backbone)
        restore_training(tensors, self.method, self.optimizer, self.probe)
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        if distributed.is_main():
            self.folder.truncate(self.step)


def attention_event(method: Method, dataset: Dataset, extra: torch.Tensor | None, device: torch.device,
                   step: int) -> events.Attention:
    """The attention overlays of a few test images and of ``extra`` (images the user dropped) at ``step``."""
    images = dataset.test.images[:PREVIEW_IMAGES].to(device)
    names = ["image"] * len(images)
    if extra is not None:
        images = torch.cat([images, extra.to(device)])
        names += ["dropped"] * len(extra)
    return events.Attention(step, attention_overlays(method, images, names))


@dataclass
class LoadedRun:
    """A saved run ready for inference: its config, data (at the training size), eval transform
    (``augment.prepare``) and trained method in eval mode."""

    run_dir: Path
    config: RunConfig
    dataset: Dataset
    augment: Augment
    method: Method
    device: torch.device
    step: int

    @property
    def encoder(self) -> torch.nn.Module:
        """The network kNN and linear probes evaluate: the method's encoder read at the run's ``eval_layer``."""
        return at_layer(self.method.encoder, self.config.eval_layer)

    def attention(self, extra: torch.Tensor | None = None) -> events.Attention:
        """The attention overlays of a few test images and of ``extra``, as the run's Session shows them."""
        return attention_event(self.method, self.dataset, extra, self.device, self.step)


def load_run(run_dir: Path, device: str = "auto") -> LoadedRun:
    """The run in ``run_dir`` with its checkpoint's weights, for inference. Unlike ``Session.from_run_dir``
    (which resumes training) it writes nothing to the folder. Raises CheckpointError, ValueError or
    DatasetUnavailable with one sentence."""
    folder = RunFolder(run_dir)
    config = saved_config(folder)
    if METHODS[config.method].modality == "text":
        raise ValueError(f"{folder.path.name} is a {config.method} run on text, not images: the Words panel and "
                         "main.py eval explore it")
    tensors, state = load_checkpoint(folder.checkpoint)
    check_architecture(state, config.method, config.backbone)
    chosen = pick_device(device)
    built = build(replace(config, image_size=int(state["image_size"])), device=chosen,
                  stats=(torch.tensor(state["mean"]), torch.tensor(state["std"])))
    restore_model(tensors, built.method)
    return LoadedRun(folder.path, config, built.dataset, built.augment, built.method.eval(), chosen, int(state["step"]))
