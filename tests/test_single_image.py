"""The single_image source: distinct crops of the one image, drawn by the seed, from a dataset's image or a file; a
bad file or setting refused in one sentence; a run on it evaluated on the source dataset, beside a run on the whole
source dataset in the runs table."""
from __future__ import annotations

import math

import pytest
import torch
from conftest import train_to_completion
from PIL import Image

from engine import events
from engine.build import RunConfig
from engine.data import DatasetUnavailable, load_dataset
from engine.data.single_image import random_crops
from engine.explore.report import runs_table

SOURCE = {"train_size": 512, "test_size": 256, "image_size": 16}
SOURCE_OPTIONS = "train_size=512, test_size=256, image_size=16"


def single(**options):
    return load_dataset("single_image", {"source_options": SOURCE_OPTIONS, "crops": 300, **options})


def test_the_training_split_is_distinct_crops_of_the_chosen_image_drawn_by_the_seed():
    data, again, other_seed, other_image = single(), single(), single(seed=1), single(index=1)
    crops = data.train.images
    assert crops.shape == (300, 3, 16, 16) and data.train.labels is None
    assert len(crops.flatten(1).unique(dim=0)) == 300
    assert torch.equal(crops, again.train.images) and not torch.equal(crops, other_seed.train.images)
    source = load_dataset("shapes", SOURCE)
    # crops of image 0, not of image 1: the crops' pixel colours lie near image 0's colours, far from image 1's
    def distance(crops, image):
        return torch.cdist(crops.float().movedim(1, -1).reshape(-1, 3), image.float().flatten(1).T).min(1).values.mean()

    first, second = source.train.images[0], source.train.images[1]
    assert distance(crops, first) < 5 < 20 < distance(crops, second)
    assert distance(other_image.train.images, second) < 5 < 20 < distance(other_image.train.images, first)
    assert torch.equal(data.test.images, source.test.images) and torch.equal(data.test.labels, source.test.labels)
    assert torch.equal(data.reference.images, source.train.images) and data.class_names == source.class_names


def test_every_crop_shows_only_the_image():
    image = torch.zeros(3, 64, 64, dtype=torch.uint8)
    image[0, :, :32] = 255  # red left, blue right: no crop can hold green
    image[2, :, 32:] = 255
    crops = random_crops(image, 200, 16, 0.05, seed=0)
    assert crops.shape == (200, 3, 16, 16) and crops[:, 1].max() == 0
    assert (crops[:, 0].float().mean(dim=(1, 2)) > 128).any() and (crops[:, 2].float().mean(dim=(1, 2)) > 128).any()
    with pytest.raises(DatasetUnavailable, match="only 1 distinct crops of the 10 asked for"):
        random_crops(torch.full((3, 16, 16), 7, dtype=torch.uint8), 10, 16, 0.05, seed=0)


def test_a_file_is_the_single_image_at_the_source_datasets_size_and_channels(tmp_path):
    path = tmp_path / "photo.png"
    pixels = torch.zeros(40, 60, 3, dtype=torch.uint8)
    pixels[:, :30, 0] = 255
    pixels[:, 30:, 1] = 255
    Image.fromarray(pixels.numpy()).save(path)
    data = single(path=str(path))
    assert data.train.images.shape == (300, 3, 16, 16) and data.train.images[:, 2].max() == 0
    gray = load_dataset("single_image", {"path": str(path), "source_dataset": "digits", "crops": 50})
    assert gray.train.images.shape == (50, 1, 8, 8) and gray.test.images.shape[1:] == (1, 8, 8)


@pytest.mark.parametrize("content, reason", [
    (None, "cannot read file (No such file or directory)"),
    (b"not an image at all", "not an image"),
    ("truncated", "truncated image data"),
])
def test_a_bad_file_is_refused_in_one_sentence(tmp_path, content, reason):
    path = tmp_path / "bad.png"
    if content == "truncated":
        Image.new("RGB", (64, 64), (200, 30, 30)).save(path)
        content = path.read_bytes()[:60]
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DatasetUnavailable) as caught:
        single(path=str(path))
    message = str(caught.value)
    assert message == f"{path} cannot be used as the single image: {reason}."


@pytest.mark.parametrize("options, words", [
    ({"source_dataset": "nope"}, "source_dataset must be one of"),
    ({"source_dataset": "single_image"}, "source_dataset must be one of"),
    ({"source_options": "train_size"}, "NAME=VALUE settings separated by commas, not 'train_size'"),
    ({"source_options": "colour=3"}, "ShapesConfig has no setting"),
    ({"source_options": SOURCE_OPTIONS, "index": 512}, "index 512 is outside shapes's training split of 512"),
])
def test_bad_settings_are_refused_in_one_sentence(options, words):
    with pytest.raises(ValueError, match=words) as caught:
        load_dataset("single_image", options)
    assert "\n" not in str(caught.value)


def test_a_run_on_the_crops_uses_the_source_datasets_augmentation():
    single_image = RunConfig(dataset="single_image", dataset_options={"source_options": "upright=true"})
    assert single_image.augment_defaults() == RunConfig(dataset_options={"upright": True}).augment_defaults()
    assert RunConfig(dataset="single_image").augment_defaults()["rotate_degrees"] == 180.0


def test_simclr_on_one_image_is_evaluated_on_the_source_and_listed_beside_a_full_run(tmp_path, tiny_run, qtbot):
    base = {**tiny_run, "steps": 12, "final_eval": True, "preview_every_s": 0.0}
    full_cfg = RunConfig.with_method_defaults(base)
    one_cfg = RunConfig.with_method_defaults({**base, "dataset": "single_image", "dataset_options": {
        "source_options": SOURCE_OPTIONS, "crops": 512}})
    train_to_completion(full_cfg, tmp_path / "full")
    session, seen = train_to_completion(one_cfg, tmp_path / "one")
    assert session.probe is None  # the crops have no labels for the online probe
    steps = [e for e in seen if isinstance(e, events.Step)]
    assert all(math.isfinite(x) for e in steps for x in e.losses) and "online_probe_acc" not in steps[-1].logs
    final = next(e for e in seen if isinstance(e, events.Eval) and e.final)
    assert {"knn", "probe"} <= set(final.scores) and set(final.baselines) == {"raw", "random"}
    rows = {summary.run_dir.name: summary for summary in runs_table(tmp_path)}
    assert rows["one"].data == rows["full"].data and rows["one"].dataset == "single_image"
    assert rows["full"].dataset == "shapes"
    # the random network scores the same split in both runs
    assert rows["one"].baselines["random"] == rows["full"].baselines["random"]
    from gui.eval_panel import RUN_COLUMNS, RunsView

    view = RunsView()
    qtbot.addWidget(view)
    view.run_dir = tmp_path / "one"
    view._show(runs_table(tmp_path))
    trained_on, random_probe = RUN_COLUMNS.index("trained on"), RUN_COLUMNS.index("random probe")
    assert sorted(view.table.item(r, trained_on).text() for r in range(2)) == ["shapes", "single_image"]
    assert view.table.item(0, random_probe).text() == f"{100 * rows['one'].baselines['random']['probe']:.1f}%"
