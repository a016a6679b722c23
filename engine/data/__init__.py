"""Dataset sources (registry), the procedural shapes world and batched augmentations."""
from engine.data.base import Dataset, DatasetUnavailable, ImageSet
from engine.data.registry import dataset_augment_defaults, dataset_sources, load_dataset

__all__ = ["Dataset", "DatasetUnavailable", "ImageSet", "dataset_augment_defaults", "dataset_sources", "load_dataset"]
