"""The Session end to end on small data: events, checkpoints, resume, NaN handling, bad checkpoints, CLI."""
from __future__ import annotations

import errno
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from engine import events, run
from engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from engine.config import from_dict
from engine.methods.simclr import SimCLR
from engine.run import RunConfig, Session

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"dataset": "shapes", "dataset_options": {"train_size": 512, "test_size": 256, "image_size": 16},
         "batch_size": 32, "minutes": 0.0, "eval_bank": 512, "eval_queries": 256, "preview_every_s": 0.0,
         "checkpoint_every_s": 0.0, "device": "cpu"}


def config(**overrides) -> RunConfig:
    return from_dict(RunConfig, {**SMALL, **overrides})


def test_short_run_emits_events_learns_and_writes_its_folder(tmp_path):
    seen = []
    finished = Session(config(steps=40, lr=3e-3, warmup_steps=5, final_eval=True), tmp_path, seen.append).run()
    assert finished.reason == "completed" and finished.step == 40
    kinds = [type(e).__name__ for e in seen]
    assert kinds[0] == "Status" and "Started" in kinds and kinds[-1] == "Finished"
    losses = [loss for e in seen if isinstance(e, events.Step) for loss in e.losses]
    assert len(losses) == 40 and sum(losses[-5:]) / 5 < sum(losses[:5]) / 5
    evals = [e for e in seen if isinstance(e, events.Eval)]
    assert evals[0].step == 0 and set(evals[0].baselines) == {"raw", "random"}
    final = evals[-1]
    assert final.final and set(final.scores) == {"knn", "probe"} and 0 <= final.scores["knn"] <= 1
    assert any(isinstance(e, events.Checkpoint) for e in seen)
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines if "loss" in r] == list(range(1, 41))
    assert json.loads((tmp_path / "run.json").read_text())["config"]["method"] == "simclr"
    tensors, state = load_checkpoint(tmp_path / "checkpoint.safetensors")
    assert state["step"] == 40 and any(k.startswith("model.backbone.") for k in tensors)


def test_stopped_and_resumed_run_equals_an_uninterrupted_one(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "STEP_EVENT_INTERVAL", 0.0)  # a Step event after every step
    cfg = config(steps=24, method="simclr", eval_every_s=0.0, final_eval=False)
    whole = Session(cfg, tmp_path / "whole")
    assert whole.run().reason == "completed"

    def stop_at_10(event):
        if isinstance(event, events.Step) and event.step >= 10:
            interrupted.stop()

    interrupted = Session(cfg, tmp_path / "split", stop_at_10)
    assert interrupted.run().reason == "stopped" and interrupted.step == 10
    resumed = Session.from_run_dir(tmp_path / "split")
    assert resumed.run().reason == "completed" and resumed.step == 24
    a, _ = load_checkpoint(tmp_path / "whole" / "checkpoint.safetensors")
    b, _ = load_checkpoint(tmp_path / "split" / "checkpoint.safetensors")
    model_keys = [k for k in a if k.startswith(("model.", "optim."))]
    assert model_keys and all(torch.equal(a[k], b[k]) for k in model_keys)
    steps = [json.loads(x)["step"] for x in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 25))


def test_process_killed_while_saving_leaves_the_previous_checkpoint_loadable(tmp_path):
    path = tmp_path / "checkpoint.safetensors"
    save_checkpoint(path, {"w": torch.arange(10.0)}, {"step": 1})
    writer = textwrap.dedent(f"""
        import torch
        from engine.checkpoint import save_checkpoint
        big = {{"w": torch.randn(40_000_000)}}
        print("ready", flush=True)
        step = 2
        while True:
            save_checkpoint({str(path)!r}, big, {{"step": step}})
            step += 1
    """)
    proc = subprocess.Popen([sys.executable, "-c", writer], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.6)  # well inside a 160 MB write
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    tensors, state = load_checkpoint(path)
    assert state["step"] == 1 and torch.equal(tensors["w"], torch.arange(10.0)) or state["step"] >= 2


def test_a_full_disk_during_a_periodic_checkpoint_keeps_the_previous_one_and_training_goes_on(tmp_path, monkeypatch):
    writes = []

    def fills_up_after_the_first(path, tensors, state):
        if writes:
            raise OSError(errno.ENOSPC, "No space left on device")
        writes.append(state["step"])
        save_checkpoint(path, tensors, state)

    monkeypatch.setattr(run, "save_checkpoint", fills_up_after_the_first)
    seen = []
    cfg = config(steps=12, checkpoint_every_s=1e-9, eval_every_s=0.0, final_eval=False)
    finished = Session(cfg, tmp_path, seen.append).run()
    warnings = [e.message for e in seen if isinstance(e, events.Warning)]
    assert any("No space left on device): the previous one is kept and training goes on" in w for w in warnings)
    assert finished.reason == "failed" and finished.step == 12  # the final checkpoint could not be written either
    assert load_checkpoint(tmp_path / "checkpoint.safetensors")[1]["step"] == writes[0]


def test_a_run_folder_deleted_mid_run_is_written_again_with_its_settings_and_every_step(tmp_path, monkeypatch):
    import shutil

    run_dir = tmp_path / "run"

    def deleted_after_the_first(path, tensors, state):
        save_checkpoint(path, tensors, state)
        if not deleted_after_the_first.done:
            shutil.rmtree(run_dir)  # e.g. the user cleaning up their runs while one trains
            deleted_after_the_first.done = True

    deleted_after_the_first.done = False
    monkeypatch.setattr(run, "save_checkpoint", deleted_after_the_first)
    seen = []
    cfg = config(steps=12, checkpoint_every_s=1e-9, eval_every_s=0.0, final_eval=False)
    finished = Session(cfg, run_dir, seen.append).run()
    warnings = [e.message for e in seen if isinstance(e, events.Warning)]
    assert finished.reason == "completed" and len(warnings) == 1 and "was deleted at step 2" in warnings[0]
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 13))  # the steps before the deletion too, read back from the open file
    assert json.loads((run_dir / "run.json").read_text())["config"]["steps"] == 12
    assert load_checkpoint(run_dir / "checkpoint.safetensors")[1]["step"] == 12


def test_non_finite_losses_are_skipped_then_stop_the_run_without_poisoning_the_checkpoint(tmp_path, monkeypatch):
    real_step = SimCLR.training_step

    def poisoned(self, images, rng):
        out = real_step(self, images, rng)
        if poisoned.calls >= 3:
            out.loss = out.loss * float("nan")
        poisoned.calls += 1
        return out

    poisoned.calls = 0
    monkeypatch.setattr(SimCLR, "training_step", poisoned)
    seen = []
    finished = Session(config(steps=50, eval_every_s=0.0), tmp_path, seen.append).run()
    assert finished.reason == "failed"
    warnings = [e for e in seen if isinstance(e, events.Warning)]
    assert len(warnings) == run.MAX_BAD_STEPS
    assert any(isinstance(e, events.Error) and "non-finite" in e.message for e in seen)
    tensors, state = load_checkpoint(tmp_path / "checkpoint.safetensors")
    assert all(torch.isfinite(v.float()).all() for k, v in tensors.items() if k.startswith("model."))


def test_a_checkpoint_from_elsewhere_gives_a_clear_message(tmp_path):
    Session(config(steps=2, eval_every_s=0.0, final_eval=False), tmp_path / "a").run()
    (tmp_path / "a" / "checkpoint.safetensors").write_bytes(b"\x00" * 100)
    seen = []
    assert Session.from_run_dir(tmp_path / "a", seen.append).run().reason == "failed"
    assert "checkpoint" in [e for e in seen if isinstance(e, events.Error)][0].message
    with pytest.raises(CheckpointError, match="not a Pretext run folder"):
        Session.from_run_dir(tmp_path / "nowhere")
    foreign = tmp_path / "foreign.safetensors"
    from safetensors.torch import save_file
    save_file({"x": torch.zeros(2)}, str(foreign))
    with pytest.raises(CheckpointError, match="not a Pretext checkpoint"):
        load_checkpoint(foreign)
    save_file({"x": torch.zeros(2)}, str(foreign), metadata={"format": "pretext-checkpoint", "version": "99",
                                                            "state": "{}"})
    with pytest.raises(CheckpointError, match=r"written by a newer Pretext \(format 99\)"):
        load_checkpoint(foreign)


def test_cli_trains_then_evaluates_a_run_folder(tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, "main.py", "train", "--method", "rotnet", "--dataset", "shapes", "--steps", "8",
            "--batch-size", "32", "--device", "cpu", "--precision", "fp32", "--out", str(out),
            "--set", "dataset.train_size=400", "--set", "dataset.test_size=200", "--set", "dataset.image_size=16"]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Final evaluation" in result.stderr
    assert "raw baseline" in result.stderr and "random baseline" in result.stderr
    assert "img/s" in result.stderr and "ETA" in result.stderr
    assert json.loads((out / "run.json").read_text())["config"]["precision"] == "fp32"
    evaluated = subprocess.run([sys.executable, "main.py", "eval", str(out)], cwd=ROOT, capture_output=True, text=True,
                               timeout=300)
    assert evaluated.returncode == 0, evaluated.stderr
    assert "Final evaluation" in evaluated.stderr
    bad = subprocess.run([sys.executable, "main.py", "train", "--dataset", "cifar10", "--steps", "1",
                          "--set", f"dataset.root={tmp_path}", "--out", str(tmp_path / "c")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr and "cifar" in bad.stderr.lower()
