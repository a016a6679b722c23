"""The GPU path (issue 18): a run on CUDA trains with the precision the device supports, evaluates, continues
from its checkpoint after a stop, and its folder opens on the CPU. Skipped, with the reason, on a machine without
a CUDA device (the dev and CI machines)."""
from __future__ import annotations

import pytest
import torch

from engine import events
from engine.build import RunConfig
from engine.checkpoint import load_checkpoint
from engine.device import autocast_dtype
from engine.run import Session, load_run

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")

CUDA_RUN = {"dataset": "shapes", "dataset_options": {"train_size": 1024, "test_size": 256, "image_size": 32},
            "batch_size": 128, "device": "cuda", "eval_bank": 512, "eval_queries": 256, "eval_every_s": 0.0,
            "preview_every_s": 0.0, "checkpoint_every_s": 0.0, "final_eval": True, "steps": 30, "minutes": 0.0}


@pytest.mark.parametrize("method", ["simclr", "moco", "dino", "mae"])
def test_a_run_on_cuda_trains_evaluates_and_opens_on_the_cpu(method, tmp_path):
    config = RunConfig.with_method_defaults({**CUDA_RUN, "method": method})
    seen: list = []
    finished = Session(config, tmp_path / method, seen.append).run()
    assert finished.reason == "completed", [e.message for e in seen if isinstance(e, events.Error)]
    started = next(e for e in seen if isinstance(e, events.Started))
    assert started.device.startswith("cuda")
    losses = [loss for e in seen if isinstance(e, events.Step) for loss in e.losses]
    assert len(losses) == config.steps and all(torch.isfinite(torch.tensor(losses)))
    assert 0 < finished.scores["knn"] <= 1 and finished.scores["probe"] > 0.1  # ten classes: above chance
    tensors, state = load_checkpoint(tmp_path / method / "checkpoint.safetensors")
    assert state["step"] == config.steps and all(t.device.type == "cpu" for t in tensors.values())
    run = load_run(tmp_path / method, device="cpu")  # a GPU run explored on a laptop
    assert next(run.method.parameters()).device.type == "cpu"


def test_bf16_autocast_where_the_gpu_supports_it():
    expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    assert autocast_dtype(torch.device("cuda"), "auto") is expected


def test_a_cuda_run_stopped_and_resumed_continues_from_its_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr("engine.run.STEP_EVENT_INTERVAL", 0.0)  # an event per step: a fast GPU stops at step 10
    config = RunConfig.with_method_defaults({**CUDA_RUN, "method": "simclr", "final_eval": False, "steps": 200})

    def stop_at_10(event):
        if isinstance(event, events.Step) and event.step >= 10:
            session.stop()

    session = Session(config, tmp_path / "run", stop_at_10)
    assert session.run().reason == "stopped"
    stopped_at = load_checkpoint(tmp_path / "run" / "checkpoint.safetensors")[1]["step"]
    assert 10 <= stopped_at < config.steps
    assert Session.from_run_dir(tmp_path / "run").run().step == config.steps
