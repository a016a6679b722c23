"""Dense descriptors (Dense Object Nets): the pixelwise contrastive loss and the best-match accuracy against
loop-by-loop computations, the warped pairs' correspondences on a noise image, non-matches that are never matches,
the object masks in the sampling, a short run end to end, an exact resume and the refused backbone."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import train_to_completion

import engine.methods.dense_descriptors as module
from engine import events
from engine.build import build
from engine.data.warp_pairs import make_pairs, sample_at, sample_matches, sample_non_matches
from engine.eval.correspondence import best_matches, descriptor_rgb, distance_map, within_tolerance
from engine.losses import pixelwise_contrastive_loss
from engine.run import RunConfig

SMALL = {"dataset": "shapes", "dataset_options": {"train_size": 256, "test_size": 64, "image_size": 16},
         "method": "dense_descriptors", "batch_size": 8, "minutes": 0.0, "device": "cpu", "eval_bank": 256,
         "eval_queries": 64, "preview_every_s": 0.0, "checkpoint_every_s": 0.0, "eval_every_s": 0.0,
         "final_eval": False, "warmup_steps": 5}


def g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def smooth_noise(n: int, size: int, seed: int) -> torch.Tensor:
    """Images (n, 3, size, size) in [0, 1] whose colours change smoothly, so bilinear reads are near exact."""
    return F.interpolate(torch.rand(n, 3, 6, 6, generator=g(seed)), size=(size, size), mode="bicubic",
                         align_corners=False).clamp(0, 1)


def disc_masks(n: int, size: int) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    return ((x - size / 2) ** 2 + (y - size / 2) ** 2 < (size / 4) ** 2).expand(n, -1, -1)


def test_the_loss_matches_the_papers_sums_computed_pixel_by_pixel():
    d, size = 5, 6
    desc_a, desc_b = torch.randn(d, size, size, generator=g(0)), torch.randn(d, size, size, generator=g(1)) * 0.3
    matches = [((1, 2), (2, 2)), ((0, 5), (1, 4)), ((3, 3), (3, 3))]  # ((x_a, y_a), (x_b, y_b))
    non_matches = [((1, 2), (5, 0)), ((0, 5), (2, 1)), ((3, 3), (0, 0)), ((4, 4), (4, 0))]

    def distance(ua, ub):
        return math.sqrt(sum((desc_a[c, ua[1], ua[0]].item() - desc_b[c, ub[1], ub[0]].item()) ** 2
                             for c in range(d)))

    def rows(pairs, side):
        desc = desc_a if side == 0 else desc_b
        points = torch.tensor([[p[side] for p in pairs]], dtype=torch.float)
        return sample_at(desc[None], points)[0]  # the method's read of descriptors at pixels

    for margin in (0.5, 2.0, 4.0):
        for hard in (False, True):
            hinges = [max(0.0, margin - distance(a, b)) ** 2 for a, b in non_matches]
            expected_matches = sum(distance(a, b) ** 2 for a, b in matches) / len(matches)
            count = sum(h > 0 for h in hinges) if hard else len(hinges)
            expected_non = sum(hinges) / max(count, 1)
            loss, lm, lnm = pixelwise_contrastive_loss(rows(matches, 0), rows(matches, 1), rows(non_matches, 0),
                                                       rows(non_matches, 1), margin, hard)
            assert lm.item() == pytest.approx(expected_matches, rel=1e-5)
            assert lnm.item() == pytest.approx(expected_non, rel=1e-5, abs=1e-7)
            assert loss.item() == pytest.approx(expected_matches + expected_non, rel=1e-5)


def test_a_pixels_match_in_the_other_view_holds_the_same_colour():
    images = smooth_noise(6, 32, 0)
    pair = make_pairs(images, None, max_degrees=60, max_scale=1.3, max_shift=0.15, rng=g(1))
    assert not torch.allclose(pair.view_a, pair.view_b)  # a real warp
    points_a, points_b = sample_matches(pair, 200, g(2))
    assert torch.equal(points_a, points_a.round()) and not torch.equal(points_b, points_b.round())
    assert torch.allclose(pair.to_a(points_b), points_a, atol=1e-4)
    x, y = points_a[..., 0].long(), points_a[..., 1].long()
    colour_a = torch.stack([pair.view_a[i, :, y[i], x[i]].T for i in range(len(images))])  # (N, K, 3) direct
    colour_b = sample_at(pair.view_b, points_b)
    error = (colour_a - colour_b).abs().mean()
    shifted = (colour_a - sample_at(pair.view_b, points_b + torch.tensor([3.0, 0.0]))).abs().mean()
    assert error < 0.01 and shifted > 5 * error, (error, shifted)
    assert ((points_b >= 0) & (points_b <= 31)).all()  # every match lies where view B reads real pixels


def test_matches_lie_on_the_object_and_non_matches_are_never_matches():
    images, masks = smooth_noise(4, 24, 3), disc_masks(4, 24)
    pair = make_pairs(images, masks, max_degrees=45, max_scale=1.2, max_shift=0.1, rng=g(4))
    points_a, points_b = sample_matches(pair, 64, g(5))
    assert sample_at(pair.object_a[:, None].float(), points_a, mode="nearest").min() == 1
    chosen, kept = sample_non_matches(pair, points_b, per_match=10, min_distance=2.0, rng=g(6))
    assert chosen.shape == (4, 64, 10, 2) and kept.float().mean() > 0.95
    distances = (chosen - points_b[:, :, None]).norm(dim=-1)
    assert (distances[kept] > 2.0).all()
    on_object = torch.stack([pair.object_b[i][chosen[i, ..., 1].long(), chosen[i, ..., 0].long()]
                             for i in range(4)])
    assert on_object[:, :, :5][kept[:, :, :5]].all() and not on_object[:, :, 5:][kept[:, :, 5:]].any()
    seen = torch.stack([pair.inside_b[i][chosen[i, ..., 1].long(), chosen[i, ..., 0].long()] for i in range(4)])
    assert seen.all()
    # a radius no pixel lies beyond: every draw is too close and dropped
    _, none_kept = sample_non_matches(pair, points_b, per_match=2, min_distance=100.0, rng=g(7))
    assert not none_kept.any()


def test_best_matches_and_the_accuracy_agree_with_a_search_over_every_pixel():
    n, d, h, w = 2, 4, 5, 7
    desc_a, desc_b = torch.randn(n, d, h, w, generator=g(0)), torch.randn(n, d, h, w, generator=g(1))
    points = torch.tensor([[[0, 0], [6, 4], [3, 2]], [[1, 3], [5, 0], [2, 2]]], dtype=torch.float)
    found = best_matches(desc_a, desc_b, points)
    truth = torch.tensor([[[1.0, 1.0], [6.0, 0.0], [0.0, 0.0]], [[2.5, 3.0], [5.0, 0.0], [6.0, 4.0]]])
    for i in range(n):
        for k, (x, y) in enumerate(points[i].long().tolist()):
            best = min(((xb, yb) for yb in range(h) for xb in range(w)),
                       key=lambda p: sum((desc_a[i, c, y, x] - desc_b[i, c, p[1], p[0]]).item() ** 2
                                         for c in range(d)))
            assert found[i, k].tolist() == [float(best[0]), float(best[1])]
            error = math.hypot(best[0] - truth[i, k, 0].item(), best[1] - truth[i, k, 1].item())
            assert within_tolerance(found, truth)[i, k].item() == (error <= 2.0)
            distances, match = distance_map(desc_a[i], desc_b[i], x, y)
            assert match == best and distances.shape == (h, w)
            assert distances[y, x].item() == pytest.approx((desc_a[i, :, y, x] - desc_b[i, :, y, x]).norm().item())
    rgb = descriptor_rgb(torch.cat([desc_a, desc_b]))
    assert rgb.dtype == torch.uint8 and rgb.shape == (2 * n, 3, h, w)
    assert descriptor_rgb(desc_a[:, :1]).shape == (n, 3, h, w)  # fewer than three dimensions: padded black


def test_a_short_run_lowers_the_loss_and_beats_raw_pixels_with_finite_scores(tmp_path):
    steps = 60
    cfg = RunConfig.with_method_defaults({**SMALL, "steps": steps, "eval_every_s": 1e6})  # one evaluation, at start
    session, seen = train_to_completion(cfg, tmp_path / "run")
    losses = [loss for e in seen if isinstance(e, events.Step) for loss in e.losses]
    assert len(losses) == steps and all(math.isfinite(x) for x in losses)
    assert sum(losses[-10:]) / 10 < 0.7 * sum(losses[:10]) / 10
    start = [e for e in seen if isinstance(e, events.Eval)][0].scores  # the untrained network is its own baseline
    assert start["match_2px"] == start["match_2px_random"] and "knn" in start
    method = session.method
    final = method.evaluation_scores(session.dataset, 0, True)  # as the final evaluation calls it
    assert set(final) == {"match_2px", "match_2px_random", "match_2px_raw"}
    assert all(math.isfinite(v) for v in final.values())
    assert final["match_2px"] > max(final["match_2px_raw"], start["match_2px"])
    images = session.dataset.test.images[:3]
    descriptors = method.descriptor_images(images)
    assert descriptors.shape == (3, method.config.descriptor_dim, 16, 16) and torch.isfinite(descriptors).all()
    preview = method.preview(images, g(0))
    assert len(preview.rows) == 3 and len({tuple(t.shape) for row in preview.rows for t in row}) == 1
    assert not any(k.startswith("_untrained") for k in method.state_dict())  # the baseline stays out of checkpoints


def test_training_samples_the_batchs_object_masks(monkeypatch):
    cfg = RunConfig.with_method_defaults({**SMALL, "steps": 1})
    built = build(cfg)
    method = built.method
    method.attach_training_data(built.dataset, lambda text: None)
    index = method.batch_indices(0, torch.arange(8), g(0))
    assert torch.equal(method._batch_masks, built.dataset.train.masks[index])
    seen = []
    monkeypatch.setattr(module, "sample_matches", lambda pair, count, rng: seen.append(pair) or sample_matches(
        pair, count, rng))
    method.training_step(built.dataset.train.images[index], g(0))
    assert seen[0].object_a is not None and method._batch_masks is None  # used once, for its own batch


def test_a_stopped_and_resumed_run_equals_an_uninterrupted_one(whole_and_resumed):
    a, b = whole_and_resumed(RunConfig.with_method_defaults({**SMALL, "steps": 12}))
    assert any(k.startswith("model.head.") for k in a)
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith("model."))


def test_a_backbone_without_feature_maps_is_refused_in_one_sentence():
    with pytest.raises(ValueError, match="convolutional backbone"):
        build(RunConfig.with_method_defaults({**SMALL, "backbone": "vit-tiny"}))
