"""Dataset sources (registry), the procedural shapes world and batched augmentations."""
from engine.data.base import Dataset, ImageSet
from engine.data.registry import dataset_augment_defaults, dataset_sources, load_dataset
from engine.errors import DatasetUnavailable

__all__ = ["Dataset", "DatasetUnavailable", "ImageSet", "dataset_augment_defaults", "dataset_sources", "load_dataset"]
