"""Attention events: the Session sends attention overlays with its previews, adds requested images (a dropped file)
to them, serves a request while paused, and rejects images that don't fit the run."""
from __future__ import annotations

import threading

import pytest
import torch

from engine import events, run
from engine.config import from_dict
from engine.data.images import decode_image
from engine.run import RunConfig, Session

SMALL = {"dataset": "shapes", "dataset_options": {"train_size": 256, "test_size": 64, "image_size": 16},
         "batch_size": 16, "minutes": 0.0, "eval_every_s": 0.0, "final_eval": False, "preview_every_s": 0.0,
         "checkpoint_every_s": 0.0, "device": "cpu"}


def test_overlays_come_with_the_previews_and_requested_images_join_them_even_while_paused(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "STEP_EVENT_INTERVAL", 0.0)  # a Step event after every step
    seen: list = []
    dropped = threading.Event()

    def on_event(event):
        seen.append(event)
        if isinstance(event, events.Step) and not dropped.is_set():
            session.pause()  # the request below is served while paused
            session.request_attention(torch.full((1, 3, 16, 16), 200, dtype=torch.uint8))
            dropped.set()
        elif isinstance(event, events.Attention) and dropped.is_set():
            session.stop()

    session = Session(from_dict(RunConfig, {**SMALL, "steps": 0}), tmp_path, on_event)  # until stopped
    assert session.run().reason == "stopped" and session.step == 1  # no step trained while paused
    first, requested = [e for e in seen if isinstance(e, events.Attention)]
    assert first.step == 0
    first, requested = first.tiles, requested.tiles
    assert [row[0] for row in first.captions] == ["image"] * 4
    assert [len(row) for row in first.rows] == [2] * 4 and first.rows[0][1].shape == (3, 16, 16)
    assert first.rows[0][1].dtype == torch.uint8 and "Activation-based" in first.title
    assert [row[0] for row in requested.captions] == ["image"] * 4 + ["dropped"]
    assert torch.equal(requested.rows[4][0], torch.full((3, 16, 16), 200, dtype=torch.uint8))
    assert len(session.attention().tiles.rows) == 5  # after the run, on any thread


def test_requests_must_fit_the_run(tmp_path):
    session = Session(from_dict(RunConfig, {**SMALL, "steps": 1}), tmp_path)
    with pytest.raises(ValueError, match="not loaded"):
        session.request_attention(torch.zeros(1, 3, 16, 16, dtype=torch.uint8))
    session.run()
    with pytest.raises(ValueError, match=r"\(B, 3, 16, 16\)"):
        session.request_attention(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))


def test_decoding_for_a_grayscale_run_gives_one_channel(tmp_path):
    from PIL import Image

    Image.new("RGB", (30, 20), (255, 0, 0)).save(tmp_path / "red.png")
    gray = decode_image(tmp_path / "red.png", 8, channels=1)
    assert gray.shape == (1, 8, 8) and gray.dtype == torch.uint8
    assert 70 <= int(gray[0, 4, 4]) <= 80  # the luma of pure red (0.299 * 255)
