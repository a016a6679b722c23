"""Video colorization (Vondrick et al. 2018): its colour targets against a direct computation, the clip samples it
draws, the loss against eqs. 1-3 computed densely, training through the shared Session with tracking evaluations
(J beside the three baselines), an exact resume, its preview and its refusals."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from engine import events
from engine.build import RunConfig, build
from engine.checkpoint import load_checkpoint
from engine.data.color import rgb_to_lab
from engine.run import make_session, resume_session
from engine.video.attention import dense_attention
from engine.video.session import VideoSession

SMALL = {"dataset": "shapes_video", "method": "video_colorization",
         "dataset_options": {"train_clips": 8, "test_clips": 3, "frames": 8, "image_size": 32, "objects": 2},
         "method_options": {"bins": 8, "eval_clips": 2, "frame_gap": 1}, "batch_size": 8, "device": "cpu",
         "minutes": 0.0, "preview_every_s": 0.0, "checkpoint_every_s": 0.0, "warmup_steps": 2, "eval_every_s": 0.0,
         "final_eval": False}


def config(**changes) -> RunConfig:
    values = {**SMALL, **changes}
    return RunConfig.with_method_defaults(values)


@pytest.fixture(scope="module")
def built():
    result = build(config(steps=1))
    result.method.attach_training_data(result.dataset, lambda text: None)
    result.method.prepare_data(result.dataset.train)
    return result


def test_colour_targets_are_each_cells_nearest_bin_of_its_mean_ab(built):
    method, frames = built.method, built.dataset.train.images[:3]
    lab = rgb_to_lab(frames.float() / 255)
    targets = method.colour_bins(lab)
    bins = method.bins
    assert targets.shape == (3, 8, 8)
    for n in range(3):
        for y in range(8):
            for x in range(8):
                mean_ab = lab[n, 1:, 4 * y:4 * y + 4, 4 * x:4 * x + 4].reshape(2, -1).mean(1)
                nearest = min(range(len(bins)), key=lambda k: float(((bins[k] - mean_ab) ** 2).sum()))
                assert targets[n, y, x].item() == nearest


def test_bins_are_fitted_to_the_training_frames_colours(built):
    bins = built.method.bins
    assert bins.abs().sum() > 0 and len(bins.unique(dim=0)) == 8
    assert bins.norm(dim=1).max() > 20  # the shapes' saturated hues have bins, not only the grayish background


def test_each_step_draws_whole_samples_of_references_and_a_target_from_one_clip(built):
    method = built.method
    proposed = torch.randperm(len(built.dataset.train), generator=torch.Generator().manual_seed(0))[:8]
    rows = method.batch_indices(0, proposed, torch.Generator().manual_seed(1)).view(2, 4)
    assert (rows // 8 == (proposed[:2] // 8)[:, None]).all()  # 8 frames per clip: each sample stays in its clip
    assert (rows.diff(dim=1) == 1).all()  # frame_gap 1, the target last
    with pytest.raises(ValueError, match="batch_size 6 is not a multiple of the 4 frames"):
        method.batch_indices(0, proposed[:6], torch.Generator())


def test_the_loss_is_the_cross_entropy_of_colours_copied_by_full_softmax_attention(built):
    method, frames = built.method, built.dataset.train.images[:8]
    method.train()
    torch.manual_seed(0)
    out = method.training_step(frames, torch.Generator())
    # eqs. 1-3 directly: dense attention within the window radius, y_j = sum_i A_ij c_i, -log y_j[true colour]
    method.eval()  # the same BatchNorm statistics as training would give only in train mode: recompute both in eval
    lab = rgb_to_lab(frames.float() / 255)
    with torch.no_grad():
        f = method.embed(lab).view(2, 4, -1, 8, 8)
        bins = method.colour_bins(lab).view(2, 4, 8, 8)
        attention = dense_attention(f[:, -1], f[:, :-1], method.config.window_radius)  # (n, R, 64, 8, 8)
        colours = F.one_hot(bins[:, :-1], 8).float().flatten(2, 3)  # (n, R, 64, Q)
        y = torch.einsum("nrihw,nriq->nqhw", attention, colours)
        direct = -y.gather(1, bins[:, -1, None]).clamp_min(1e-8).log().mean()
        predicted = method.colorize(f, bins, method.config.window_radius)
        ours = F.nll_loss(predicted.clamp_min(1e-8).log(), bins[:, -1])
    assert math.isfinite(out.loss.item()) and torch.allclose(ours, direct, atol=1e-5)
    assert out.features.shape == (8, method.config.embedding_dim) and 0 <= out.logs["pretext_acc"] <= 1


def test_training_lowers_the_loss_and_evaluations_report_j_beside_three_baselines(tmp_path):
    seen: list = []
    session = make_session(config(steps=30, eval_every_s=1.0, final_eval=True, preview_every_s=1.0),
                           tmp_path / "run", seen.append)
    assert isinstance(session, VideoSession)
    assert session.run().reason == "completed", [e for e in seen if isinstance(e, events.Error)]
    losses = [loss for e in seen if isinstance(e, events.Step) for loss in e.losses]
    assert len(losses) == 30 and sum(losses[-8:]) / 8 < sum(losses[:8]) / 8
    evals = [e for e in seen if isinstance(e, events.Eval)]
    assert len(evals) >= 2 and evals[-1].final
    for e in evals:
        assert set(e.baselines) == {"copy", "random", "raw", "gray"} and 0 <= e.scores["J"] <= 1
        assert all(0 <= s["J"] <= 1 and s["keypoint_px"] >= 0 for s in e.baselines.values())
    preview = [e for e in seen if isinstance(e, events.Preview)][-1].tiles
    assert len(preview.rows) == 3 and all(len(row) == 4 for row in preview.rows)
    assert {tuple(t.shape) for row in preview.rows for t in row} == {(3, 32, 32)}
    assert preview.captions[0][0] == "reference" and preview.captions[0][-1] == "truth"
    assert [e for e in seen if isinstance(e, events.Attention)]
    metrics = (session.run_dir / "metrics.jsonl").read_text()
    assert '"J"' in metrics and '"copy"' in metrics


def test_a_resumed_run_retraces_an_uninterrupted_one(tmp_path):
    run = config(steps=12)
    make_session(run, tmp_path / "whole").run()

    def stop_at_5(event):
        if isinstance(event, events.Step) and event.step >= 5:
            interrupted.stop()

    interrupted = make_session(run, tmp_path / "split", stop_at_5)
    assert interrupted.run().step < 12
    resumed = resume_session(tmp_path / "split")
    assert isinstance(resumed, VideoSession) and resumed.run().step == 12
    whole, split = (load_checkpoint(tmp_path / name / "checkpoint.safetensors")[0] for name in ("whole", "split"))
    assert "model.bins" in whole and whole["model.bins"].abs().sum() > 0
    assert all(torch.equal(whole[k], split[k]) for k in whole if k.startswith("model."))


def test_bad_settings_are_refused_in_one_sentence():
    with pytest.raises(ValueError, match="choose the convnet backbone"):
        build(config(backbone="resnet18"))
    with pytest.raises(ValueError, match="span 10 frames, more than the clips' 8"):
        session = make_session(config(steps=1, method_options={"references": 3, "frame_gap": 3}))
        session._setup()
    with pytest.raises(ValueError, match="multiple of 4"):
        build(config(image_size=30))
