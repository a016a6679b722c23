"""decode_image: every kind of hostile or unusual file is either decoded sensibly or rejected with a reason."""
from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile, features

from engine.data.images import ImageRejected, decode_image, resize_images


def encode(im: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, fmt, **options)
    return buffer.getvalue()


def noise_jpeg(width: int = 120, height: int = 80) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return encode(Image.fromarray(pixels), "JPEG")


def png_claiming(width: int, height: int) -> bytes:
    """A tiny 1-bit PNG whose IHDR claims ``width`` x ``height``: cheap to write, huge if ever decoded."""
    data = bytearray(encode(Image.new("1", (8, 8)), "PNG"))
    ihdr = struct.pack(">II", width, height) + data[24:29]
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def colour(image: torch.Tensor, y: int, x: int) -> tuple[int, ...]:
    return tuple(image[:, y, x].tolist())


def close(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected))


BAD_FILES = {  # name -> (content, expected words in the reason)
    "empty.png": (b"", "empty file"),
    "truncated.jpg": (noise_jpeg()[:2000], "truncated"),
    "notes.png": (b"just some text, not a picture\n" * 20, "not an image"),
    "bomb.png": (png_claiming(10_000, 10_000), "too large: 10000 x 10000 pixels"),
    "huge-bomb.png": (png_claiming(100_000, 100_000), "too large"),
    "garbage.gif": (b"GIF89a" + bytes(range(256)) * 4, ""),
    "garbage.jpg": (b"\xff\xd8\xff\xe0" + bytes(200), ""),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_files_are_rejected_with_a_reason_and_no_global_change(tmp_path, name):
    data, reason = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(data)
    filters = list(warnings.filters)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning (e.g. DecompressionBombWarning) may escape
        for source in (path, str(path), data):
            with pytest.raises(ImageRejected) as caught:
                decode_image(source, 32)
            assert caught.value.reason and reason in caught.value.reason
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    assert warnings.filters == filters


def test_missing_file_folder_and_device_are_rejected(tmp_path):
    with pytest.raises(ImageRejected, match="cannot read file"):
        decode_image(tmp_path / "absent.png", 16)
    for source in (tmp_path, "/dev/zero"):
        with pytest.raises(ImageRejected, match="not a regular file"):
            decode_image(source, 16)


def test_centre_crop_and_resize():
    pixels = np.zeros((40, 120, 3), dtype=np.uint8)
    pixels[:, :40] = (255, 0, 0)
    pixels[:, 40:80] = (0, 255, 0)
    pixels[:, 80:] = (0, 0, 255)
    image = decode_image(encode(Image.fromarray(pixels), "PNG"), 20)
    assert image.dtype == torch.uint8 and image.shape == (3, 20, 20)
    assert (image[1] == 255).all() and (image[0] == 0).all()  # only the green middle third survives


def test_16_bit_grey_is_scaled_not_clipped():
    grey = np.full((16, 16), 128 * 257, dtype=np.uint16)
    grey[:, 8:] = 65535
    im = Image.fromarray(grey)
    assert im.mode == "I;16"
    image = decode_image(encode(im, "PNG"), 16)
    assert colour(image, 0, 0) == (128, 128, 128) and colour(image, 0, 15) == (255, 255, 255)


def test_cmyk_becomes_rgb():
    image = decode_image(encode(Image.new("CMYK", (20, 20), (0, 255, 255, 0)), "JPEG", quality=95), 16)
    assert close(colour(image, 8, 8), (255, 0, 0))


def test_palette_transparency_is_composited_on_white():
    im = Image.new("P", (20, 20), 1)
    im.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    im.paste(0, (0, 0, 10, 20))
    image = decode_image(encode(im, "PNG", transparency=0), 20)
    assert colour(image, 10, 2) == (255, 255, 255) and colour(image, 10, 17) == (0, 0, 255)


@pytest.mark.parametrize("mode, opaque, expected", [("RGBA", (0, 128, 0, 255), (0, 128, 0)),
                                                     ("LA", (60, 255), (60, 60, 60))])
def test_alpha_is_composited_on_white(mode, opaque, expected):
    im = Image.new(mode, (20, 20), opaque)
    im.paste(Image.new(mode, (10, 20), (0,) * len(opaque)), (0, 0))
    image = decode_image(encode(im, "PNG"), 20)
    assert colour(image, 10, 2) == (255, 255, 255) and colour(image, 10, 17) == expected


def test_one_bit_image():
    im = Image.new("1", (16, 16), 0)
    im.paste(1, (8, 0, 16, 16))
    image = decode_image(encode(im, "PNG"), 16)
    assert colour(image, 0, 0) == (0, 0, 0) and colour(image, 0, 15) == (255, 255, 255)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animation_gives_its_first_frame(fmt):
    if fmt == "WEBP" and not features.check("webp"):
        pytest.skip("Pillow was built without WebP support")
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=50, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    assert close(colour(decode_image(data, 16), 8, 8), (255, 0, 0))


def test_exif_orientation_is_applied():
    pixels = np.full((30, 60, 3), (0, 200, 0), dtype=np.uint8)
    pixels[:8] = (255, 0, 0)  # stored: a red band along the top
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise: the top band becomes the right edge
    data = encode(Image.fromarray(pixels), "JPEG", quality=95, exif=exif.tobytes())
    image = decode_image(data, 30)
    assert close(colour(image, 15, 28), (255, 0, 0)) and close(colour(image, 2, 15), (0, 200, 0))


def test_resize_images_keeps_uint8_and_skips_same_size():
    images = torch.randint(0, 256, (5, 3, 12, 12), dtype=torch.uint8)
    assert resize_images(images, 12) is images
    out = resize_images(images, 6, chunk=2)
    assert out.dtype == torch.uint8 and out.shape == (5, 3, 6, 6)
