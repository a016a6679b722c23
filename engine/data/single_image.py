"""The ``single_image`` source: random crops of one image as the whole training set, the lesson of Asano, Rupprecht
& Vedaldi (2020), "A critical analysis of self-supervision, or what we can learn from a single image" (ICLR): with
strong augmentation one image teaches a network's early layers nearly what a million do, and its deeper layers
less and less.

The image is a file (``path``) or one training image of another dataset (``source_dataset``, ``index``). The run is
evaluated on the source dataset, as a run trained on all of it is: its test split is the queries and its labelled
training split (``Dataset.reference``) the kNN bank and the probe's training set, so the two runs compare
side by side (the window's Evaluation > Runs table groups runs by the data they are evaluated on).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from engine.config import from_dict, param
from engine.data.augment import resized_crop_and_flip
from engine.data.base import Dataset, ImageSet
from engine.data.images import ImageRejected, decode_image, resize_images
from engine.data.registry import dataset_augment_defaults, dataset_sources, load_dataset, register_dataset
from engine.errors import DatasetUnavailable

FILE_SCALE = 4  # a file is decoded at this many times the crops' side, so that small crops keep their detail
CROP_RATIO = 4 / 3  # largest aspect ratio of a crop (smallest: its inverse)
CHUNK = 256  # crops drawn at a time
MAX_DRAWS_PER_CROP = 4  # give up when this many draws per wanted crop leave fewer distinct crops than wanted


@dataclass
class SingleImageConfig:
    path: str = param("", "Image file (PNG, JPEG, ...) to train on; empty: the source dataset's training image "
                          "number index")
    source_dataset: str = param("shapes", "Labelled dataset the run is evaluated on (its test split, with its "
                                          "training images as the kNN bank and probe training set), and whose "
                                          "training image is trained on when no path is set; a file alone has no "
                                          "labels to evaluate against, so a source dataset is always needed")
    source_options: str = param("", "Settings of the source dataset as NAME=VALUE, separated by commas (e.g. "
                                    "train_size=512, image_size=16)")
    index: int = param(0, "Which training image of the source dataset is the single image (without a path)", low=0)
    crops: int = param(10000, "Random crops of the image in the training split", low=1, high=1_000_000)
    crop_scale_min: float = param(0.05, "Smallest crop as a fraction of the image's area; every crop is resized to "
                                        "the source dataset's image size", low=0.001, high=1.0)
    seed: int = param(0, "Seed of the crops: the same seed gives the same crops")

    def source(self) -> tuple[str, dict]:
        """The source dataset's name and its settings (the ones ``source_options`` gives, parsed). Raises
        ValueError for an unknown source or a setting it does not have."""
        sources = dataset_sources()
        if self.source_dataset not in sources or self.source_dataset == "single_image":
            known = ", ".join(sorted(name for name in sources if name != "single_image"))
            raise ValueError(f"source_dataset must be one of {known}, not {self.source_dataset!r}")
        given = {}
        for item in filter(None, (part.strip() for part in self.source_options.split(","))):
            name, equals, value = item.partition("=")
            if not equals or not name.strip():
                raise ValueError(f"source_options must be NAME=VALUE settings separated by commas, not {item!r}")
            given[name.strip()] = value.strip()
        parsed = from_dict(sources[self.source_dataset].config, given)
        return self.source_dataset, {name: getattr(parsed, name) for name in given}

    def augment_defaults(self) -> dict:
        """The source dataset's invariances (e.g. the shapes world's rotation and hue jitter), as a run on it has;
        none while the source settings are wrong (the window asks while they are typed; loading refuses them)."""
        try:
            return dataset_augment_defaults(*self.source())
        except ValueError:
            return {}

    def evaluation_data(self) -> tuple[str, dict]:
        """The dataset (name, settings) this source's runs are evaluated on: runs on it compare with this one's."""
        return self.source()


def random_crops(image: torch.Tensor, n: int, size: int, scale_min: float, seed: int) -> torch.Tensor:
    """uint8 (n, C, size, size): distinct random resized crops of a uint8 (C, H, H) image (area fraction in
    [scale_min, 1], aspect ratio up to 4:3 either way, a horizontal flip with probability 1/2), drawn by ``seed``.
    Crops are sampled at the image's resolution and then resized with antialiasing. Raises DatasetUnavailable when
    the image has too little detail to give n distinct crops."""
    rng = torch.Generator().manual_seed(seed)
    source = image.float().div(255)[None]
    side = image.shape[-1]
    kept, seen, draws = [], set(), 0
    while len(kept) < n:
        if draws >= MAX_DRAWS_PER_CROP * n + CHUNK:
            raise DatasetUnavailable(f"The image gives only {len(kept)} distinct crops of the {n} asked for: choose "
                                     "an image with more detail, fewer crops or a larger crop_scale_min.")
        views = resized_crop_and_flip(source.expand(CHUNK, -1, -1, -1), side, (scale_min, 1.0), CROP_RATIO, 0.5, rng)
        draws += CHUNK
        for crop in resize_images(views.mul(255).round().clamp(0, 255).to(torch.uint8), size):
            key = crop.numpy().tobytes()
            if key not in seen:
                seen.add(key)
                kept.append(crop)
    return torch.stack(kept[:n])


def read_single_image(path: str, size: int, channels: int) -> torch.Tensor:
    """The file at ``path`` as uint8 (channels, size, size); DatasetUnavailable in one sentence if it cannot be."""
    try:
        return decode_image(Path(path).expanduser(), size, channels)
    except ImageRejected as e:
        raise DatasetUnavailable(f"{path} cannot be used as the single image: {e.reason}.") from None


@register_dataset("single_image", SingleImageConfig, "Random crops of one image (a file, or one image of another "
                                                     "dataset), evaluated on that dataset: what a single image "
                                                     "teaches (Asano et al. 2020)")
def load_single_image(config: SingleImageConfig) -> Dataset:
    """Crops of the image at the source dataset's size and channels as the train split (unlabelled); the source's
    test split and, as ``reference``, its training split for evaluation."""
    name, options = config.source()
    source = load_dataset(name, options)
    size, channels = source.image_size, source.channels
    if config.path:
        image = read_single_image(config.path, FILE_SCALE * size, channels)
    elif config.index < len(source.train):
        image = source.train.images[config.index]
    else:
        raise ValueError(f"index {config.index} is outside {name}'s training split of {len(source.train)} images: "
                         f"choose 0 to {len(source.train) - 1}")
    crops = random_crops(image, config.crops, size, config.crop_scale_min, config.seed)
    return Dataset("single_image", ImageSet(crops), source.test, class_names=list(source.class_names),
                   skipped=list(source.skipped), reference=source.train)
