"""The frozen pretrained text tower: MiniLM loads with the network unavailable, its caption embeddings are cached
once in the run (only the image tower and the projections train), and prompts it never saw still embed."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import torch
from conftest import train_to_completion

from engine import events
from engine.run import RunConfig, load_run

ROOT = Path(__file__).resolve().parents[1]


def test_minilm_loads_offline_without_the_network():
    code = ("import socket\n"
            "def refuse(*args, **kwargs): raise OSError('network disabled in this test')\n"
            "socket.socket.connect = refuse\n"
            "socket.create_connection = refuse\n"
            "from engine.text.clip_towers import minilm_embeddings\n"
            "e = minilm_embeddings(['a red star', 'a blue ring', 'a red star'])\n"
            "assert e.shape == (3, 384) and abs(float(e[0].norm()) - 1) < 1e-4\n"
            "assert float(e[0] @ e[2]) > 0.999 > float(e[0] @ e[1])\n")
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Loading weights" not in done.stderr


def test_a_frozen_minilm_run_trains_only_the_image_tower_and_the_projections(tmp_path):
    cfg = RunConfig.with_method_defaults({
        "dataset": "shapes", "dataset_options": {"train_size": 256, "test_size": 128, "image_size": 16},
        "method": "clip", "method_options": {"towers": "frozen-minilm"}, "batch_size": 32, "steps": 20,
        "minutes": 0.0, "device": "cpu", "eval_every_s": 0.0, "preview_every_s": 0.0, "final_eval": False,
        "warmup_steps": 2})
    session, seen = train_to_completion(cfg, tmp_path / "run")
    method = session.method
    assert method.text_encoder is None
    assert method.text_features.value.shape == (len(method.texts), 384)  # one embedding per distinct caption
    names = {name for name, p in method.named_parameters() if p.requires_grad}
    assert any(n.startswith("backbone.") for n in names) and {"image_projection.weight", "text_projection.weight",
                                                                "log_scale"} <= names
    assert all(n.startswith(("backbone.", "image_projection.", "text_projection.", "log_scale")) for n in names)
    losses = [loss for e in seen if isinstance(e, events.Step) for loss in e.losses]
    assert all(math.isfinite(x) for x in losses) and sum(losses[-5:]) < sum(losses[:5])
    run = load_run(tmp_path / "run")
    assert torch.equal(run.method.text_features.value, method.text_features.value)
    prompts = ["a red star", "a zebra"]  # any words: MiniLM's own vocabulary
    assert torch.allclose(run.method.embed_texts(prompts), method.embed_texts(prompts), atol=1e-5)
    assert run.method.unknown_words(prompts) == []
    assert set(prompts) <= set(run.method._frozen_cache)  # MiniLM runs once per text and model
