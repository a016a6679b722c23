"""Session: the training loop, its events, pause/resume/stop, checkpoints and the run folder.

A run folder holds ``run.json`` (config and dataset facts), ``metrics.jsonl`` (one line per step and per
evaluation) and ``checkpoint.safetensors``. Randomness is a function of (seed, step): the batch indices
come from a per-epoch permutation and the augmentations from a generator seeded per step, so a resumed
run retraces an uninterrupted one exactly (on the CPU).
"""
from __future__ import annotations

import json
import math
import os
import threading
import time
import traceback
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from engine import events
from engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from engine.config import from_dict, param, to_dict
from engine.data import Dataset, DatasetUnavailable, ImageSet, dataset_augment_defaults, load_dataset
from engine.data.augment import Augment, AugmentConfig
from engine.data.images import resize_images
from engine.device import autocast_dtype, pick_device
from engine.eval import collapse
from engine.eval.probe import OnlineProbe
from engine.eval.protocol import EvalSplit, baselines
from engine.methods import METHODS, Method, StepOutput
from engine.methods.base import attention_overlays
from engine.nets import BACKBONES, build_backbone

CHECKPOINT = "checkpoint.safetensors"
MAX_BAD_STEPS = 5  # consecutive non-finite losses before the run stops
STEP_EVENT_INTERVAL = 0.25  # seconds of training between Step events (throttling at the source)
PAUSED_POLL_S = 0.1  # while paused, requested previews are served this often
PREVIEW_IMAGES = 4  # test images shown in previews and attention overlays


def describe(error: Exception) -> str:
    """The sentence a user sees: expected problems speak for themselves, others name their type."""
    if isinstance(error, (DatasetUnavailable, CheckpointError, FloatingPointError)):
        return str(error)
    return f"{type(error).__name__}: {error}"


def runs_root() -> Path:
    return Path(os.environ.get("PRETEXT_RUNS", Path.home() / "pretext-runs"))


@dataclass
class RunConfig:
    dataset: str = param("shapes", "Dataset to train on")
    dataset_options: dict = param({}, "Settings of the dataset source")
    method: str = param("simclr", "Self-supervised method")
    method_options: dict = param({}, "Settings of the method")
    augment: dict = param({}, "Augmentation settings that differ from the method's defaults")
    backbone: str = param("convnet", "Encoder network", choices=tuple(BACKBONES))
    image_size: int = param(0, "Resolution in pixels the images are used at (0: the dataset's own)", low=0, high=512)
    crop_size: int = param(0, "Resolution of the augmented training views (0: the image size); smaller trains "
                              "faster and still tests well at the full size (FixRes)", low=0, high=512)
    batch_size: int = param(256, "Images per step", low=2, high=8192)
    precision: str = param("auto", "Arithmetic of the training step: bf16 mixed precision (auto: where the CPU or "
                           "GPU computes it natively, 1.75x faster on an AMX CPU) or fp32", choices=("auto", "bf16", "fp32"))
    optimizer: str = param("adamw", "Optimiser", choices=("adamw", "sgd"))
    lr: float = param(2e-3, "Peak learning rate (after warm-up, then cosine decay over the budget)", low=0.0, high=10.0)
    weight_decay: float = param(1e-4, "Weight decay (not applied to biases and norms)", low=0.0, high=1.0)
    warmup_steps: int = param(50, "Linear learning-rate warm-up steps", low=0)
    steps: int = param(0, "Step budget (0: use the time budget)", low=0)
    minutes: float = param(3.0, "Time budget in minutes of training (0 with steps 0: until stopped)", low=0.0)
    device: str = param("auto", "auto, cpu, cuda or mps")
    seed: int = param(0, "Seed for initialisation, data order and augmentations")
    eval_every_s: float = param(30.0, "Seconds of training between online kNN evaluations (0: never)", low=0.0)
    eval_bank: int = param(5000, "Online kNN: labelled training images used as neighbours", low=100)
    eval_queries: int = param(1000, "Online kNN: test images classified", low=50)
    checkpoint_every_s: float = param(120.0, "Seconds between checkpoints (one is always written at the end)", low=0.0)
    preview_every_s: float = param(5.0, "Seconds between pretext-task previews and attention maps (0: never)",
                                   low=0.0)
    final_eval: bool = param(True, "Evaluate on the full splits (kNN and linear probe) at the end")

    @classmethod
    def with_method_defaults(cls, values: dict[str, Any]) -> RunConfig:
        """The config for ``values`` with the method's ``train_defaults`` filling the settings ``values`` leaves out
        (user choices win over the method's, which win over the fields' defaults)."""
        method = METHODS.get(values.get("method", cls.method))
        return from_dict(cls, {**(method.train_defaults if method else {}), **values})

    def augment_defaults(self) -> dict[str, Any]:
        """The augmentation before the user's settings: the dataset's, then the method's (paper's) defaults."""
        return {**dataset_augment_defaults(self.dataset, self.dataset_options), **METHODS[self.method].augment_defaults}

    def augment_config(self) -> AugmentConfig:
        return from_dict(AugmentConfig, {**self.augment_defaults(), **self.augment})

    def method_config(self) -> Any:
        return from_dict(METHODS[self.method].Config, self.method_options)


def resize_split(split: ImageSet, size: int) -> ImageSet:
    """The split at ``size`` x ``size`` (antialiased, uint8), computed once before training."""
    if split.images.shape[-2:] == (size, size):
        return split
    images = resize_images(split.images, size)
    masks = None
    if split.masks is not None:
        masks = F.interpolate(split.masks[:, None].float(), size=(size, size), mode="nearest")[:, 0].bool()
    return replace(split, images=images, masks=masks)


def channel_stats(images: torch.Tensor, limit: int = 10000) -> tuple[torch.Tensor, torch.Tensor]:
    x = images[:limit].float().div(255)
    return x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3)).clamp_min(1e-3)


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


class Session:
    """Trains one run. ``run()`` blocks; ``pause``/``resume``/``stop`` may be called from any thread.

    ``on_event`` is called on the training thread with each event; keep it cheap."""

    def __init__(self, config: RunConfig, run_dir: Path | None = None,
                 on_event: Callable[[Any], None] | None = None, resume: bool = False):
        self.config = config
        self.resume_from_checkpoint = resume
        if run_dir is None:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            run_dir = runs_root() / f"{stamp}-{config.method}-{config.dataset}"
            n = 1
            while run_dir.exists():  # a second run started within the same second (Stop, Start in the window)
                n += 1
                run_dir = runs_root() / f"{stamp}-{config.method}-{config.dataset}-{n}"
        self.run_dir = Path(run_dir)
        self.on_event = on_event or (lambda event: None)
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._preview_requested = threading.Event()
        self._attention_extra: torch.Tensor | None = None  # uint8 images the user asked to see attention on
        self.step = 0
        self.elapsed = 0.0  # seconds of training, pauses excluded
        self.method: Method | None = None
        self.dataset: Dataset | None = None
        self.metrics = None  # the open metrics.jsonl once training is set up
        self._bad_steps = 0  # consecutive non-finite steps

    @classmethod
    def from_run_dir(cls, run_dir: Path, on_event: Callable[[Any], None] | None = None,
                     **overrides: Any) -> Session:
        """Resume the run in ``run_dir`` from its checkpoint; ``overrides`` change e.g. the budget."""
        run_dir = Path(run_dir)
        try:
            saved = json.loads((run_dir / "run.json").read_text())["config"]
        except (OSError, ValueError, KeyError) as e:
            raise CheckpointError(f"{run_dir} is not a Pretext run folder ({e})") from None
        return cls(from_dict(RunConfig, {**saved, **overrides}), run_dir, on_event, resume=True)

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

    def request_attention(self, images: torch.Tensor) -> None:
        """Add uint8 images (B, C, S, S) at the run's size and channels (e.g. a dropped file) to the attention
        overlays, from the next step on (at once while paused). Raises ValueError for other shapes."""
        if self.dataset is None:
            raise ValueError("the run has not loaded its data yet")
        expected = (self.dataset.channels, self.image_size, self.image_size)
        if images.ndim != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(f"images of shape (B, {', '.join(map(str, expected))}) expected, not {tuple(images.shape)}")
        self._attention_extra = images
        self._preview_requested.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    # the loop
    def run(self) -> events.Finished:
        try:
            self._setup()
            finished = self._train()
        except Exception as e:  # the message reaches the user and the run keeps what it learnt
            self.on_event(events.Error(describe(e), traceback.format_exc()))
            self._save_after_failure()
            finished = events.Finished(self.step, "failed")
        self.on_event(finished)
        return finished

    def _save_after_failure(self) -> None:
        """Checkpoint the weights as they are (skipped steps never touched them) if training had started."""
        if self.metrics is None or self.step == 0:
            return
        try:
            self._save()
        except Exception as e:  # noqa: BLE001  (the first error is the one to report)
            self.on_event(events.Warning(f"could not write a checkpoint after the failure: {e}"))
        self.metrics.close()

    def evaluate(self) -> events.Finished:
        """Load this run's checkpoint and evaluate it on the full splits (``main.py eval RUN_DIR``)."""
        try:
            self._setup()
            if self.eval_split is None:
                raise ValueError(f"{self.config.dataset} has no labels to evaluate against")
            finished = events.Finished(self.step, "completed", self._final_eval())
            self.metrics.close()
        except Exception as e:
            self.on_event(events.Error(describe(e), traceback.format_exc()))
            finished = events.Finished(self.step, "failed")
        self.on_event(finished)
        return finished

    def _setup(self) -> None:
        cfg = self.config
        self.device = pick_device(cfg.device)
        self.autocast = autocast_dtype(self.device, cfg.precision)
        self.on_event(events.Status(f"Loading {cfg.dataset}"))
        dataset = load_dataset(cfg.dataset, cfg.dataset_options)
        for path, reason in dataset.skipped:
            self.on_event(events.Warning(f"skipped {path}: {reason}"))
        self.image_size = cfg.image_size or dataset.image_size
        dataset.train = resize_split(dataset.train, self.image_size)
        dataset.test = resize_split(dataset.test, self.image_size)
        self.dataset = dataset
        mean, std = channel_stats(dataset.train.images)
        self.augment = Augment(cfg.augment_config(), self.image_size, mean, std, cfg.crop_size or None)

        torch.manual_seed(cfg.seed)
        backbone = build_backbone(cfg.backbone, dataset.channels, self.image_size)
        self.method = METHODS[cfg.method](backbone, cfg.method_config(), self.augment).to(self.device)
        self.method = self.method.to(memory_format=torch.channels_last)
        trained = [p for p in self.method.parameters() if p.requires_grad]  # not EMA teachers / key encoders
        decay = [p for p in trained if p.ndim > 1]
        no_decay = [p for p in trained if p.ndim <= 1]
        groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        if cfg.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9)
        else:
            self.optimizer = torch.optim.AdamW(groups, lr=cfg.lr)

        labelled = dataset.train.labels is not None and dataset.test.labels is not None and dataset.num_classes > 1
        self.probe = OnlineProbe(backbone.out_dim, dataset.num_classes).to(self.device) if labelled else None
        self.eval_split = EvalSplit.from_dataset(dataset, cfg.eval_bank, cfg.eval_queries, cfg.seed) if labelled else None
        self.baselines: dict[str, dict[str, float]] = {}
        if self.eval_split is not None and cfg.eval_every_s > 0:
            self.on_event(events.Status("Computing baselines (raw pixels, random network)"))
            self.baselines = self._baselines(self.eval_split, probe=False)

        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.resume_from_checkpoint:
            self._load()
        else:
            self.method.prepare_data(dataset.train.images)
        self._write_run_json()
        self.metrics = open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8")
        self.on_event(events.Started(str(self.run_dir), to_dict(cfg), str(self.device), cfg.steps or None,
                                     dataset.name, len(dataset.train)))

    def _baselines(self, split: EvalSplit, probe: bool) -> dict[str, dict[str, float]]:
        cfg = self.config
        key = {"dataset": cfg.dataset, "options": cfg.dataset_options, "size": self.image_size,
               "backbone": cfg.backbone, "bank": len(split.bank), "queries": len(split.queries), "seed": cfg.seed}

        def random_encoder():
            torch.manual_seed(cfg.seed + 1)
            return build_backbone(cfg.backbone, self.dataset.channels, self.image_size)

        return baselines(split, key, self.augment.prepare, random_encoder, self.device, probe)

    def _write_run_json(self) -> None:
        d = self.dataset
        info = {"config": to_dict(self.config), "dataset": {"name": d.name, "train": len(d.train), "test": len(d.test),
                "classes": d.class_names, "image_size": self.image_size, "channels": d.channels},
                "device": str(self.device), "torch": torch.__version__}
        tmp = self.run_dir / ".run.json.tmp"
        tmp.write_text(json.dumps(info, indent=2))
        os.replace(tmp, self.run_dir / "run.json")

    def _batch_indices(self, step: int) -> torch.Tensor:
        """Indices of batch ``step``: consecutive slices of a fresh permutation per epoch (seed, epoch)."""
        n, b = len(self.dataset.train), self.config.batch_size
        positions = torch.arange(step * b, (step + 1) * b)
        epochs = positions // n
        out = torch.empty(b, dtype=torch.long)
        for epoch in epochs.unique().tolist():
            if getattr(self, "_perm_epoch", None) != epoch:
                self._perm = torch.randperm(n, generator=torch.Generator().manual_seed(self.config.seed * 100003 + epoch))
                self._perm_epoch = epoch
            mask = epochs == epoch
            out[mask] = self._perm[positions[mask] % n]
        return out

    def _progress(self) -> float | None:
        cfg = self.config
        if cfg.steps:
            return min(1.0, self.step / cfg.steps)
        if cfg.minutes:
            return min(1.0, self.elapsed / (cfg.minutes * 60))
        return None

    def _lr(self) -> float:
        """Linear warm-up, then cosine decay over the budget's progress (constant without a budget)."""
        cfg = self.config
        warmup = min(1.0, (self.step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
        progress = self._progress()
        decay = 1.0 if progress is None else 0.5 * (1 + math.cos(math.pi * progress))
        return cfg.lr * warmup * decay

    def _train(self) -> events.Finished:
        cfg = self.config
        self.method.train()
        pending = PendingSteps(self.elapsed)
        last_eval = last_ckpt = last_preview = self.elapsed
        if self.eval_split is not None and cfg.eval_every_s > 0:
            self._evaluate()
        self._maybe_preview(force=True)
        try:
            while (progress := self._progress()) is None or progress < 1.0:
                while not self._running.wait(PAUSED_POLL_S):  # returns at once unless paused
                    self._maybe_preview(force=False)
                if self._stop.is_set():
                    break
                started = time.perf_counter()
                out = self._train_step()
                self.elapsed += time.perf_counter() - started
                if out is None:
                    continue
                loss = out.loss.item()
                self.metrics.write(json.dumps({"step": self.step, "loss": loss, "lr": self._lr(), **out.logs}) + "\n")
                pending.add(self.step, loss, out.logs, cfg.batch_size)
                if self.elapsed - pending.since >= STEP_EVENT_INTERVAL:
                    self._emit_steps(pending)
                if cfg.eval_every_s and self.eval_split is not None and self.elapsed - last_eval >= cfg.eval_every_s:
                    self._evaluate()
                    last_eval = self.elapsed
                preview_due = cfg.preview_every_s and self.elapsed - last_preview >= cfg.preview_every_s
                if preview_due:
                    last_preview = self.elapsed
                self._maybe_preview(force=bool(preview_due))
                if cfg.checkpoint_every_s and self.elapsed - last_ckpt >= cfg.checkpoint_every_s:
                    self._save()
                    last_ckpt = self.elapsed
        finally:  # steps since the last event reach the plots, even when the run fails
            if pending.steps:
                self._emit_steps(pending)
        self._save()
        reason = "stopped" if self._stop.is_set() else "completed"
        scores = self._final_eval() if cfg.final_eval and self.eval_split is not None and reason == "completed" else {}
        self.metrics.close()
        return events.Finished(self.step, reason, scores)

    def _train_step(self) -> StepOutput | None:
        """One optimisation step on batch ``self.step``; None when the loss or gradients were not finite and
        the update was skipped (after MAX_BAD_STEPS in a row the run stops)."""
        cfg = self.config
        index = self._batch_indices(self.step)
        images = self.dataset.train.images[index].to(self.device, non_blocking=True)
        rng = torch.Generator(self.device).manual_seed(cfg.seed * 1_000_003 + self.step)
        with torch.autocast(self.device.type, self.autocast or torch.float32, enabled=self.autocast is not None):
            out = self.method.training_step(images, rng)
        self.optimizer.zero_grad(set_to_none=True)
        finite = bool(torch.isfinite(out.loss))
        if finite:
            out.loss.backward()
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
        if self.probe is not None:
            out.logs["online_probe_acc"] = self.probe.step(out.features.float(), self.dataset.train.labels[index].to(self.device))
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

    def _evaluate(self) -> None:
        scores = self.eval_split.evaluate(self.method.encoder, self.augment.prepare, self.device, probe=False)
        health, reason = collapse.monitor(self.method.embedder, self.eval_split.queries.images, self.augment.prepare,
                                          self.augment, self.device, self.config.seed, self.method.centred_embedder)
        self._log_eval(events.Eval(self.step, {**scores, **health}, self.baselines))
        if reason and self.step >= self.method.monitor_grace_steps:
            self.on_event(events.Warning(f"step {self.step}: the representation has collapsed ({reason})"))

    def _final_eval(self) -> dict[str, float]:
        self.on_event(events.Status("Final evaluation: kNN and linear probe on the full splits"))
        split = EvalSplit.from_dataset(self.dataset)
        scores = split.evaluate(self.method.encoder, self.augment.prepare, self.device, probe=True)
        self._log_eval(events.Eval(self.step, scores, self._baselines(split, probe=True), final=True))
        return scores

    def _log_eval(self, event: events.Eval) -> None:
        self.metrics.write(json.dumps({"step": event.step, "eval": event.scores, "baselines": event.baselines,
                                       "final": event.final}) + "\n")
        self.metrics.flush()
        self.on_event(event)

    def _maybe_preview(self, force: bool) -> None:
        """The pretext-task preview and the attention overlays of a few test images, when due or requested."""
        if not (force or self._preview_requested.is_set()):
            return
        self._preview_requested.clear()
        images = self.dataset.test.images[:PREVIEW_IMAGES].to(self.device)
        p = self.method.preview(images, torch.Generator(self.device).manual_seed(self.step))
        self.on_event(events.Preview(self.step, p.title, tuple(map(tuple, p.rows)), tuple(map(tuple, p.captions))))
        self.on_event(self.attention())

    def attention(self) -> events.Attention:
        """Attention overlays of a few test images and of those given to ``request_attention``. Call it on the
        training thread, or on any thread once the run has ended."""
        images = self.dataset.test.images[:PREVIEW_IMAGES].to(self.device)
        names = ["image"] * len(images)
        extra = self._attention_extra
        if extra is not None:
            images = torch.cat([images, extra.to(self.device)])
            names += ["dropped"] * len(extra)
        overlays = attention_overlays(self.method, images, names)
        return events.Attention(self.step, overlays.title, tuple(map(tuple, overlays.rows)),
                                tuple(map(tuple, overlays.captions)))

    # checkpoints
    def _state_tensors(self) -> dict[str, torch.Tensor]:
        tensors = {f"model.{k}": v for k, v in self.method.state_dict().items()}
        if self.probe is not None:
            tensors.update({f"probe.{k}": v for k, v in self.probe.state_dict().items()})
        for name, opt in (("optim", self.optimizer), ("probe_optim", self.probe.optimizer if self.probe else None)):
            if opt is None:
                continue
            for pid, state in opt.state_dict()["state"].items():
                tensors.update({f"{name}.{pid}.{k}": torch.as_tensor(v) for k, v in state.items()})
        tensors["rng.torch"] = torch.get_rng_state()
        return tensors

    def _save(self) -> None:
        if not all(torch.isfinite(p).all() for p in self.method.parameters()):
            self.on_event(events.Warning("weights are not finite: checkpoint not written, the previous one is kept"))
            return
        state = {"step": self.step, "elapsed": self.elapsed, "config": to_dict(self.config),
                 "method": self.config.method, "backbone": self.config.backbone, "image_size": self.image_size,
                 "channels": self.dataset.channels, "mean": self.augment.mean.flatten().tolist(),
                 "std": self.augment.std.flatten().tolist()}
        path = self.run_dir / CHECKPOINT
        save_checkpoint(path, self._state_tensors(), state)
        self.on_event(events.Checkpoint(self.step, str(path)))

    def _load(self) -> None:
        tensors, state = load_checkpoint(self.run_dir / CHECKPOINT)
        if state.get("method") != self.config.method or state.get("backbone") != self.config.backbone:
            raise CheckpointError(f"the checkpoint is of {state.get('method')}/{state.get('backbone')}, "
                                  f"not {self.config.method}/{self.config.backbone}")
        model = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        try:
            self.method.load_state_dict(model)
            if self.probe is not None:
                self.probe.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("probe.")})
        except RuntimeError as e:
            raise CheckpointError(f"the checkpoint does not fit this model: {str(e).splitlines()[0]}") from None
        for name, opt in (("optim", self.optimizer), ("probe_optim", self.probe.optimizer if self.probe else None)):
            if opt is None:
                continue
            saved = opt.state_dict()
            for key, value in tensors.items():
                if key.startswith(name + "."):
                    _, pid, field = key.split(".", 2)
                    saved["state"].setdefault(int(pid), {})[field] = value
            opt.load_state_dict(saved)
        torch.set_rng_state(tensors["rng.torch"])
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        self._truncate_metrics(self.step)

    def _truncate_metrics(self, step: int) -> None:
        """Drop metric lines written after the checkpoint, so a resumed run's curves don't repeat steps."""
        path = self.run_dir / "metrics.jsonl"
        if not path.exists():
            return
        kept = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                if json.loads(line)["step"] <= step:
                    kept.append(line)
            except (ValueError, KeyError):
                continue  # a line cut short by a crash
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        os.replace(tmp, path)


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
        """The network kNN and linear probes evaluate."""
        return self.method.encoder


def load_run(run_dir: Path, device: str = "auto") -> LoadedRun:
    """The run in ``run_dir`` with its checkpoint's weights, for inference. Unlike ``Session.from_run_dir``
    (which resumes training) it writes nothing to the folder. Raises CheckpointError or DatasetUnavailable."""
    run_dir = Path(run_dir)
    config = Session.from_run_dir(run_dir).config
    tensors, state = load_checkpoint(run_dir / CHECKPOINT)
    size = int(state["image_size"])
    dataset = load_dataset(config.dataset, config.dataset_options)
    dataset.train, dataset.test = resize_split(dataset.train, size), resize_split(dataset.test, size)
    augment = Augment(config.augment_config(), size, torch.tensor(state["mean"]), torch.tensor(state["std"]),
                      config.crop_size or None)
    method = METHODS[config.method](build_backbone(config.backbone, int(state["channels"]), size),
                                    config.method_config(), augment)
    try:
        method.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    except RuntimeError as e:
        raise CheckpointError(f"the checkpoint does not fit this model: {str(e).splitlines()[0]}") from None
    chosen = pick_device(device)
    method = method.to(chosen).to(memory_format=torch.channels_last).eval()
    return LoadedRun(run_dir, config, dataset, augment, method, chosen, int(state["step"]))
