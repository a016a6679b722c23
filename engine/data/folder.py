"""The ``folder`` source: the user's own images, labelled by sub-folder when they are sorted into sub-folders, and
captioned when the folder has a ``captions.tsv`` (lines "FILE<tab>CAPTION", FILE relative to the folder) or a
sidecar text file beside an image (``cat.jpg`` and ``cat.txt``); the TSV wins where both exist."""
from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.config import param
from engine.data.base import Dataset
from engine.data.images import ImageRejected, decode_image
from engine.data.registry import register_dataset
from engine.data.split import split_images
from engine.errors import Cancelled, DatasetUnavailable

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".jfif", ".gif", ".bmp", ".webp", ".tif", ".tiff",
                              ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".ico"})
DECODE_WORKERS = min(4, max(2, os.cpu_count() or 2))


@dataclass
class FolderConfig:
    path: str = param("", "Folder of images (searched recursively); images in sub-folders are labelled by "
                          "the name of the sub-folder directly under this one")
    image_size: int = param(64, "Side in pixels: each image is centre-cropped to a square and resized to it",
                            low=16, high=256)
    test_fraction: float = param(0.2, "Fraction of each class held out as the test split for evaluation",
                                 low=0.0, high=0.9)
    seed: int = param(0, "Seed of the train/test split (and of the sample when there are over max_images)")
    max_images: int = param(20000, "Most images to load; above it a seeded random sample is used",
                            low=1, high=1_000_000)
    captioned_only: bool = param(False, "Load only the images that have a caption (captions.tsv or a sidecar .txt "
                                 "file); the others are listed as skipped, with the reason")


CAPTIONS_TSV = "captions.tsv"


def read_captions_tsv(root: Path) -> dict[str, str]:
    """FILE -> caption from ``root/captions.tsv`` (empty when there is none); FILE as written, relative to root. A
    first line "file<tab>caption" is a header. DatasetUnavailable in one sentence for a file that is not UTF-8."""
    path = root / CAPTIONS_TSV
    if not path.is_file():
        return {}
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as e:
        raise DatasetUnavailable(f"{path} is not UTF-8 text (byte {e.start}): save it as UTF-8.") from None
    out = {}
    for line in lines:
        name, tab, text = line.partition("\t")
        if tab and (name.strip().lower(), text.strip().lower()) != ("file", "caption"):
            out[Path(name.strip()).as_posix()] = text.strip()
    return out


def find_caption(path: Path, root: Path, listed: dict[str, str]) -> tuple[str, str]:
    """(caption, "") for an image with a caption, else ("", why not)."""
    key = path.relative_to(root).as_posix()
    if key in listed:
        return (listed[key], "") if listed[key] else ("", f"its line in {CAPTIONS_TSV} has an empty caption")
    sidecar = path.with_suffix(".txt")
    if not sidecar.is_file():
        return "", f"no caption: neither a line in {CAPTIONS_TSV} nor a sidecar {sidecar.name}"
    try:
        text = " ".join(sidecar.read_text(encoding="utf-8-sig").split())
    except UnicodeDecodeError:
        return "", f"its caption file {sidecar.name} is not UTF-8 text"
    except OSError as e:
        return "", f"its caption file {sidecar.name} cannot be read ({e.strerror})"
    return (text, "") if text else ("", f"its caption file {sidecar.name} is empty")


def find_image_files(root: Path) -> list[Path]:
    """Files under ``root`` with an image extension (any case), sorted; hidden files and folders are ignored."""
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        found += [Path(folder, f) for f in files
                  if not f.startswith(".") and os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS]
    return sorted(found, key=lambda p: p.relative_to(root).parts)


def decode_all(files: list[Path], size: int, progress: Callable[[float], None],
               cancelled: Callable[[], bool]) -> list[torch.Tensor | str]:
    """Each file decoded to a (3, size, size) uint8 image, or the reason it could not be, in order, on a few
    threads; the fraction done goes to ``progress``. Raises Cancelled once ``cancelled()``, and the files not yet
    decoded are then never opened."""

    def decode(path: Path) -> torch.Tensor | str:
        try:
            return decode_image(path, size)
        except ImageRejected as e:
            return e.reason

    pool, results = ThreadPoolExecutor(DECODE_WORKERS), []
    try:
        for result in pool.map(decode, files):
            if cancelled():
                raise Cancelled(f"loading stopped after {len(results):,} of {len(files):,} images")
            results.append(result)
            progress(len(results) / len(files))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return results


@register_dataset("folder", FolderConfig, "Your own folder of images; sub-folder names become labels",
                  interruptible=True)
def load_folder(config: FolderConfig, progress: Callable[[float], None] = lambda fraction: None,
                cancelled: Callable[[], bool] = lambda: False) -> Dataset:
    """Decode the image files under ``config.path`` (a seeded sample of ``max_images`` of them when there are
    more: memory stays bounded by that count); unreadable ones are listed in ``Dataset.skipped``.

    Labels come from the first-level sub-folder of each image when every loaded image lies in a sub-folder;
    if any image sits directly in the chosen folder, the dataset is unlabelled.
    """
    if not config.path:
        raise DatasetUnavailable("No image folder is set: choose a folder of images (dataset.path=...).")
    root = Path(config.path).expanduser()
    if not root.is_dir():
        raise DatasetUnavailable(f"{root} is not a folder: choose a folder of images.")
    files = find_image_files(root)
    if not files:
        raise DatasetUnavailable(f"{root} contains no image files: choose a folder with .png or .jpg images.")
    if len(files) > config.max_images:
        sample = torch.randperm(len(files), generator=torch.Generator().manual_seed(config.seed))
        files = [files[i] for i in sample[:config.max_images].sort().values.tolist()]
    results = decode_all(files, config.image_size, progress, cancelled)
    good = [(path, image) for path, image in zip(files, results) if isinstance(image, torch.Tensor)]
    skipped = [(str(path), reason) for path, reason in zip(files, results) if isinstance(reason, str)]
    if not good:
        path, reason = skipped[0]
        raise DatasetUnavailable(f"None of the {len(files)} image files in {root} could be read "
                                 f"(e.g. {path}: {reason}).")
    listed = read_captions_tsv(root)
    found = [find_caption(path, root, listed) for path, _ in good]
    captions = [text for text, _ in found] if any(text for text, _ in found) or config.captioned_only else None
    if config.captioned_only:
        skipped += [(str(path), why) for (path, _), (_, why) in zip(good, found) if why]
        good, captions = [g for g, (_, why) in zip(good, found) if not why], [c for c in captions if c]
        if not good:
            raise DatasetUnavailable(f"None of the images in {root} has a caption: add a {CAPTIONS_TSV} (lines "
                                     "FILE<tab>CAPTION) or a .txt file beside each image.")

    groups = [path.relative_to(root).parts for path, _ in good]
    class_names = sorted({parts[0] for parts in groups}) if all(len(parts) > 1 for parts in groups) else []
    index = {name: i for i, name in enumerate(class_names)}
    labels = torch.tensor([index[parts[0]] for parts in groups]) if class_names else None
    train, test = split_images(torch.stack([image for _, image in good]), labels, config.test_fraction, config.seed,
                               captions)
    return Dataset("folder", train, test, class_names=class_names, skipped=skipped)
