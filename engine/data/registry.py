"""Registry of dataset sources: a name, a config dataclass and a loader."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.config import from_dict
from engine.data.base import Dataset


@dataclass(frozen=True)
class DatasetSource:
    name: str
    config: type
    load: Callable[[Any], Dataset]
    description: str
    modality: str = "image"  # what load returns: "image" (a Dataset) or "text" (an engine.text.corpora.Corpus)
    interruptible: bool = False  # load also takes progress(fraction) and cancelled() callbacks (slow sources)


DATASETS: dict[str, DatasetSource] = {}


def register_dataset(name: str, config: type, description: str, modality: str = "image",
                     interruptible: bool = False):
    """Decorator: ``@register_dataset("shapes", ShapesConfig, "...")`` on ``load(config) -> Dataset``; with
    ``interruptible``, on ``load(config, progress, cancelled)``, which reports progress and raises Cancelled."""

    def wrap(load: Callable[..., Dataset]) -> Callable[..., Dataset]:
        DATASETS[name] = DatasetSource(name, config, load, description, modality, interruptible)
        return load

    return wrap


def dataset_sources() -> dict[str, DatasetSource]:
    """All registered sources; the built-in ones register on first use."""
    from engine.data import folder, shapes, shapes_video, single_image, standard  # noqa: F401
    from engine.text import corpora  # noqa: F401  (the text sources: captions, text)

    return DATASETS


def dataset_augment_defaults(name: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Augmentation settings the data calls for (its config's ``augment_defaults()``, if it has one), which a
    method's own augmentation defaults and then the user's settings override."""
    source = dataset_sources().get(name)
    if source is None or not hasattr(source.config, "augment_defaults"):
        return {}
    return from_dict(source.config, options or {}).augment_defaults()


def evaluation_data(name: str, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """The dataset (name, settings) whose test split evaluates runs on ``name``: what its config's
    ``evaluation_data()`` says, if it has one (single_image: its source dataset), else the dataset itself."""
    source = dataset_sources().get(name)
    if source is None or not hasattr(source.config, "evaluation_data"):
        return name, dict(options or {})
    return from_dict(source.config, options or {}).evaluation_data()


def load_dataset(name: str, options: dict[str, Any] | None = None, *,
                 progress: Callable[[float], None] | None = None,
                 cancelled: Callable[[], bool] | None = None) -> Dataset:
    """Load dataset ``name`` with config ``options``; raises DatasetUnavailable with a one-line reason. A slow
    source (a folder of images) reports the fraction loaded to ``progress`` and raises ``engine.errors.Cancelled``
    once ``cancelled()``; the others load in a few seconds at most and ignore both."""
    if name not in dataset_sources():
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    source = DATASETS[name]
    config = from_dict(source.config, options)
    if source.interruptible:
        return source.load(config, progress or (lambda fraction: None), cancelled or (lambda: False))
    return source.load(config)
