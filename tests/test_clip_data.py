"""CLIP's data: varied shapes captions that state only true attributes, held-out compositions, one-attribute hard
negatives, and captioned image folders (captions.tsv, sidecar .txt files, the uncaptioned reported by file)."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.linear_model import LogisticRegression

from engine.config import from_dict
from engine.data import load_dataset
from engine.data.shape_captions import read_caption, swap_attribute
from engine.data.shapes import COLORS, SHAPES, ShapesConfig, generate, load_shapes
from engine.errors import DatasetUnavailable


@pytest.fixture(scope="module")
def scenes():
    return generate(3000, seed=5, image_size=16)


def test_varied_captions_state_only_true_attributes_and_always_the_shape(scenes):
    for i, text in enumerate(scenes.captions):
        stated = read_caption(text)
        assert "shape" in stated, text
        assert all(scenes.attributes[name][i] == value for name, value in stated.items()), (text, stated)


def test_captions_vary_in_templates_synonyms_word_order_and_what_they_leave_out(scenes):
    captions = scenes.captions
    stated = [read_caption(text) for text in captions]
    assert len(set(captions)) > 0.5 * len(captions)
    for name, share in (("color", 0.9), ("size", 0.5), ("hpos", 0.5), ("background", 0.5)):
        assert abs(np.mean([name in s for s in stated]) - share) < 0.05, name
    assert any(text == f"{c} {s}" for text in captions for c in COLORS for s in SHAPES)  # "red star"
    assert any(", " in text and text.split(", ")[0].split()[-1] in SHAPES for text in captions)  # "a star, red, ..."
    assert any(text.startswith(("on the", "at the", "in the")) for text in captions)  # the place first
    assert any(" behind " in text for text in captions)
    assert {"disc", "donut", "moon", "violet", "big", "tiny"} <= {w for text in captions for w in text.split()}
    # the same attributes, said in different ways
    red_stars = {text for text, s in zip(captions, stated) if s.get("color") == 0 and s["shape"] == 4}
    assert len(red_stars) >= 5


def test_fixed_captions_remain_a_setting():
    fixed = generate(20, seed=5, image_size=16, captions="fixed")
    varied = generate(20, seed=5, image_size=16)
    assert torch.equal(fixed.images, varied.images) and fixed.captions != varied.captions
    assert all(" over " in text for text in fixed.captions)


def test_the_colour_a_caption_names_can_be_read_from_raw_pixels():
    train, test = generate(1500, seed=1, image_size=16), generate(500, seed=2, image_size=16)

    def named_colour(split):
        return np.array([read_caption(text).get("color", -1) for text in split.captions])

    def pixels(split):  # 4 x 4 pixel averages per channel
        return torch.nn.functional.avg_pool2d(split.images.float() / 255, 4).flatten(1).numpy()

    y_train, y_test = named_colour(train), named_colour(test)
    classifier = LogisticRegression(max_iter=2000).fit(pixels(train)[y_train >= 0], y_train[y_train >= 0])
    accuracy = (classifier.predict(pixels(test)[y_test >= 0]) == y_test[y_test >= 0]).mean()
    assert accuracy > 2 / len(COLORS)  # chance is 1/8


def test_held_out_compositions_never_appear_in_training_but_do_in_test():
    data = load_shapes(ShapesConfig(train_size=2000, test_size=1000, image_size=16, held_out="red star, blue ring"))
    held = {(SHAPES.index("star"), 0), (SHAPES.index("ring"), 5)}

    def pairs(split):
        return set(zip(split.attributes["shape"].tolist(), split.attributes["color"].tolist()))

    assert not pairs(data.train) & held and held <= pairs(data.test)
    assert not any(read_caption(t).get("color") == 0 and read_caption(t)["shape"] == 4 for t in data.train.captions)
    # the test split is the one drawn without the option
    plain = load_shapes(ShapesConfig(train_size=2000, test_size=1000, image_size=16))
    assert torch.equal(plain.test.images, data.test.images)


@pytest.mark.parametrize("held_out, message", [("red stars", "is not a colour and a shape"),
                                               ("teal star", "is not a colour and a shape"),
                                               (", ".join(f"{c} star" for c in COLORS), "every colour of star")])
def test_a_bad_held_out_list_is_refused_in_one_sentence(held_out, message):
    with pytest.raises(ValueError, match=message):
        from_dict(ShapesConfig, {"held_out": held_out})


def test_a_hard_negative_differs_from_its_caption_in_exactly_one_attribute(scenes):
    rng = random.Random(0)
    for text in scenes.captions[:500]:
        swapped = swap_attribute(text, rng)
        before, after = read_caption(text), read_caption(swapped)
        assert set(before) == set(after)
        assert sum(before[k] != after[k] for k in before) == 1, (text, swapped)
        assert " a a" not in swapped and not any(f" a {v}" in f" {swapped}" for v in "aeiou")
    assert swap_attribute("a photo", rng) is None


def write_image(path, colour) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (20, 20), colour).save(path)


def test_folder_captions_come_from_captions_tsv_or_sidecar_files_and_the_rest_is_reported(tmp_path):
    for name in ("a.png", "b.png", "c.png", "d.png", "e.png", "f.png"):
        write_image(tmp_path / name, (200, 10, 10))
    (tmp_path / "captions.tsv").write_text("file\tcaption\na.png\ta red square\nb.png\t \n", encoding="utf-8")
    (tmp_path / "c.txt").write_text("a red\nsquare, again\n", encoding="utf-8")
    (tmp_path / "a.txt").write_text("ignored: the TSV wins", encoding="utf-8")
    (tmp_path / "d.txt").write_text("", encoding="utf-8")
    (tmp_path / "e.txt").write_bytes(b"\xff\xfe caf\xe9")
    options = {"path": str(tmp_path), "image_size": 16, "test_fraction": 0.0}

    everything = load_dataset("folder", options)
    assert sorted(everything.train.captions) == ["", "", "", "", "a red square", "a red square, again"]
    assert not everything.skipped

    captioned = load_dataset("folder", {**options, "captioned_only": True})
    assert sorted(captioned.train.captions) == ["a red square", "a red square, again"]
    reasons = {path.rsplit("/", 1)[-1]: why for path, why in captioned.skipped}
    assert set(reasons) == {"b.png", "d.png", "e.png", "f.png"}
    assert "empty caption" in reasons["b.png"] and "is empty" in reasons["d.png"]
    assert "not UTF-8" in reasons["e.png"] and "no caption" in reasons["f.png"]


def test_a_folder_without_any_caption_is_refused_for_captioned_training(tmp_path):
    write_image(tmp_path / "a.png", (0, 0, 200))
    with pytest.raises(DatasetUnavailable, match="has a caption"):
        load_dataset("folder", {"path": str(tmp_path), "captioned_only": True})
    assert load_dataset("folder", {"path": str(tmp_path)}).train.captions is None
