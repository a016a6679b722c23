"""Dataset sources: the user's folder, digits, Fashion-MNIST, CIFAR-10 and STL-10, from tiny synthetic roots."""
from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.data import standard
from engine.data.folder import FolderConfig, load_folder
from engine.data.split import stratified_split
from engine.data.standard import (
    CIFAR10Config,
    DigitsConfig,
    FashionMNISTConfig,
    STL10Config,
    load_cifar10,
    load_digits,
    load_fashion_mnist,
    load_stl10,
)
from engine.errors import DatasetUnavailable
from tests.test_images import noise_jpeg, png_claiming

RED, BLUE = (255, 0, 0), (0, 0, 255)


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """No dataset anywhere: every searched folder is empty."""
    monkeypatch.setenv("PRETEXT_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(standard, "SYSTEM_DATA", tmp_path / "system")
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ------------------------------------------------------------------------------------------------------- folder

def save_png(path: Path, rgb: tuple[int, int, int], size: tuple[int, int] = (24, 16)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, rgb).save(path, "PNG")


def test_folder_loads_good_images_labels_them_and_lists_the_bad_ones(tmp_path):
    root = tmp_path / "pictures"
    for i in range(4):
        save_png(root / "cats" / f"cat{i}.png", RED)
        save_png(root / "dogs" / "nested" / f"dog{i}.PNG", BLUE)
    bad = {root / "cats" / "empty.jpg": b"", root / "cats" / "cut.JPEG": noise_jpeg()[:1500],
           root / "dogs" / "notes.png": b"shopping list\n", root / "dogs" / "bomb.png": png_claiming(20_000, 20_000)}
    for path, data in bad.items():
        path.write_bytes(data)
    (root / "dogs" / "readme.txt").write_text("not an image extension: ignored")
    (root / "cats" / "._cat0.png").write_bytes(b"macOS resource fork: hidden, ignored")

    filters = list(warnings.filters)
    dataset = load_folder(FolderConfig(path=str(root), image_size=16, test_fraction=0.25))
    assert warnings.filters == filters
    assert dataset.class_names == ["cats", "dogs"]
    assert len(dataset.train) == 6 and len(dataset.test) == 2
    assert dataset.train.images.shape[1:] == (3, 16, 16)
    for split in (dataset.train, dataset.test):
        assert sorted(split.labels.tolist()).count(0) == len(split) // 2  # stratified
        colours = split.images[:, :, 8, 8].tolist()
        assert colours == [list(RED if label == 0 else BLUE) for label in split.labels.tolist()]
    reasons = dict(dataset.skipped)
    assert set(reasons) == {str(p) for p in bad}
    assert reasons[str(root / "cats" / "empty.jpg")] == "empty file"
    assert "truncated" in reasons[str(root / "cats" / "cut.JPEG")]
    assert reasons[str(root / "dogs" / "notes.png")] == "not an image"
    assert reasons[str(root / "dogs" / "bomb.png")].startswith("too large")


def test_folder_is_deterministic_and_flat_folders_are_unlabelled(tmp_path):
    for i in range(10):
        save_png(tmp_path / f"{i}.jpg", (i * 20, 0, 0))
    first = load_folder(FolderConfig(path=str(tmp_path), image_size=16, seed=3))
    again = load_folder(FolderConfig(path=str(tmp_path), image_size=16, seed=3))
    assert first.train.labels is None and first.class_names == [] and len(first.test) == 2
    assert torch.equal(first.train.images, again.train.images) and torch.equal(first.test.images, again.test.images)
    sample = load_folder(FolderConfig(path=str(tmp_path), image_size=16, max_images=5))
    assert len(sample.train) + len(sample.test) == 5


def test_folder_without_usable_images_says_what_to_do(tmp_path):
    with pytest.raises(DatasetUnavailable, match="choose a folder"):
        load_folder(FolderConfig())
    with pytest.raises(DatasetUnavailable, match="choose a folder"):
        load_folder(FolderConfig(path=str(tmp_path / "absent")))
    with pytest.raises(DatasetUnavailable, match="no image files"):
        load_folder(FolderConfig(path=str(tmp_path)))
    (tmp_path / "a.png").write_text("text")
    with pytest.raises(DatasetUnavailable, match="None of the 1 image files .* not an image"):
        load_folder(FolderConfig(path=str(tmp_path)))


def test_split_keeps_one_training_image_per_class_and_reuses_train_when_tiny():
    labels = torch.tensor([0, 0, 0, 0, 0, 1, 1, 2])
    train, test = stratified_split(labels, 0.4, seed=0)
    assert labels[test].tolist() == [0, 0, 1] and sorted(train.tolist() + test.tolist()) == list(range(8))
    many = torch.arange(40) % 2
    assert torch.equal(stratified_split(many, 0.25, seed=0)[1], stratified_split(many, 0.25, seed=0)[1])
    assert not torch.equal(stratified_split(many, 0.25, seed=0)[1], stratified_split(many, 0.25, seed=1)[1])
    train, test = stratified_split(torch.zeros(1, dtype=torch.int64), 0.2, seed=0)
    assert train.tolist() == test.tolist() == [0]


# --------------------------------------------------------------------------------------------------- standard

def test_digits():
    dataset = load_digits(DigitsConfig(seed=1))
    assert dataset.train.images.shape[1:] == (1, 8, 8) and dataset.train.images.dtype == torch.uint8
    assert len(dataset.train) + len(dataset.test) == 1797 and abs(len(dataset.test) - 539) <= 10
    assert dataset.class_names == [str(d) for d in range(10)] and dataset.train.images.max() == 255
    assert set(dataset.test.labels.tolist()) == set(range(10))


def test_fashion_mnist_from_debian_package():
    folder = standard.SYSTEM_DATA / "fashion-mnist"
    if not (folder / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("dataset-fashion-mnist not installed: apt-get install dataset-fashion-mnist")
    dataset = load_fashion_mnist(FashionMNISTConfig(root=str(folder)))
    assert dataset.train.images.shape == (60000, 1, 28, 28) and dataset.test.images.shape == (10000, 1, 28, 28)
    assert dataset.class_names[0] == "T-shirt/top" and dataset.train.labels.bincount().tolist() == [6000] * 10


def write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    data = bytes((0, 0, 0x08, array.ndim)) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)


def fashion_root(root: Path, compress: bool = True) -> Path:
    """A torchvision-style root with 5 training and 3 test images."""
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    suffix = ".gz" if compress else ""
    for split, n in (("train", 5), ("t10k", 3)):
        write_idx(raw / f"{split}-images-idx3-ubyte{suffix}", np.arange(n * 784, dtype=np.uint8).reshape(n, 28, 28),
                  compress)
        write_idx(raw / f"{split}-labels-idx1-ubyte{suffix}", np.arange(n, dtype=np.uint8), compress)
    return raw


@pytest.mark.parametrize("compress", [True, False])
def test_fashion_mnist_from_torchvision_root(no_data, compress):
    fashion_root(no_data / "tv", compress)
    dataset = load_fashion_mnist(FashionMNISTConfig(root=str(no_data / "tv")))
    assert dataset.train.images.shape == (5, 1, 28, 28) and dataset.test.labels.tolist() == [0, 1, 2]
    assert dataset.train.images[1, 0, 0, 0] == 784 % 256


def test_fashion_mnist_corrupt_files_are_named(no_data):
    raw = fashion_root(no_data / "tv", compress=False)
    config = FashionMNISTConfig(root=str(no_data / "tv"))
    labels = raw / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-1])
    with pytest.raises(DatasetUnavailable, match="t10k-labels-idx1-ubyte holds 2 bytes"):
        load_fashion_mnist(config)
    (raw / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x01" + bytes(8))
    with pytest.raises(DatasetUnavailable, match="train-images-idx3-ubyte is not a 3-dimensional"):
        load_fashion_mnist(config)


def cifar_batch(n: int, offset: int) -> tuple[np.ndarray, list[int]]:
    data = np.zeros((n, 3072), dtype=np.uint8)
    data[:, 0] = np.arange(n) + offset  # red channel, top-left pixel
    data[:, 1024] = 200  # green channel, top-left pixel
    return data, [(i + offset) % 10 for i in range(n)]


def cifar_names() -> list[str]:
    return [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]


def write_cifar_pickles(folder: Path, py2_module_name: bool = False) -> None:
    folder.mkdir(parents=True)
    for k, name in enumerate(cifar_names()):
        data, labels = cifar_batch(2, 10 * k)
        blob = pickle.dumps({"batch_label": name, "data": data, "labels": labels}, protocol=3)
        if py2_module_name:  # what the real (Python 2) files name the array constructor
            blob = blob.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
        (folder / name).write_bytes(blob)


@pytest.mark.parametrize("py2_module_name", [False, True])
def test_cifar10_from_python_pickles_found_through_pretext_data(no_data, py2_module_name):
    write_cifar_pickles(no_data / "env" / "cifar-10-batches-py", py2_module_name)
    dataset = load_cifar10(CIFAR10Config())
    assert dataset.train.images.shape == (10, 3, 32, 32) and dataset.test.images.shape == (2, 3, 32, 32)
    assert dataset.train.images[:, 0, 0, 0].tolist() == [0, 1, 10, 11, 20, 21, 30, 31, 40, 41]
    assert (dataset.train.images[:, 1, 0, 0] == 200).all()
    assert dataset.test.labels.tolist() == [0, 1] and dataset.class_names[0] == "airplane"


def test_cifar10_from_binary_batches(no_data):
    folder = no_data / "root" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    for k, name in enumerate(cifar_names()):
        data, labels = cifar_batch(3, 10 * k)
        records = np.concatenate([np.array(labels, dtype=np.uint8)[:, None], data], axis=1)
        (folder / f"{name}.bin").write_bytes(records.tobytes())
    dataset = load_cifar10(CIFAR10Config(root=str(no_data / "root")))
    assert dataset.train.images.shape == (15, 3, 32, 32) and dataset.train.labels[3:6].tolist() == [0, 1, 2]
    assert dataset.test.images[:, 0, 0, 0].tolist() == [50, 51, 52]


class Exploit:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_cifar10_hostile_pickle_is_refused(no_data):
    folder = no_data / "root" / "cifar-10-batches-py"
    write_cifar_pickles(folder)
    marker = no_data / "pwned"
    (folder / "data_batch_3").write_bytes(pickle.dumps({"data": Exploit(marker), "labels": []}))
    with pytest.raises(DatasetUnavailable, match="data_batch_3 is not a CIFAR-10 batch .*refused to load"):
        load_cifar10(CIFAR10Config(root=str(no_data / "root")))
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError, match="refused"):
        standard.ArrayUnpickler(io.BytesIO(pickle.dumps(Exploit(marker)))).load()
    assert not marker.exists()


def write_stl10(folder: Path) -> None:
    """3 training, 2 test and 4 unlabelled images; each has a red top row (stored column-major)."""
    folder.mkdir(parents=True)
    for split, n in (("train", 3), ("test", 2), ("unlabeled", 4)):
        images = np.zeros((n, 3, 96, 96), dtype=np.uint8)  # (N, C, column, row) as on disk
        images[:, 0, :, 0] = 255
        (folder / f"{split}_X.bin").write_bytes(images.tobytes())
        if split != "unlabeled":
            (folder / f"{split}_y.bin").write_bytes(bytes(range(1, n + 1)))


def test_stl10_from_binary_root(no_data):
    write_stl10(no_data / "root" / "stl10_binary")
    native = load_stl10(STL10Config(root=str(no_data / "root"), image_size=96))
    assert native.train.images.shape == (3, 3, 96, 96) and native.train.labels.tolist() == [0, 1, 2]
    assert (native.train.images[:, 0, 0] == 255).all() and (native.train.images[:, 0, 1:] == 0).all()
    small = load_stl10(STL10Config(root=str(no_data / "root"), image_size=16, unlabeled=True, max_unlabeled=2))
    assert small.train.images.shape == (5, 3, 16, 16) and small.test.images.shape == (2, 3, 16, 16)
    assert small.train.labels.tolist() == [0, 1, 2, -1, -1] and small.class_names[7] == "monkey"


@pytest.mark.parametrize("load, config, words", [
    (load_fashion_mnist, FashionMNISTConfig, "apt-get install dataset-fashion-mnist"),
    (load_cifar10, CIFAR10Config, "cifar-10-batches-py"),
    (load_stl10, STL10Config, "stl10_binary"),
])
def test_absent_datasets_say_where_to_put_them(no_data, load, config, words):
    with pytest.raises(DatasetUnavailable) as caught:
        load(config())
    message = str(caught.value)
    assert words in message and str(no_data / "env") in message and message.count(". ") == 0
