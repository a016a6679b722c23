"""The collapse monitor: its metrics on constructed embeddings, and the lesson switches (DINO without centering or
sharpening, SimSiam without stop-gradient, BYOL with momentum 0 and no predictor) collapsing a short run that the
default configuration keeps healthy (tests/test_methods_family.py checks the defaults with the same monitor)."""
from __future__ import annotations

import math

import pytest
import torch

from engine import events, run
from engine.eval import collapse
from engine.run import RunConfig, Session

SMALL = {"dataset": "shapes", "dataset_options": {"train_size": 512, "test_size": 256, "image_size": 16},
         "batch_size": 32, "minutes": 0.0, "eval_bank": 512, "eval_queries": 256, "preview_every_s": 0.0,
         "checkpoint_every_s": 0.0, "device": "cpu", "warmup_steps": 5, "final_eval": False}


def test_metrics_on_spread_and_collapsed_embeddings():
    g = torch.Generator().manual_seed(0)
    d = 64
    spread = torch.randn(2000, d, generator=g)  # isotropic: uniform directions on the sphere
    assert collapse.embedding_std(spread) == pytest.approx(1 / math.sqrt(d), rel=0.05)
    assert collapse.effective_rank(spread) > 0.8 * d
    assert collapse.uniformity(spread) < -3.5  # log E exp(-2 ||x - y||^2) with ||x - y||^2 ~ 2
    point = torch.randn(1, d, generator=g).expand(500, d) + 1e-4 * torch.randn(500, d, generator=g)
    assert collapse.embedding_std(point) < 1e-3 and collapse.effective_rank(point) < 1.1
    assert collapse.uniformity(point) > -1e-3 and collapse.alignment(point, point) == pytest.approx(0.0, abs=1e-6)
    line = torch.randn(500, 1, generator=g) * torch.randn(1, d, generator=g)
    assert collapse.effective_rank(line) < 1.01  # dimensional collapse to a line
    two_views = collapse.alignment(spread[:1000], spread[1000:])
    assert two_views == pytest.approx(2.0, abs=0.1)  # independent directions: E ||x - y||^2 = 2
    assert collapse.collapse_reason(collapse.representation_metrics(spread, spread, spread), d) is None
    assert "rank" in collapse.collapse_reason(collapse.representation_metrics(point, point, point), d)


def test_the_rank_is_the_exponential_of_the_entropy_of_the_normalised_singular_values():
    z = torch.diag(torch.tensor([4.0, 2.0, 1.0, 1.0]))
    p = [4 / 8, 2 / 8, 1 / 8, 1 / 8]
    assert collapse.effective_rank(z) == pytest.approx(math.exp(-sum(x * math.log(x) for x in p)), rel=1e-5)


LESSONS = [("simsiam", {"stop_gradient": False}, 120), ("byol", {"momentum": 0.0, "predictor": False}, 50),
           ("dino", {"center": False}, 80), ("dino", {"sharpen": False}, 60)]  # steps: twice what they take or more


@pytest.mark.parametrize("method,switches,steps", LESSONS, ids=lambda v: str(v))
def test_a_lesson_switch_collapses_the_run(tmp_path, method, switches, steps):
    cfg = RunConfig.with_method_defaults({**SMALL, "method": method, "steps": steps, "method_options": switches,
                                          "eval_every_s": 0.0})
    session = Session(cfg, tmp_path / "run")
    assert session.run().reason == "completed"
    scores, reason = collapse.monitor(session.method.embedder, session.dataset.test.images, session.augment.prepare,
                                      session.augment, session.device)
    assert reason is not None, scores


@pytest.mark.parametrize("switches,warns", [({"momentum": 0.0, "predictor": False}, True), ({}, False)])
def test_the_session_reports_the_monitor_and_warns_on_collapse_only(tmp_path, monkeypatch, switches, warns):
    monkeypatch.setattr(run, "STEP_EVENT_INTERVAL", 0.0)  # a Step event after every step

    def on_event(event):
        seen.append(event)
        if isinstance(event, events.Step) and event.step == 60:
            session._evaluate()  # the online evaluation, at a fixed step rather than after a time

    seen: list = []
    cfg = RunConfig.with_method_defaults({**SMALL, "method": "byol", "steps": 60, "method_options": switches,
                                          "eval_every_s": 1e6})  # plus the one at step 0
    session = Session(cfg, tmp_path / "run", on_event)
    session.run()
    evals = [e for e in seen if isinstance(e, events.Eval)]
    assert [e.step for e in evals] == [0, 60] and collapse.GRACE_STEPS <= 60
    assert all({"knn", "std", "rank", "alignment", "uniformity"} <= set(e.scores) for e in evals)
    assert bool([e for e in seen if isinstance(e, events.Collapsed)]) == warns


@pytest.mark.parametrize("method,data", [("rotnet", {"dataset": "digits", "dataset_options": {}, "image_size": 16}),
                                         ("simclr", {})], ids=["rotnet-digits", "simclr-shapes"])
def test_healthy_runs_raise_no_collapse_warning_after_the_grace_period(tmp_path, monkeypatch, method, data):
    """The false alarm: RotNet's subject, the backbone's ReLU features, lies in one orthant, and this run (kNN 88 %)
    read 0.12 / sqrt(d) uncentred, "collapsed"; the monitor centres it (Method.centred_embedder)."""
    monkeypatch.setattr(run, "STEP_EVENT_INTERVAL", 0.0)

    def on_event(event):
        seen.append(event)
        if isinstance(event, events.Step) and event.step == collapse.GRACE_STEPS:
            session._evaluate()

    seen: list = []
    cfg = RunConfig.with_method_defaults({**SMALL, "method": method, "steps": collapse.GRACE_STEPS, **data,
                                          "eval_every_s": 1e6})
    session = Session(cfg, tmp_path / "run", on_event)
    session.run()
    last = [e for e in seen if isinstance(e, events.Eval)][-1]
    assert last.step == collapse.GRACE_STEPS and last.scores["rank"] > collapse.COLLAPSE_RANK
    assert not [e for e in seen if isinstance(e, (events.Warning, events.Collapsed))], last.scores


@pytest.mark.parametrize("momentum,warns", [(0.99, False), (0.0, True)])
def test_dino_reports_a_collapse_only_once_its_ema_teacher_has_caught_up(tmp_path, monkeypatch, momentum, warns):
    """The monitor reads DINO's teacher, which trails the student by about 1 / (1 - m) steps: at step 60 a collapsed
    reading is reported with m = 0 (no lag) but not with m = 0.99 (100 steps behind, still near its initialisation)."""
    monkeypatch.setattr(run, "STEP_EVENT_INTERVAL", 0.0)
    collapsed = ({"std": 0.0, "rank": 1.0}, "effective rank 1.00 < 3")
    monkeypatch.setattr(collapse, "monitor", lambda *args, **kwargs: collapsed)

    def on_event(event):
        seen.append(event)
        if isinstance(event, events.Step) and event.step == 60:
            session._evaluate()

    seen: list = []
    cfg = RunConfig.with_method_defaults({**SMALL, "method": "dino", "steps": 60, "eval_every_s": 1e6,
                                          "method_options": {"momentum": momentum, "local_crops": 0}})
    session = Session(cfg, tmp_path / "run", on_event)
    session.run()
    assert collapse.GRACE_STEPS < 60 < session.method.monitor_grace_steps or momentum == 0.0
    assert bool([e for e in seen if isinstance(e, events.Collapsed)]) == warns
