"""Standard datasets read from files already on disk: digits, Fashion-MNIST, CIFAR-10 and STL-10.

Nothing is downloaded. File-based sources search, in order, the config's ``root``, ``$PRETEXT_DATA``,
(Fashion-MNIST: Debian's ``/usr/share/datasets``), ``~/.cache/pretext/data`` and ``./data``, in each
both the plain and the torchvision folder layout. A missing or corrupt dataset raises DatasetUnavailable
with one sentence naming the file or where to put it. User files are parsed, never trusted: IDX headers
and sizes are checked, and CIFAR-10's pickles go through an unpickler that only rebuilds numpy arrays.
"""
from __future__ import annotations

import gzip
import os
import pickle
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.config import param
from engine.data.base import Dataset, ImageSet
from engine.data.images import resize_images
from engine.data.registry import register_dataset
from engine.data.split import split_images
from engine.errors import DatasetUnavailable

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy < 2
    from numpy.core.multiarray import _reconstruct

SYSTEM_DATA = Path("/usr/share/datasets")  # where Debian's dataset-* packages install
ROOT_HELP = "Folder holding the dataset files (empty: search $PRETEXT_DATA, ~/.cache/pretext/data and ./data)"

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
STL10_CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
STL10_PIXELS = 3 * 96 * 96


# ----------------------------------------------------------------------------------------------- locating files

def _cache_root() -> Path:
    return Path.home() / ".cache" / "pretext" / "data"


def suggested_root(root: str) -> Path:
    """Where a "not found" message says to put files: ``root`` if set, else ``$PRETEXT_DATA`` or the cache."""
    chosen = root or os.environ.get("PRETEXT_DATA")
    return Path(chosen).expanduser() if chosen else _cache_root()


def search_roots(root: str, *system: Path) -> list[Path]:
    """Folders to search, in order: ``root`` if set, ``$PRETEXT_DATA``, ``system``, the cache and ``./data``."""
    env = os.environ.get("PRETEXT_DATA")
    return [*([Path(root).expanduser()] if root else []), *([Path(env).expanduser()] if env else []), *system,
            _cache_root(), Path("data")]


def find_folder(roots: list[Path], layouts: tuple[str, ...], complete: Callable[[Path], bool]) -> Path | None:
    """The first ``root / layout`` for which ``complete(folder)`` holds, or None."""
    for root in roots:
        for layout in layouts:
            folder = root / layout
            if folder.is_dir() and complete(folder):
                return folder
    return None


def read_file(path: Path) -> bytes:
    """The file's bytes; an unreadable file raises DatasetUnavailable naming it."""
    try:
        return path.read_bytes()
    except OSError as e:
        raise DatasetUnavailable(f"{path} cannot be read ({e.strerror or e}).") from None


def _labelled(images: np.ndarray | torch.Tensor, labels: np.ndarray, classes: int, path: Path) -> ImageSet:
    """An ImageSet of uint8 (N, C, H, W) images whose labels, read from ``path``, must be 0..classes-1.

    numpy images are copied (they are often read-only views of a file's bytes)."""
    if labels.ndim != 1 or len(labels) != len(images):
        raise DatasetUnavailable(f"{path} does not hold one label per image ({len(labels)} for {len(images)}).")
    if len(labels) and (labels.min() < 0 or labels.max() >= classes):
        raise DatasetUnavailable(f"{path} has labels outside 0..{classes - 1}.")
    images = images if isinstance(images, torch.Tensor) else torch.tensor(images)
    return ImageSet(images, torch.from_numpy(labels.astype(np.int64)))


# ----------------------------------------------------------------------------------------------------- digits

@dataclass
class DigitsConfig:
    seed: int = param(0, "Seed of the stratified 70/30 train/test split")


@register_dataset("digits", DigitsConfig, "scikit-learn's bundled 8x8 handwritten digits (1,797 images)")
def load_digits(config: DigitsConfig) -> Dataset:
    """The 8x8 digits at their native resolution (training resizes if asked), 0..16 scaled to 0..255."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = torch.from_numpy(np.round(bunch.images * (255 / 16)).astype(np.uint8))[:, None]
    train, test = split_images(images, torch.from_numpy(bunch.target.astype(np.int64)), 0.3, config.seed)
    return Dataset("digits", train, test, class_names=[str(d) for d in range(10)])


# ---------------------------------------------------------------------------------------------- Fashion-MNIST

FASHION_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                 "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


@dataclass
class FashionMNISTConfig:
    root: str = param("", "Folder with the four Fashion-MNIST IDX files, plain or .gz, or a torchvision root "
                          "(empty: search $PRETEXT_DATA, /usr/share/datasets, ~/.cache/pretext/data and ./data)")


def _idx_path(folder: Path, name: str) -> Path | None:
    """``name`` or ``name.gz`` in ``folder`` (the uncompressed file first: it loads faster)."""
    return next((p for p in (folder / name, folder / f"{name}.gz") if p.is_file()), None)


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """A uint8 IDX array with ``ndim`` dimensions, gzip-compressed or not, its header and size checked."""
    raw = read_file(path)
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error):
            raise DatasetUnavailable(f"{path} is a corrupt gzip file: replace it.") from None
    header = 4 + 4 * ndim
    if len(raw) < header or raw[:4] != bytes((0, 0, 0x08, ndim)):
        raise DatasetUnavailable(f"{path} is not a {ndim}-dimensional uint8 IDX file: replace it.")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    if len(raw) != header + int(np.prod(shape)):
        raise DatasetUnavailable(f"{path} holds {len(raw) - header} bytes of data where its header announces "
                                 f"{int(np.prod(shape))}: replace it.")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


@register_dataset("fashion-mnist", FashionMNISTConfig, "Fashion-MNIST: 70,000 28x28 grey clothing images, 10 classes")
def load_fashion_mnist(config: FashionMNISTConfig) -> Dataset:
    names = [name for pair in FASHION_FILES.values() for name in pair]
    folder = find_folder(search_roots(config.root, SYSTEM_DATA), (".", "fashion-mnist", "FashionMNIST/raw"),
                         lambda f: all(_idx_path(f, name) for name in names))
    if folder is None:
        where = suggested_root(config.root) if config.root else suggested_root("") / "fashion-mnist"
        raise DatasetUnavailable("Fashion-MNIST not found: install Debian's dataset-fashion-mnist (apt-get install "
                                 f"dataset-fashion-mnist) or put the four IDX files in {where}.")
    splits = {}
    for split, (image_name, label_name) in FASHION_FILES.items():
        image_path, label_path = _idx_path(folder, image_name), _idx_path(folder, label_name)
        images = read_idx(image_path, 3)
        if images.shape[1:] != (28, 28):
            raise DatasetUnavailable(f"{image_path} holds {images.shape[1]}x{images.shape[2]} images, not 28x28.")
        splits[split] = _labelled(images[:, None], read_idx(label_path, 1), len(FASHION_CLASSES), label_path)
    return Dataset("fashion-mnist", splits["train"], splits["test"], class_names=list(FASHION_CLASSES))


# --------------------------------------------------------------------------------------------------- CIFAR-10

class ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only; any other global (a function, a class) is refused,
    so a hostile file cannot run code."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"): _reconstruct,
               ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
               ("numpy", "ndarray"): np.ndarray,
               ("numpy", "dtype"): np.dtype}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}")
        return self.ALLOWED[module, name]


def _cifar_pickle(path: Path) -> ImageSet:
    try:
        with path.open("rb") as f:
            batch = ArrayUnpickler(f, encoding="latin1").load()
        data, labels = batch["data"], np.asarray(batch["labels"], dtype=np.int64)
    except OSError as e:
        raise DatasetUnavailable(f"{path} cannot be read ({e.strerror or e}).") from None
    except Exception as e:  # noqa: BLE001 -- a corrupt or hostile pickle can raise almost anything
        raise DatasetUnavailable(f"{path} is not a CIFAR-10 batch ({type(e).__name__}: {e}).") from None
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == 3072):
        raise DatasetUnavailable(f"{path} is not a CIFAR-10 batch (its 'data' is not a uint8 array of 3072 columns).")
    return _labelled(data.reshape(-1, 3, 32, 32), labels, len(CIFAR10_CLASSES), path)


def _cifar_binary(path: Path) -> ImageSet:
    raw = read_file(path)
    if len(raw) % 3073:
        raise DatasetUnavailable(f"{path} is not a CIFAR-10 binary batch (size not a multiple of 3073 bytes).")
    records = np.frombuffer(raw, np.uint8).reshape(-1, 3073)
    return _labelled(records[:, 1:].reshape(-1, 3, 32, 32), records[:, 0], len(CIFAR10_CLASSES), path)


CIFAR10_LAYOUTS = {"cifar-10-batches-py": ("", _cifar_pickle), "cifar-10-batches-bin": (".bin", _cifar_binary)}


@dataclass
class CIFAR10Config:
    root: str = param("", ROOT_HELP + "; it must contain torchvision's cifar-10-batches-py or cifar-10-batches-bin")


@register_dataset("cifar10", CIFAR10Config, "CIFAR-10: 60,000 32x32 colour images, 10 classes (from disk)")
def load_cifar10(config: CIFAR10Config) -> Dataset:
    def complete(folder: Path) -> bool:
        suffix, _ = CIFAR10_LAYOUTS[folder.name]
        return all((folder / f"{name}{suffix}").is_file() for name in (*CIFAR10_TRAIN, "test_batch"))

    folder = find_folder(search_roots(config.root), tuple(CIFAR10_LAYOUTS), complete)
    if folder is None:
        raise DatasetUnavailable("CIFAR-10 not found: put torchvision's cifar-10-batches-py folder (or the binary "
                                 f"cifar-10-batches-bin) in {suggested_root(config.root)}.")
    suffix, read = CIFAR10_LAYOUTS[folder.name]
    batches = [read(folder / f"{name}{suffix}") for name in CIFAR10_TRAIN]
    train = ImageSet(torch.cat([b.images for b in batches]), torch.cat([b.labels for b in batches]))
    return Dataset("cifar10", train, read(folder / f"test_batch{suffix}"), class_names=list(CIFAR10_CLASSES))


# ----------------------------------------------------------------------------------------------------- STL-10

@dataclass
class STL10Config:
    root: str = param("", ROOT_HELP + "; it must contain stl10_binary")
    image_size: int = param(64, "Side in pixels the 96x96 images are resized to once, at load", low=16, high=96)
    unlabeled: bool = param(False, "Also train on images from unlabeled_X.bin (label -1: evaluation ignores them)")
    max_unlabeled: int = param(20000, "How many unlabelled images to add (the first ones in the file)",
                               low=0, high=100000)


def _stl10_images(path: Path, size: int, limit: int | None = None, chunk: int = 1000) -> torch.Tensor:
    """uint8 (N, 3, size, size) from an STL-10 ``*_X.bin`` (column-major 96x96x3), read and resized in chunks."""
    try:
        available, remainder = divmod(path.stat().st_size, STL10_PIXELS)
    except OSError as e:
        raise DatasetUnavailable(f"{path} cannot be read ({e.strerror or e}).") from None
    if remainder:
        raise DatasetUnavailable(f"{path} is not an STL-10 image file (size not a multiple of {STL10_PIXELS} bytes).")
    count = available if limit is None else min(limit, available)
    parts = [torch.zeros(0, 3, size, size, dtype=torch.uint8)]
    for start in range(0, count, chunk):
        n = min(chunk, count - start)
        raw = np.fromfile(path, np.uint8, count=n * STL10_PIXELS, offset=start * STL10_PIXELS)
        images = torch.from_numpy(raw.reshape(n, 3, 96, 96)).transpose(2, 3)
        parts.append(resize_images(images.contiguous(), size))
    return torch.cat(parts)


@register_dataset("stl10", STL10Config, "STL-10: 13,000 labelled 96x96 colour images, 10 classes, "
                                        "plus optional unlabelled ones (from disk)")
def load_stl10(config: STL10Config) -> Dataset:
    names = ("train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin")
    folder = find_folder(search_roots(config.root), ("stl10_binary",),
                         lambda f: all((f / name).is_file() for name in names))
    if folder is None:
        raise DatasetUnavailable("STL-10 not found: put the extracted stl10_binary folder in "
                                 f"{suggested_root(config.root)}.")
    splits = {}
    for split in ("train", "test"):
        label_path = folder / f"{split}_y.bin"
        labels = np.frombuffer(read_file(label_path), np.uint8).astype(np.int64) - 1  # stored as 1..10
        splits[split] = _labelled(_stl10_images(folder / f"{split}_X.bin", config.image_size), labels,
                                  len(STL10_CLASSES), label_path)
    train = splits["train"]
    if config.unlabeled and config.max_unlabeled:
        path = folder / "unlabeled_X.bin"
        if not path.is_file():
            raise DatasetUnavailable(f"{path} not found: add it or turn off the unlabeled setting.")
        extra = _stl10_images(path, config.image_size, config.max_unlabeled)
        train = ImageSet(torch.cat([train.images, extra]),
                         torch.cat([train.labels, torch.full((len(extra),), -1, dtype=torch.int64)]))
    return Dataset("stl10", train, splits["test"], class_names=list(STL10_CLASSES))
