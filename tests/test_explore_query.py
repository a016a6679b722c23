"""Explorer queries: dropped files, folders and pasted bytes find their neighbours; every bad kind of file is
rejected with a reason, unusual good ones are converted, and nothing crashes."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from test_images import BAD_FILES, encode

from engine.data.augment import Augment, AugmentConfig
from engine.data.shapes import generate
from engine.explore.embedding import Embedding, EncoderSnapshot
from engine.explore.query import PASTED, Query, Rejected, image_sources, place, query
from engine.methods import METHODS
from engine.nets import build_backbone

SIZE = 16


def snapshot(channels: int = 3) -> EncoderSnapshot:
    augment = Augment(AugmentConfig(), SIZE, torch.full((channels,), 0.5), torch.full((channels,), 0.25))
    torch.manual_seed(0)
    method = METHODS["simclr"](build_backbone("convnet", channels, SIZE), METHODS["simclr"].Config(), augment)
    return EncoderSnapshot(method.eval(), "convnet", torch.device("cpu"), channels, step=0)


@pytest.fixture(scope="module")
def bank():
    data = generate(300, seed=1, image_size=SIZE)
    snap = snapshot()
    features = snap.embed(data.images)
    emb = Embedding(features, torch.arange(300), "train", data.labels, {}, [], {}, 0)
    return snap, emb, data.images


def test_a_dataset_image_finds_itself_first_and_sits_on_its_own_point(tmp_path, bank):
    snap, emb, images = bank
    for i in (5, 123):
        Image.fromarray(images[i].permute(1, 2, 0).numpy()).save(tmp_path / f"{i}.png")
    coordinates = np.random.default_rng(0).normal(size=(len(emb), 2)).astype(np.float32)
    results = query(snap, emb, [tmp_path / "5.png", tmp_path / "123.png"], coordinates, k=5)
    for i, result in zip((5, 123), results):
        assert isinstance(result, Query) and result.neighbours[0] == i
        assert result.similarities[0] > 0.999 and (result.similarities[:-1] >= result.similarities[1:]).all()
        assert result.image.shape == (3, SIZE, SIZE) and result.position.shape == (2,)
        assert np.linalg.norm(result.position - coordinates[i]) < np.linalg.norm(coordinates[i]) + 1.0


def test_placement_is_the_vote_weighted_mean_of_the_neighbours():
    coordinates = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], dtype=np.float32)
    equal = place(torch.tensor([[0.5, 0.5]]), torch.tensor([[1, 2]]), coordinates)
    assert np.allclose(equal, [[5.0, 5.0]])
    near_first = place(torch.tensor([[0.9, 0.5]]), torch.tensor([[1, 2]]), coordinates)
    assert near_first[0, 0] > 9.9 and near_first[0, 1] < 0.1


def test_bad_files_are_rejected_with_reasons_and_good_ones_still_answer(tmp_path, bank):
    snap, emb, images = bank
    sources = []
    for name, (data, _) in BAD_FILES.items():
        (tmp_path / name).write_bytes(data)
        sources.append(tmp_path / name)
    sources += [tmp_path / "absent.png", tmp_path, b"not an image"]
    Image.fromarray(images[7].permute(1, 2, 0).numpy()).save(tmp_path / "good.png")
    sources.append(tmp_path / "good.png")
    results = query(snap, emb, sources)
    assert len(results) == len(sources)
    for result, (name, (_, reason)) in zip(results, BAD_FILES.items()):
        assert isinstance(result, Rejected) and result.reason and reason in result.reason, name
    assert "cannot read file" in results[-4].reason and "not a regular file" in results[-3].reason
    assert results[-2] == Rejected(PASTED, "not an image")
    assert isinstance(results[-1], Query) and results[-1].neighbours[0] == 7


def unusual_images() -> dict[str, bytes]:
    grey16 = Image.fromarray(np.full((40, 30), 40000, dtype=np.uint16))
    palette = Image.new("P", (20, 20), 1)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 0, 255))]
    exif = Image.Exif()
    exif[0x0112] = 6
    return {"16-bit.png": encode(grey16, "PNG"),
            "cmyk.jpg": encode(Image.new("CMYK", (20, 20), (0, 255, 255, 0)), "JPEG"),
            "palette.png": encode(palette, "PNG", transparency=0),
            "animated.gif": encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50),
            "rotated.jpg": encode(Image.new("RGB", (60, 30), (0, 200, 0)), "JPEG", exif=exif.tobytes()),
            "big.png": encode(Image.new("RGB", (3000, 2000), (9, 9, 9)), "PNG")}


@pytest.mark.parametrize("channels", [3, 1])
def test_unusual_images_are_converted_for_the_encoder(tmp_path, channels):
    snap = snapshot(channels)
    emb = Embedding(torch.randn(40, snap.method.encoder.out_dim), torch.arange(40), "train", None, {}, [], {}, 0)
    for name, data in unusual_images().items():
        (tmp_path / name).write_bytes(data)
    results = query(snap, emb, image_sources([tmp_path]) + [unusual_images()["cmyk.jpg"]], k=3)
    assert len(results) == 7 and all(isinstance(r, Query) for r in results)
    assert all(r.image.shape == (channels, SIZE, SIZE) and r.image.dtype == torch.uint8 for r in results)
    assert results[-1].source == PASTED and results[0].position is None


def test_a_folder_gives_its_images_sorted_and_files_stay_as_given(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("b.png", "a.JPG", "notes.txt", "sub/c.webp"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in image_sources([tmp_path])] == ["a.JPG", "b.png", "c.webp"]
    assert image_sources([tmp_path / "notes.txt"]) == [tmp_path / "notes.txt"]
