"""Exemplar-CNN and CPC: the CPC loss against a loop over every prediction, its context's causality and its patch
encoder free of batch statistics; Exemplar's seed classes and the surrogate label a raw-pixel classifier can read;
short runs of both end to end, an exact resume, and bad settings refused in one sentence."""
from __future__ import annotations

import math

import pytest
import torch
from conftest import train_to_completion
from sklearn.linear_model import LogisticRegression
from torch import nn

from engine import events
from engine.build import RunConfig, build
from engine.data.augment import Augment, AugmentConfig
from engine.losses import cpc_infonce
from engine.methods import METHODS
from engine.methods.cpc import grid_margin
from engine.nets import build_backbone

SHAPES_16 = {"train_size": 512, "test_size": 256, "image_size": 16}


def cpc_loss_by_loops(predictions, z, candidates):
    """The CPC loss and per-offset hits, one prediction and one negative at a time."""
    b, g, _, d = z.shape
    flat = z.reshape(-1, d)
    offset_losses, offset_hits = [], []
    for k, predicted in enumerate(predictions, start=1):
        losses, hits = [], torch.zeros(b, g - k, g, dtype=torch.bool)
        for n in range(b):
            for i in range(g - k):
                for j in range(g):
                    p = predicted[n, i, j]
                    positive_row = n * g * g + (i + k) * g + j
                    positive = float(p @ z[n, i + k, j])
                    negatives = [float(p @ flat[c]) for c in candidates if c != positive_row]
                    denominator = math.exp(positive) + sum(math.exp(s) for s in negatives)
                    losses.append(-math.log(math.exp(positive) / denominator))
                    hits[n, i, j] = positive > max(negatives, default=-math.inf)
        offset_losses.append(sum(losses) / len(losses))
        offset_hits.append(hits)
    return sum(offset_losses) / len(offset_losses), offset_hits


@pytest.mark.parametrize("subset", [False, True])
def test_the_cpc_loss_equals_a_loop_over_predictions_and_negatives(subset):
    g = torch.Generator().manual_seed(0)
    b, grid, d = 2, 4, 5
    z = torch.randn(b, grid, grid, d, generator=g)
    # predictions near their positives, so that some find them and some do not
    predictions = [z[:, k:] + 1.5 * torch.randn(b, grid - k, grid, d, generator=g) for k in (1, 2)]
    candidates = torch.randperm(b * grid * grid, generator=g)[:9] if subset else None
    loss, hits = cpc_infonce(predictions, z, candidates)
    every = range(b * grid * grid) if candidates is None else candidates.tolist()
    expected_loss, expected_hits = cpc_loss_by_loops(predictions, z, every)
    assert loss.item() == pytest.approx(expected_loss, rel=1e-5)
    assert all(torch.equal(h, e) for h, e in zip(hits, expected_hits))
    assert 0 < sum(h.sum() for h in hits) < sum(h.numel() for h in hits)  # the test sees hits and misses


def cpc(size: int = 32, backbone: str = "convnet", channels: int = 3, **options):
    augment = Augment(AugmentConfig(), size, torch.zeros(channels), torch.ones(channels))
    return METHODS["cpc"](build_backbone(backbone, channels, size), METHODS["cpc"].Config(**options), augment)


def test_the_context_of_a_row_does_not_depend_on_the_rows_below():
    torch.manual_seed(0)
    method = cpc()  # 7x7 grid of 8 px patches every 4 px
    z = torch.randn(2, 7, 7, method.backbone.out_dim)
    changed = z.clone()
    changed[:, 4:] += torch.randn_like(changed[:, 4:])
    c, c_changed = method.context(z), method.context(changed)
    assert torch.allclose(c[:, :4], c_changed[:, :4], atol=1e-6)
    assert not torch.allclose(c[:, 4], c_changed[:, 4])
    # from pixels, in training mode: rows 0-3 (pixels 0-19) keep their embeddings and contexts when pixels 20 and
    # below change, so nothing (no batch statistics) carries the rows to be predicted into them
    x = torch.randn(3, 3, 32, 32)
    x_changed = x.clone()
    x_changed[:, :, 20:] = torch.randn_like(x_changed[:, :, 20:])
    method.train()
    (z1, p1), (z2, p2) = method.predict(x), method.predict(x_changed)
    assert torch.allclose(z1[:, :4], z2[:, :4], atol=1e-5) and not torch.allclose(z1[:, 4:], z2[:, 4:])
    assert torch.allclose(p1[0][:, :4], p2[0][:, :4], atol=1e-5)


@pytest.mark.parametrize("backbone", ["convnet", "resnet18"])
def test_the_patch_encoder_has_no_batch_norm(backbone):
    method = cpc(backbone=backbone)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in method.modules())
    assert any(isinstance(m, nn.GroupNorm) for m in method.backbone.modules())
    features = method.encoder(torch.randn(2, 3, 32, 32))  # a whole image -> one vector: the patches' mean
    assert features.shape == (2, method.backbone.out_dim)
    assert method.encoder.feature_map(torch.randn(2, 3, 30, 30)).shape[-2:] == (6, 6)  # centred in a 30 px image
    assert grid_margin(30, 8, 4) == 1


@pytest.mark.parametrize("options, words", [
    ({"patch_stride": 5}, r"choose a patch_stride that divides 24 \(e.g. 1, 2, 3, 4, 6, 8\)"),
    ({"predict_rows": 7}, "predict_rows 7 needs at least 8 rows"),
    ({"patch_size": 40}, "patch_size 40 is larger than the 32 px"),
    ({"patch_size": 4, "patch_stride": 4}, "cannot encode 4 px patches"),
])
def test_bad_cpc_settings_are_refused_in_one_sentence(options, words):
    with pytest.raises(ValueError, match=words) as caught:
        cpc(**options)
    assert "\n" not in str(caught.value)


def test_an_image_too_small_for_two_rows_asks_for_smaller_patches():
    with pytest.raises(ValueError, match=r"give 1 in the 8 px views: lower the patch_size or patch_stride$"):
        cpc(size=8)


def exemplar_run(seed: int, seeds: int = 50) -> object:
    cfg = RunConfig.with_method_defaults({"method": "exemplar", "dataset_options": SHAPES_16, "seed": seed,
                                          "method_options": {"seed_images": seeds}})
    built = build(cfg)
    built.method.prepare_data(built.dataset.train)
    return built


def test_exemplar_seed_classes_are_distinct_training_images_drawn_by_the_seed():
    first, again, other = exemplar_run(0), exemplar_run(0), exemplar_run(1)
    rows = first.method.seed_rows
    assert len(rows.unique()) == 50 and torch.equal(rows, again.method.seed_rows)
    assert not torch.equal(rows, other.method.seed_rows)
    assert torch.equal(first.method.seed_pixels, first.dataset.train.images[rows])
    assert len(first.method.seed_pixels.flatten(1).unique(dim=0)) == 50
    assert first.method.classifier.out_features == 50
    with pytest.raises(ValueError, match="seed_images 600 is more than the 512 training images"):
        exemplar_run(0, seeds=600)


def test_a_view_is_labelled_by_its_seed_image_and_raw_pixels_tell_which():
    built = exemplar_run(0, seeds=10)
    method = built.method
    rows = method.batch_indices(0, torch.arange(900), None)
    labels = method.batch_labels
    assert torch.equal(rows, method.seed_rows[labels])
    assert torch.equal(method.batch_indices(0, torch.arange(900), None), rows)  # the same step, the same seeds
    views = method.augment(built.dataset.train.images[rows], torch.Generator().manual_seed(0))
    assert labels.min() >= 0 and labels.max() < 10 and len(labels.unique()) == 10
    identity = METHODS["exemplar"](method.backbone, method.config, Augment(
        AugmentConfig(crop_scale_min=1.0, crop_ratio=1.0, flip_p=0.0, jitter_p=0.0, grayscale_p=0.0), 16,
        built.augment.mean, built.augment.std))
    identity.seed_rows.copy_(method.seed_rows)
    exact_rows = identity.batch_indices(1, torch.arange(20), None)
    exact = identity.augment(built.dataset.train.images[exact_rows], torch.Generator().manual_seed(1))
    assert torch.allclose(exact, built.augment.prepare(method.seed_pixels[identity.batch_labels]), atol=1e-4)
    x = views.flatten(1).numpy()
    classifier = LogisticRegression(max_iter=2000).fit(x[:600], labels[:600].numpy())
    assert classifier.score(x[600:], labels[600:].numpy()) > 0.3  # chance: 0.1


def train(tmp_path, tiny_run, method: str, steps: int, **options):
    cfg = RunConfig.with_method_defaults({**tiny_run, "method": method, "steps": steps, "warmup_steps": 5,
                                          "method_options": options})
    return train_to_completion(cfg, tmp_path / method)


@pytest.mark.parametrize("method, options, logged", [
    ("exemplar", {"seed_images": 64}, {"pretext_acc", "online_probe_acc"}),
    ("cpc", {}, {"pretext_acc", "acc_k1", "acc_k2", "online_probe_acc"}),
])
def test_a_short_run_lowers_the_loss_and_previews_the_task(tmp_path, tiny_run, method, options, logged):
    steps = 60
    session, seen = train(tmp_path, tiny_run, method, steps, **options)
    step_events = [e for e in seen if isinstance(e, events.Step)]
    losses = [loss for e in step_events for loss in e.losses]
    assert len(losses) == steps and all(math.isfinite(x) for x in losses)
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10
    logs = step_events[-1].logs
    assert logged <= set(logs) and all(0 <= logs[k] <= 1 for k in logged)
    assert any(isinstance(e, events.Eval) and math.isfinite(e.scores["knn"]) for e in seen)
    preview = session.method.preview(session.dataset.test.images[:2], torch.Generator().manual_seed(0))
    assert len(preview.rows) == 2 and len({tuple(t.shape) for row in preview.rows for t in row}) == 1
    assert all(len(c) == len(r) for c, r in zip(preview.captions, preview.rows))


def test_a_resumed_exemplar_run_draws_the_same_seeds_and_equals_an_uninterrupted_one(whole_and_resumed, tiny_run):
    cfg = RunConfig.with_method_defaults({**tiny_run, "method": "exemplar", "steps": 10, "eval_every_s": 0.0,
                                          "preview_every_s": 0.0, "method_options": {"seed_images": 40}})
    a, b = whole_and_resumed(cfg)
    assert "model.seed_rows" in a and "model.seed_pixels" in a
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith("model."))
