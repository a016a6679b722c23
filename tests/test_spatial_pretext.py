"""Relative patch location and jigsaw puzzles: tiles come from where their label says, the permutation set is far
apart and reproducible, the shortcut switch opens the shortcuts, the loss is the cross entropy of the classifier,
the labels can be read from the pixels under the methods' own augmentation, short runs learn, bad grids are refused."""
from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from conftest import train_to_completion
from sklearn.linear_model import LogisticRegression

from engine import events
from engine.build import channel_stats
from engine.data import load_dataset
from engine.data.augment import Augment, AugmentConfig
from engine.methods import METHODS
from engine.methods.jigsaw import max_hamming_permutations
from engine.nets import build_backbone
from engine.run import RunConfig

# (row, column) step from the centre cell to the neighbour of each relative-position class: raster order
DIRECTIONS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]
SIZE = 32


def build(name: str, channels: int = 3, size: int = SIZE, backbone: str = "convnet", **options):
    method = METHODS[name]
    augment = Augment(AugmentConfig(), size, torch.zeros(channels), torch.ones(channels))
    return method(build_backbone(backbone, channels, size), method.Config(**options), augment)


def coordinate_view(n: int) -> torch.Tensor:
    """Images whose channel 0 holds each pixel's row and channel 1 its column."""
    rows = torch.arange(SIZE, dtype=torch.float).view(SIZE, 1).expand(SIZE, SIZE)
    return torch.stack([rows, rows.T, torch.zeros(SIZE, SIZE)]).expand(n, 3, SIZE, SIZE)


def tile_corners(tiles: torch.Tensor) -> torch.Tensor:
    """(n, k, 2) top-left (row, column) of raw tiles cut from a coordinate view, checked to be whole squares."""
    t = tiles.shape[-1]
    corners = tiles[:, :, :2, 0, 0]
    span = torch.arange(t, dtype=torch.float)
    assert torch.equal(tiles[:, :, 0], (corners[..., 0, None, None] + span.view(t, 1)).expand_as(tiles[:, :, 0]))
    assert torch.equal(tiles[:, :, 1], (corners[..., 1, None, None] + span.view(1, t)).expand_as(tiles[:, :, 1]))
    return corners.long()


def neighbour_offsets(method, n: int = 400) -> tuple[torch.Tensor, torch.Tensor]:
    tiles, labels, _, _ = method.cut_tiles(coordinate_view(n), torch.Generator().manual_seed(0))
    corners = tile_corners(tiles)
    assert corners.min() >= 0 and corners.max() <= SIZE - method.grid.size
    return corners[:, 1] - corners[:, 0], labels


def test_the_neighbour_tile_lies_in_the_direction_of_its_class():
    method = build("relative_patch")  # tile 8, gap 2, jitter 1
    offsets, labels = neighbour_offsets(method)
    assert set(labels.tolist()) == set(range(8))
    pitch, slack = 8 + 2, 2 * 1
    for offset, label in zip(offsets.tolist(), labels.tolist()):
        for step, direction in zip(offset, DIRECTIONS[label]):
            assert abs(step - direction * pitch) <= slack, (offset, label)
            assert direction == 0 or abs(step) >= 8 + 2 - slack  # never touching: a gap at least gap - 2 jitter


def test_jigsaw_input_k_is_the_tile_of_cell_permutation_k():
    method = build("jigsaw")
    tiles, labels, cells, _ = method.cut_tiles(coordinate_view(50), torch.Generator().manual_seed(0))
    corners = tile_corners(tiles)
    row_rank = corners[..., 0].argsort(1).argsort(1) // 3  # 3 tiles per grid row, whatever the jitter
    col_rank = corners[..., 1].argsort(1).argsort(1) // 3
    assert torch.equal(row_rank * 3 + col_rank, method.permutation_set[labels])
    assert torch.equal(cells, method.permutation_set[labels])


@pytest.mark.parametrize("count, bound", [(30, 7), (100, 6)])
def test_the_permutation_set_is_far_apart_and_reproducible(count, bound):
    perms = max_hamming_permutations(count, seed=0)
    assert perms.shape == (count, 9) and torch.equal(perms.sort(1).values, torch.arange(9).expand(count, 9))
    distance = (perms[:, None] != perms[None]).sum(-1) + 9 * torch.eye(count, dtype=torch.long)
    assert distance.min() >= bound  # greedy max-min: 7 for 30 of the 9! permutations, 6 for 100
    assert torch.equal(perms, max_hamming_permutations(count, seed=0))
    assert not torch.equal(perms, max_hamming_permutations(count, seed=1))
    method = build("jigsaw", permutations=count)
    assert torch.equal(method.state_dict()["permutation_set"], perms)  # a buffer: the checkpoint keeps it


def test_the_shortcut_switch_removes_gaps_jitter_and_the_tile_treatment():
    closed, open_ = build("relative_patch", colour="drop"), build("relative_patch", colour="drop", shortcuts=True)
    offsets, labels = neighbour_offsets(open_)
    assert torch.equal(offsets, torch.tensor(DIRECTIONS)[labels] * 8)  # adjacent tiles, no jitter
    offsets, labels = neighbour_offsets(closed)
    right = offsets[labels == 4]
    assert len(set(map(tuple, right.tolist()))) > 1 and right[:, 1].min() >= 8  # jittered, with a gap

    tiles = torch.rand(64, 2, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 3 + 1
    rng = torch.Generator().manual_seed(0)
    assert torch.equal(open_.treat(tiles, rng), tiles)
    treated = closed.treat(tiles, rng)
    kept = treated.std(dim=(-2, -1)) > 0.5  # (64, 2, 3): the one channel kept per tile, normalised
    assert torch.equal(kept.sum(2), torch.ones(64, 2, dtype=torch.long))
    assert treated.mean(dim=(-2, -1)).abs()[kept].max() < 1e-5 and treated.std(dim=(-2, -1))[~kept].max() < 0.05
    assert kept.float().mean(dim=(0, 1)).min() > 0.2  # each channel is kept sometimes


@pytest.mark.parametrize("name", ["relative_patch", "jigsaw"])
def test_the_loss_is_the_cross_entropy_of_the_classifier_on_the_tiles(name):
    method = build(name)
    images = torch.randint(0, 256, (16, 3, SIZE, SIZE), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    out = method.training_step(images, torch.Generator().manual_seed(1))
    puzzle = method.puzzle(images, torch.Generator().manual_seed(1))
    features, logits = method.classify(puzzle.inputs)
    assert logits.shape == (16, method.classes) and out.features.shape == (16, method.backbone.out_dim)
    expected = -logits.log_softmax(1)[torch.arange(16), puzzle.labels].mean()
    assert torch.allclose(out.loss, expected, atol=1e-5)
    assert out.logs["pretext_acc"] == (logits.argmax(1) == puzzle.labels).float().mean().item()
    gray = build(name, channels=1, colour="drop")  # colour treatment skipped for one channel
    assert torch.isfinite(gray.training_step(images[:, :1], torch.Generator().manual_seed(1)).loss)


def pairwise_products(inputs: torch.Tensor) -> torch.Tensor:
    """Products of every two tiles' 4x4-pooled pixels: the labels relate tiles to each other, and the per-tile
    normalisation leaves plain pixels no first-order cue (a linear classifier on them scores at chance)."""
    n, k = inputs.shape[:2]
    pooled = F.avg_pool2d(inputs.flatten(0, 1), 4).reshape(n, k, -1)
    i, j = torch.triu_indices(k, k, 1)
    return torch.einsum("npa,npb->npab", pooled[:, i], pooled[:, j]).flatten(1)


@pytest.mark.parametrize("name, above", [("relative_patch", 0.17), ("jigsaw", 0.1)])
def test_a_raw_pixel_classifier_reads_the_label_under_the_methods_own_augmentation(name, above):
    dataset = load_dataset("shapes", {"train_size": 2000, "test_size": 1})
    cfg = RunConfig.with_method_defaults({"method": name, "dataset": "shapes"})  # shapes' augmentation + the method's
    method = METHODS[name](build_backbone("convnet", 3, SIZE), cfg.method_config(),
                           Augment(cfg.augment_config(), SIZE, *channel_stats(dataset.train.images)))
    puzzle = method.puzzle(dataset.train.images, torch.Generator().manual_seed(0))
    x, y = pairwise_products(puzzle.inputs).numpy(), puzzle.labels.numpy()
    classifier = LogisticRegression(C=0.01, max_iter=500).fit(x[:1500], y[:1500])
    assert classifier.score(x[1500:], y[1500:]) > above  # chance: 1/8 and 1/30


@pytest.mark.parametrize("name, batch, above", [("relative_patch", 128, 0.155), ("jigsaw", 32, 0.1)])
def test_a_short_run_learns_the_puzzle(tmp_path, name, batch, above):
    small = {"dataset": "shapes", "dataset_options": {"train_size": 512, "test_size": 256, "image_size": SIZE},
             "method": name, "steps": 80, "batch_size": batch, "minutes": 0.0, "eval_bank": 512, "eval_queries": 256,
             "preview_every_s": 0.0, "checkpoint_every_s": 0.0, "device": "cpu", "warmup_steps": 5,
             "eval_every_s": 0.0}
    session, seen = train_to_completion(RunConfig.with_method_defaults(small), tmp_path)
    losses = [loss for e in seen if isinstance(e, events.Step) for loss in e.losses]
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    accuracy = [row["pretext_acc"] for row in rows if "loss" in row]
    assert len(losses) == 80 and all(math.isfinite(x) for x in losses)
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10
    assert sum(accuracy[-20:]) / 20 > above, accuracy[-20:]  # chance: 1/8 and 1/30
    final = [e for e in seen if isinstance(e, events.Eval) and e.final][0]
    assert all(math.isfinite(v) for v in final.scores.values())
    preview = session.method.preview(session.dataset.test.images[:3], torch.Generator().manual_seed(0))
    assert len(preview.rows) == 3 and len({tuple(tile.shape) for row in preview.rows for tile in row}) == 1
    assert all(row[-1][-1] in "✓✗" for row in preview.captions)


@pytest.mark.parametrize("name", ["relative_patch", "jigsaw"])
def test_a_grid_that_does_not_fit_is_refused_with_a_clear_message(name):
    with pytest.raises(ValueError, match=r"tile_size 8, gap 2 and jitter 1 need a 30 px view .* views are 16 px"):
        build(name, size=16)
    with pytest.raises(ValueError, match="tile_size 4 px is too small for the ConvNet backbone"):
        build(name, size=16, tile_size=4, gap=1)
    assert build(name, size=16, backbone="resnet18", tile_size=4, gap=1).grid.extent == 16


def test_the_evaluated_encoder_sees_whole_images_normalised_as_the_tiles_were():
    augment = Augment(AugmentConfig(), 32, torch.zeros(3), torch.ones(3))
    x = torch.rand(4, 3, 32, 32)
    for name in ("relative_patch", "jigsaw"):
        method = METHODS[name](build_backbone("convnet", 3, 32), METHODS[name].Config(), augment).eval()
        shifted = x * 3.0 + 1.5  # brightness and contrast per image: the per-tile normalisation removes both
        assert torch.allclose(method.encoder(x), method.encoder(shifted), atol=1e-4)
        assert method.encoder.feature_map(x).shape == method.backbone.feature_map(x).shape
        opened = METHODS[name](method.backbone, METHODS[name].Config(shortcuts=True), augment)
        assert opened.encoder is method.backbone  # no normalisation in training, none in evaluation
