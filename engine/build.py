"""The run's settings (:class:`RunConfig`) and the one build step that turns them into the data at the run's
resolution, its augmentation, the method and its optimiser: used by training (``Session``), inference
(``load_run``) and the window's preview before training, so the three can never differ."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch

# torch.optim imports torch._dynamo (870 modules, 0.8 s holding the GIL) when the first optimiser is built: imported
# here, it loads with the engine, before the window says Ready, instead of stalling the window at Start.
import torch._dynamo  # noqa: F401
import torch.nn.functional as F

from engine.config import from_dict, param
from engine.data import Dataset, ImageSet, dataset_augment_defaults, dataset_sources, load_dataset
from engine.data.augment import Augment, AugmentConfig
from engine.data.images import resize_images
from engine.eval.layers import at_layer
from engine.methods import METHODS, Method
from engine.nets import BACKBONES, build_backbone


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
                           "GPU computes it natively) or fp32", choices=("auto", "bf16", "fp32"))
    optimizer: str = param("adamw", "Optimiser", choices=("adamw", "sgd"))
    lr: float = param(2e-3, "Peak learning rate (after warm-up, then cosine decay over the budget)", low=0.0, high=10.0)
    weight_decay: float = param(1e-4, "Weight decay (not applied to biases and norms)", low=0.0, high=1.0)
    warmup_steps: int = param(50, "Linear learning-rate warm-up steps", low=0, high=1_000_000)
    steps: int = param(0, "Step budget (0: use the time budget)", low=0, high=100_000_000)
    minutes: float = param(3.0, "Time budget in minutes of training (0 with steps 0: until stopped)", low=0.0,
                           high=1_000_000.0)
    device: str = param("auto", "auto, cpu, cuda or mps")
    seed: int = param(0, "Seed for initialisation, data order and augmentations", low=0, high=2**31 - 1)
    eval_every_s: float = param(30.0, "Seconds of training between online kNN evaluations (0: never)", low=0.0)
    eval_bank: int = param(5000, "Online kNN: labelled training images used as neighbours", low=100, high=10_000_000)
    eval_queries: int = param(1000, "Online kNN: test images classified", low=50, high=10_000_000)
    eval_layer: int = param(0, "Backbone stage kNN, the probe and the explorer read: 0 the last, -1 the one before "
                            "(mid-level features suit pretext tasks), ...", low=-11, high=0)
    checkpoint_every_s: float = param(120.0, "Seconds between checkpoints (one is always written at the end)", low=0.0)
    preview_every_s: float = param(5.0, "Seconds between pretext-task previews and attention maps (0: never)",
                                   low=0.0)
    final_eval: bool = param(True, "Evaluate on the full splits (kNN and linear probe) at the end")

    def __post_init__(self) -> None:
        """Names that must exist and nested settings that must parse: a hand-edited ``run.json`` or preset is
        refused here, in one sentence, before anything starts."""
        for kind, name, known in (("method", self.method, METHODS), ("dataset", self.dataset, dataset_sources())):
            if name not in known:
                raise ValueError(f"unknown {kind} {name!r}; known: {', '.join(sorted(known))}")
        trains_on, data = METHODS[self.method].modality, dataset_sources()[self.dataset].modality
        if trains_on != data:
            fitting = sorted(name for name, source in dataset_sources().items() if source.modality == trains_on)
            raise ValueError(f"{self.method} trains on {trains_on} and {self.dataset} is {data}: choose the "
                             f"dataset {' or '.join(fitting)}")
        for name in ("dataset_options", "method_options", "augment"):
            if not isinstance(getattr(self, name), dict):
                raise ValueError(f"{name} must be a set of NAME: VALUE settings, not {getattr(self, name)!r}")
        from_dict(dataset_sources()[self.dataset].config, self.dataset_options)
        self.method_config()
        self.augment_config()

    @classmethod
    def with_method_defaults(cls, values: dict[str, Any]) -> RunConfig:
        """The config for ``values`` with the method's ``train_defaults_for`` its data filling the settings ``values``
        leaves out, and its ``dataset_defaults`` the dataset options (user choices win over the method's, which win
        over the fields' defaults)."""
        method = METHODS.get(values.get("method", cls.method))
        if method is None:
            return from_dict(cls, values)
        dataset = values.get("dataset", method.train_defaults.get("dataset", cls.dataset))
        options = values.get("dataset_options", {})
        if isinstance(options, dict):  # anything else is refused by the config, in a sentence
            options = {**method.dataset_defaults(dataset), **options}
        trained = method.train_defaults_for(dataset, options if isinstance(options, dict) else {})
        return from_dict(cls, {**trained, **values, "dataset_options": options})

    def augment_defaults(self) -> dict[str, Any]:
        """The augmentation before the user's settings: the dataset's, then the method's (paper's) defaults."""
        return {**dataset_augment_defaults(self.dataset, self.dataset_options), **METHODS[self.method].augment_defaults}

    def augment_config(self) -> AugmentConfig:
        return from_dict(AugmentConfig, {**self.augment_defaults(), **self.augment})

    def method_config(self) -> Any:
        return from_dict(METHODS[self.method].Config, self.method_options)


def resize_split(split: ImageSet, size: int) -> ImageSet:
    """The split at ``size`` x ``size`` (antialiased, uint8)."""
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


@dataclass
class Built:
    """What a run is made of, before any training."""

    dataset: Dataset  # both splits at ``image_size``
    image_size: int
    augment: Augment
    method: Method | None  # None when built without one (the augmentation preview)


def build(config: RunConfig, dataset: Dataset | None = None, *, with_method: bool = True,
          stats: tuple[torch.Tensor, torch.Tensor] | None = None, device: torch.device | None = None,
          progress: Callable[[float], None] | None = None, cancelled: Callable[[], bool] | None = None) -> Built:
    """The run ``config`` describes: its dataset (``dataset``, or loaded, reporting to ``progress`` and stopped by
    ``cancelled`` as ``load_dataset`` is) resized to the run's resolution, the
    augmentation normalised by the training split's channel statistics (``Dataset.eval_train``: a single image's
    source dataset; or a checkpoint's ``stats``) and, unless
    ``with_method`` is False, the method on a backbone initialised from the config's seed, on ``device`` (CPU by
    default) in channels-last layout. Raises ValueError or DatasetUnavailable with one sentence."""
    dataset = dataset or load_dataset(config.dataset, config.dataset_options, progress=progress, cancelled=cancelled)
    size = config.image_size or dataset.image_size
    reference = None if dataset.reference is None else resize_split(dataset.reference, size)
    dataset = replace(dataset, train=resize_split(dataset.train, size), test=resize_split(dataset.test, size),
                      reference=reference)
    mean, std = stats or channel_stats(dataset.eval_train.images)
    augment = Augment(config.augment_config(), size, mean, std, config.crop_size or None)
    method = None
    if with_method:
        with torch.random.fork_rng(devices=[]):  # the same weights for the same seed, whatever runs beside
            torch.manual_seed(config.seed)
            backbone = build_backbone(config.backbone, dataset.channels, size)
            method = METHODS[config.method](backbone, config.method_config(), augment)
        method = method.to(device or torch.device("cpu")).to(memory_format=torch.channels_last)
        at_layer(method.encoder, config.eval_layer)  # refuses a layer the backbone does not have, before training
    return Built(dataset, size, augment, method)


def build_optimizer(method: Method, config: RunConfig) -> torch.optim.Optimizer:
    """AdamW or SGD with momentum over the trained parameters (not EMA teachers or key encoders), with weight decay
    on weights only (not on biases and norms)."""
    trained = [p for p in method.parameters() if p.requires_grad]
    groups = [{"params": [p for p in trained if p.ndim > 1], "weight_decay": config.weight_decay},
              {"params": [p for p in trained if p.ndim <= 1], "weight_decay": 0.0}]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=0.9)
    return torch.optim.AdamW(groups, lr=config.lr)
