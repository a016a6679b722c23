"""The attention that copies between frames (rows sum to one, the window keeps to its radius and equals the dense
softmax under a banded mask), propagation (an identity embedding on a static clip returns the first mask exactly),
J against a direct IoU, keypoint heat maps, the GUI's track_clip and ``main.py track``."""
from __future__ import annotations

import itertools

import pytest
import torch
from test_video_colorization import config

from engine.run import load_run, make_session
from engine.video.attention import dense_attention, window_attention, window_copy, window_offsets
from engine.video.tracking import (
    TrackSettings,
    heatmap_peaks,
    keypoint_heatmaps,
    region_similarity,
    track,
    track_clip,
)
from main import main  # the entry point: track runs headless


def g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_every_attention_row_sums_to_one():
    target, refs = torch.randn(2, 8, 6, 7, generator=g(0)), torch.randn(2, 3, 8, 6, 7, generator=g(1))
    for radius, topk in ((1, 0), (2, 5), (4, 0)):
        weights = window_attention(target, refs, radius, temperature=0.3, topk=topk)
        assert weights.shape == (2, 3, (2 * radius + 1) ** 2, 6, 7) and (weights >= 0).all()
        assert torch.allclose(weights.sum(dim=(1, 2)), torch.ones(2, 6, 7), atol=1e-6)
        if topk:
            assert ((weights > 0).sum(dim=(1, 2)) <= topk).all()
    assert torch.allclose(dense_attention(target, refs).sum(dim=(1, 2)), torch.ones(2, 6, 7), atol=1e-6)


def test_the_window_keeps_attention_within_its_radius_and_equals_a_banded_dense_softmax():
    target, refs = torch.randn(1, 4, 9, 9, generator=g(2)), torch.randn(1, 2, 4, 9, 9, generator=g(3))
    radius = 2
    window = window_attention(target, refs, radius)
    dense = dense_attention(target, refs, radius)  # (1, R, 81, 9, 9): reference location i for each target j
    for (y, x), r in itertools.product(itertools.product(range(9), range(9)), range(2)):
        on = dense[0, r, :, y, x].view(9, 9)
        far = torch.ones(9, 9, dtype=torch.bool)
        far[max(0, y - radius):y + radius + 1, max(0, x - radius):x + radius + 1] = False
        assert (on[far] == 0).all()  # nothing beyond the radius
        for k, (dy, dx) in enumerate(window_offsets(radius)):
            inside = 0 <= y + dy < 9 and 0 <= x + dx < 9
            expected = on[y + dy, x + dx] if inside else torch.tensor(0.0)
            assert torch.allclose(window[0, r, k, y, x], expected, atol=1e-6)
    values = torch.randn(1, 2, 3, 9, 9, generator=g(4))
    copied = torch.einsum("nrihw,nrci->nchw", dense, values.flatten(3))
    assert torch.allclose(window_copy(window, values, radius), copied, atol=1e-5)
    # a reference match beyond the radius gets no weight, however similar
    far_target, far_refs = torch.zeros(1, 2, 9, 9), torch.zeros(1, 1, 2, 9, 9)
    far_target[0, 0, 4, 4] = 10.0
    far_refs[0, 0, 0, 0, 0] = 10.0  # 4 cells away: outside radius 2, inside radius 4
    assert window_attention(far_target, far_refs, 2)[0, 0, :, 4, 4].max() < 0.1
    assert window_attention(far_target, far_refs, 4)[0, 0, 0, 4, 4] > 0.99


def test_an_identity_embedding_on_a_static_clip_returns_the_first_mask_exactly():
    size, frames = 12, 6
    identity = torch.eye(size * size).view(size * size, size, size)  # each pixel its own direction
    features = identity[None].expand(frames, -1, -1, -1)
    first = torch.zeros(size, size, dtype=torch.uint8)
    first[2:7, 3:9], first[8:11, 1:4] = 1, 2
    keypoints = torch.tensor([[4.0, 3.0], [2.0, 9.0]])
    tracked = track(features, first, 2, TrackSettings(radius=2, topk=1, temperature=0.1, context=2), keypoints)
    assert all(torch.equal(mask, first) for mask in tracked.masks)
    assert torch.equal(tracked.keypoints, keypoints[None].expand(frames, -1, -1))


def test_j_is_the_iou_of_each_object_averaged_over_objects():
    predicted = torch.randint(0, 3, (5, 10, 10), generator=g(5))
    truth = torch.randint(0, 3, (5, 10, 10), generator=g(6))
    truth[4] = 0
    predicted[4] = torch.where(predicted[4] == 2, 0, predicted[4])  # frame 4: object 2 absent from both
    direct = []
    for p, t in zip(predicted.tolist(), truth.tolist()):
        ious = []
        for k in (1, 2):
            pk = {(i, j) for i, row in enumerate(p) for j, v in enumerate(row) if v == k}
            tk = {(i, j) for i, row in enumerate(t) for j, v in enumerate(row) if v == k}
            ious.append(len(pk & tk) / len(pk | tk) if pk | tk else 1.0)
        direct.append(sum(ious) / 2)
    assert region_similarity(predicted, truth, 2).tolist() == pytest.approx(direct)


def test_a_keypoint_heatmap_peaks_at_its_keypoint():
    points = torch.tensor([[10.0, 21.0], [1.5, 30.0], [27.0, 5.5]])
    peaks = heatmap_peaks(keypoint_heatmaps(points, 32, 8), 32)
    error = (peaks - points).norm(dim=1)
    assert error[0] < 0.1 and error[2] < 0.75 and error[1] < 1.5  # within a pixel; at the frame's edge 1.5


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("video") / "run"
    assert make_session(config(steps=6), run_dir).run().reason == "completed"
    return run_dir


def test_track_clip_propagates_a_clicked_objects_mask(trained_run):
    run = load_run(trained_run, device="cpu")
    clip = run.dataset.clips(run.dataset.test)[0]
    truth = run.dataset.test_truth
    first = truth.instances[0, 0] == 1  # the pixels of the clicked object id
    tracked = track_clip(run.method, clip, first, truth_masks=(truth.instances[0] == 1))
    assert tracked.masks.shape == (8, 32, 32) and set(tracked.masks.unique().tolist()) <= {0, 1}
    assert torch.equal(tracked.masks[0].bool(), first)
    assert tracked.j_per_frame.shape == (8,) and tracked.j_per_frame[0] == 1 and 0 <= tracked.j <= 1
    with pytest.raises(ValueError, match="first-frame mask is"):
        track_clip(run.method, clip, first[:4])


def test_main_track_prints_j_beside_the_baselines_and_writes_a_strip(trained_run, tmp_path, capsys):
    from PIL import Image

    assert main(["track", str(trained_run), "--out", str(tmp_path / "strip.png")]) == 0
    out = capsys.readouterr().out
    for name in ("model", "copy", "random", "raw", "gray"):
        assert f"\n  {name}" in out
    assert "mean J" in out and "J per frame" in out and "J per clip" in out
    strip = Image.open(tmp_path / "strip.png")
    assert strip.size == (4 * 32 * 3, (2 * 2 * 32 + 2) * 3)  # 4 of 8 frames; 2 clips, 2 rows each, 2 px apart


def test_main_track_refuses_an_image_run_in_one_sentence(tiny_run, tmp_path, capsys):
    from engine.build import RunConfig

    image_run = tmp_path / "image"
    make_session(RunConfig(**{**tiny_run, "steps": 2, "eval_every_s": 0.0, "preview_every_s": 0.0}), image_run).run()
    assert main(["track", str(image_run)]) == 2
    expected = "error: simclr is not a video method: track needs a video_colorization run"
    assert capsys.readouterr().err.strip() == expected
