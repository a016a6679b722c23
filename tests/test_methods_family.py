"""MoCo v2, BYOL, SimSiam, Barlow Twins, SwAV and DINO end to end on small shapes: each lowers its loss, gives
finite, healthy metrics; momentum networks stay out of the optimizer and survive a resume; train defaults apply."""
from __future__ import annotations

import math

import pytest
import torch
from conftest import train_to_completion

from engine import events
from engine.eval import collapse
from engine.methods import METHODS
from engine.run import RunConfig, Session

FAMILY = ["moco", "byol", "simsiam", "barlow_twins", "swav", "dino"]
SMALL = {"dataset": "shapes", "dataset_options": {"train_size": 512, "test_size": 256, "image_size": 16},
         "batch_size": 32, "minutes": 0.0, "eval_bank": 512, "eval_queries": 256, "preview_every_s": 0.0,
         "checkpoint_every_s": 0.0, "device": "cpu", "warmup_steps": 5, "eval_every_s": 0.0, "final_eval": False,
         # the methods' own augmentation: without the shapes world's rotation and strong colour jitter, which make
         # these 80-step runs on 512 tiny images too hard to show progress (a property of the data, not the method)
         "augment": {"rotate_degrees": 0.0, "hue": 0.1, "saturation": 0.4}}


def train(tmp_path, method: str, steps: int, **overrides) -> tuple[Session, list]:
    cfg = RunConfig.with_method_defaults({**SMALL, "method": method, "steps": steps, **overrides})
    return train_to_completion(cfg, tmp_path / method)


def health(session: Session) -> tuple[dict[str, float], str | None]:
    images = session.dataset.test.images
    return collapse.monitor(session.method.embedder, images, session.augment.prepare, session.augment, session.device)


@pytest.mark.parametrize("method", FAMILY)
def test_a_short_run_lowers_the_loss_and_stays_healthy(tmp_path, method):
    # MoCo's loss first rises while real keys, harder negatives than its random start, fill the queue (4 batches
    # here): its decrease is measured from steps 10-20 on
    options, start = ({"queue_size": 128}, 10) if method == "moco" else ({}, 0)
    steps = 80
    session, seen = train(tmp_path, method, steps, final_eval=True, method_options=options)
    losses = [loss for e in seen if isinstance(e, events.Step) for loss in e.losses]
    assert len(losses) == steps and all(math.isfinite(x) for x in losses)
    assert sum(losses[-10:]) / 10 < sum(losses[start:start + 10]) / 10
    # SwAV: below ln K, the loss of uniform predictions, where full-size runs with 100 prototypes stalled
    if method == "swav":
        assert sum(losses[-10:]) / 10 < math.log(session.method.config.prototypes) - 0.05, losses[-10:]
    final = [e for e in seen if isinstance(e, events.Eval) and e.final][0]
    assert all(math.isfinite(v) for v in final.scores.values())
    scores, reason = health(session)
    assert all(math.isfinite(v) for v in scores.values()) and reason is None, scores
    maps = session.method.attention(session.dataset.test.images[:3])
    assert maps.shape == (3, 1, 16, 16) and maps.min() >= 0 and maps.amax(dim=(2, 3)).eq(1).all()
    preview = session.method.preview(session.dataset.test.images[:2], torch.Generator().manual_seed(0))
    assert len({tuple(tile.shape) for row in preview.rows for tile in row}) == 1  # local views enlarged to match


def test_swav_multi_crop_predicts_the_global_codes_from_the_local_views_too(tmp_path):
    session, seen = train(tmp_path, "swav", 3, method_options={"local_crops": 2})
    assert all(math.isfinite(loss) for e in seen if isinstance(e, events.Step) for loss in e.losses)
    method = session.method
    assert torch.allclose(method.prototypes.weight.norm(dim=1), torch.ones(512))  # back on the sphere after a step
    calls = []
    method.criterion.register_forward_hook(lambda module, args, output: calls.append(args))
    method.training_step(session.dataset.train.images[:8], torch.Generator().manual_seed(0))
    scores, codes = calls[0]
    assert [s.shape for s in scores] == [(8, 512)] * 4 and len(codes) == 2  # 2 global + 2 local views, 2 codes


def test_dino_on_the_tiny_vit_trains_and_shows_one_attention_map_per_head(tmp_path):
    session, seen = train(tmp_path, "dino", 6, backbone="vit-tiny", method_options={"local_crops": 2})
    assert all(math.isfinite(loss) for e in seen if isinstance(e, events.Step) for loss in e.losses)
    maps = session.method.attention(session.dataset.test.images[:2])
    assert maps.shape == (2, 3, 16, 16) and maps.min() >= 0 and maps.amax(dim=(2, 3)).eq(1).all()


def test_momentum_networks_are_frozen_outside_the_optimizer_and_follow_by_ema(tmp_path):
    session, _ = train(tmp_path, "moco", 3)
    method = session.method
    optimized = {id(p) for group in session.optimizer.param_groups for p in group["params"]}
    assert optimized == {id(p) for p in method.parameters() if p.requires_grad}
    assert not any(id(p) in optimized for p in method.key_backbone.parameters())
    online, key = next(method.backbone.parameters()), next(method.key_backbone.parameters())
    assert not torch.equal(online, key) and (online - key).abs().max() < 0.1  # moved, but slowly


def test_a_stopped_and_resumed_moco_run_equals_an_uninterrupted_one(whole_and_resumed):
    cfg = RunConfig.with_method_defaults({**SMALL, "method": "moco", "steps": 12, "method_options": {"queue_size": 80}})
    a, b = whole_and_resumed(cfg)
    assert "model.queue.keys" in a and "model.key_backbone.features.0.0.weight" in a
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith("model."))


def test_method_train_defaults_apply_unless_the_user_sets_them():
    assert METHODS["dino"].train_defaults["lr"] != RunConfig.lr
    assert RunConfig.with_method_defaults({"method": "dino"}).lr == METHODS["dino"].train_defaults["lr"]
    assert RunConfig.with_method_defaults({"method": "dino", "lr": 0.01}).lr == 0.01
    assert RunConfig.with_method_defaults({"method": "moco"}).lr == RunConfig.lr


def test_a_method_default_can_suit_one_dataset_only():
    assert RunConfig.with_method_defaults({"method": "simclr"}).crop_size == 24  # the 32 px shapes
    assert RunConfig.with_method_defaults({"method": "simclr", "dataset_options": {"image_size": 64}}).crop_size == 48
    assert RunConfig.with_method_defaults({"method": "simclr", "dataset": "digits"}).crop_size == 0  # 8 px
    assert RunConfig.with_method_defaults({"method": "simclr", "crop_size": 32}).crop_size == 32
