"""Decoding one image file into a square uint8 tensor, safely, and resizing tensor batches.

:func:`decode_image` is the only way user files become pixels (the folder source, drag-and-drop queries).
For any bad input it raises :class:`ImageRejected` with a short reason a person can read; it changes no
process-wide Pillow setting (truncated files stay rejected) and keeps Pillow's decompression-bomb limit.
"""
from __future__ import annotations

import io
import os
import stat
import threading
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.data.augment import grayscale

HIGH_BIT_DEPTH = ("I;16", "I;16L", "I;16B", "I;16N")  # 16-bit single-channel modes
_WARNINGS_LOCK = threading.Lock()


class ImageRejected(ValueError):
    """A file that is not a usable image; ``reason`` says why in a few words."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def decode_image(source: str | Path | bytes | bytearray, size: int, channels: int = 3) -> torch.Tensor:
    """uint8 (channels, size, size): the image's first frame, EXIF-rotated, on white, centre-cropped and resized;
    with ``channels=1``, its grey levels as the augmentations compute them (for grayscale datasets).

    Raises ImageRejected, and nothing else, for any file that cannot be used.
    """
    in_memory = isinstance(source, (bytes, bytearray))
    if not in_memory:
        try:
            status = os.stat(source)
        except OSError as e:
            raise ImageRejected(f"cannot read file ({e.strerror or type(e).__name__})") from None
        if not stat.S_ISREG(status.st_mode):  # a folder, pipe or device: never open it
            raise ImageRejected("not a regular file")
    if (len(source) if in_memory else status.st_size) == 0:
        raise ImageRejected("empty file")
    try:
        with _open(io.BytesIO(source) if in_memory else source) as im:
            im.draft("RGB", (size, size))  # JPEG only: decode at the smallest scale still >= size
            rgb = _to_rgb(ImageOps.exif_transpose(im))
    except ImageRejected:
        raise
    except Exception as e:  # noqa: BLE001 -- Pillow's plugins raise many kinds of error on hostile files
        raise ImageRejected(_describe(e)) from None
    image = _square(rgb, size)
    return grayscale(image[None].float())[0].round().to(torch.uint8) if channels == 1 else image


def _open(source: str | Path | io.BytesIO) -> Image.Image:
    """Image.open (header only), rejecting images over Pillow's pixel limit before any decoding.

    ``warnings.catch_warnings`` swaps process-wide state and is not thread-safe on Python < 3.14, so a lock
    serialises it between decoding threads; it covers only the header read, never the decoding.
    """
    with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", Image.DecompressionBombWarning)
        try:
            im = Image.open(source)
        except Image.DecompressionBombError:
            raise ImageRejected(f"too large: more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels") from None
        except UnidentifiedImageError:
            raise ImageRejected("not an image") from None
    limit = Image.MAX_IMAGE_PIXELS
    bomb = any(issubclass(w.category, Image.DecompressionBombWarning) for w in caught)
    if bomb or (limit is not None and im.width * im.height > limit):
        im.close()
        raise ImageRejected(f"too large: {im.width} x {im.height} pixels")
    return im


def _to_rgb(im: Image.Image) -> Image.Image:
    """RGB: 16-bit grey scaled (not clipped) to 8 bits, transparency composited onto white."""
    if im.mode in HIGH_BIT_DEPTH:
        grey = np.asarray(im).astype(np.uint32)
        return Image.fromarray(((grey * 255 + 32767) // 65535).astype(np.uint8)).convert("RGB")
    if im.mode in ("I", "F"):  # 32-bit integer or float grey: no fixed range, so stretch min..max
        grey = np.asarray(im, dtype=np.float64)
        low, high = float(grey.min()), float(grey.max())
        scaled = (grey - low) * (255 / (high - low)) if high > low else np.zeros_like(grey)
        return Image.fromarray(scaled.round().astype(np.uint8)).convert("RGB")
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    try:
        return im.convert("RGB")
    except ValueError:
        raise ImageRejected(f"unsupported colour mode {im.mode}") from None


def _square(im: Image.Image, size: int) -> torch.Tensor:
    """Centre crop to a square, then resize to ``size`` with an antialiasing filter; a large image is first
    box-averaged to within 3x of ``size`` (``reducing_gap``: about 3x faster for a photo, pixels within a fraction
    of a grey level of the plain resize; bench/README.md)."""
    w, h = im.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    out = im.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.BICUBIC,
                                                                 reducing_gap=3.0)
    return torch.from_numpy(np.array(out, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def _describe(error: Exception) -> str:
    """A short reason for an error Pillow raised while reading or decoding."""
    text = str(error).lower()
    if "truncated" in text or isinstance(error, EOFError):
        return "truncated image data"
    if isinstance(error, MemoryError):
        return "too large to decode"
    if isinstance(error, OSError) and error.strerror:
        return f"cannot read file ({error.strerror})"
    return "corrupt or unsupported image data"


def resize_images(images: torch.Tensor, size: int, chunk: int = 2048) -> torch.Tensor:
    """uint8 (N, C, size, size) from uint8 (N, C, H, W): bilinear with antialiasing, ``chunk`` images at a time."""
    if images.shape[-2:] == (size, size):
        return images
    return torch.cat([
        F.interpolate(images[i:i + chunk].float(), size=(size, size), mode="bilinear", antialias=True,
                      align_corners=False).round().clamp(0, 255).to(torch.uint8)
        for i in range(0, len(images), chunk)])
