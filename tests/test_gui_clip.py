"""The CLIP panel in the window (offscreen): a saved clip run's zero-shot curve, a dropped image's prompt
probabilities beside its nearest images (computed off the GUI thread), text search, the live similarity matrix,
prompts as markers in the embedding view, a bad prompt list and a run of another method."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
from PIL import Image
from test_gui_explorer import drop

from engine import events
from engine.run import RunConfig, Session, load_run

WAIT_MS = 30_000


@pytest.fixture(scope="module")
def clip_run(tmp_path_factory) -> Path:
    from conftest import TINY_RUN

    run_dir = tmp_path_factory.mktemp("runs") / "clip"
    config = {**TINY_RUN, "method": "clip", "steps": 30, "eval_every_s": 0.3, "final_eval": True}
    Session(RunConfig.with_method_defaults(config), run_dir).run()
    return run_dir


@pytest.fixture
def view(window, qtbot, clip_run):
    window.load_run(clip_run)
    qtbot.waitUntil(lambda: window.clip_view.source is not None, timeout=WAIT_MS)
    window.clip_dock.raise_()
    return window.clip_view


def red_image(path: Path) -> Path:
    Image.new("RGB", (32, 32), (230, 25, 25)).save(path)
    return path


def cards(view) -> list:
    layout = view.cards_layout
    return [layout.itemAt(i).widget() for i in range(layout.count() - 1)]


def test_a_saved_run_shows_its_zero_shot_curve_with_chance(view, qtbot):
    qtbot.waitUntil(lambda: len(view.curves.points["zero_shot"][0]) >= 2, timeout=WAIT_MS)
    assert "zero_shot" in view.curves.chance and view.curves.chance["zero_shot"].value() == pytest.approx(10)
    assert len(view.curves.probe.getData()[0]) == 1  # the final linear probe beside the zero-shot curve
    assert view.run_method == "clip"


def test_a_dropped_image_shows_its_prompt_probabilities_beside_its_nearest_images(view, qtbot, tmp_path):
    view.set_prompts(["a red star", "a blue ring", "a green heart"])
    started = time.perf_counter()
    drop(view, [red_image(tmp_path / "red.png"), tmp_path / "missing.png"])
    assert time.perf_counter() - started < 0.5  # the drop returns at once: the work is in a background job
    qtbot.waitUntil(lambda: len(cards(view)) == 1, timeout=WAIT_MS)
    card = cards(view)[0]
    texts = [text for text, _ in card.bars.items]
    assert sorted(texts) == ["a blue ring", "a green heart", "a red star"]
    assert sum(p for _, p in card.bars.items) == pytest.approx(1, abs=1e-4)
    assert card.neighbours.count() == 8 and view.tabs.currentIndex() == 2
    assert "missing.png" in view.status.text()
    # the same probabilities as the engine computes for that image
    run = load_run(view.source.run_dir)
    from engine.data.images import decode_image
    from engine.eval.pretrained_clip import MethodModel
    from engine.eval.zero_shot import probabilities

    image = decode_image(tmp_path / "red.png", 16)[None]
    model = MethodModel(run.method, 3)
    expected = probabilities(model, model.embed_images(image),
                             model.embed_texts(["a red star", "a blue ring", "a green heart"]))[0]
    assert dict(card.bars.items)["a red star"] == pytest.approx(float(expected[0]), abs=1e-4)


def test_class_names_with_a_template_and_a_bad_prompt_list(view, qtbot, tmp_path):
    view.set_prompts(["star", "arrow"], "a drawing of a {}.")
    assert view.prompts() == ["a drawing of a star.", "a drawing of an arrow."]
    view.set_prompts([])
    assert "no prompts" in view.status.text()
    view.set_prompts([f"a shape {i}" for i in range(10_000)])
    assert "more than the 1,000" in view.status.text()
    view.query([str(red_image(tmp_path / "red.png"))])
    assert "more than the 1,000" in view.status.text() and not cards(view)


def test_typing_a_prompt_retrieves_the_top_images(view, qtbot):
    view.search_box.setText("a red star")
    view.search()
    qtbot.waitUntil(lambda: view.results.count() > 0, timeout=WAIT_MS)
    assert view.results.count() == 24 and view.tabs.currentIndex() == 3
    similarities = [float(view.results.item(i).text().split()[0]) for i in range(view.results.count())]
    assert similarities == sorted(similarities, reverse=True)


def test_the_batch_similarity_matrix_follows_the_preview(view, clip_run):
    run = load_run(clip_run)
    method = run.method
    method._last_batch = (run.dataset.train.images[:5], torch.arange(5))
    tiles = method.preview(run.dataset.test.images[:4], torch.Generator().manual_seed(0))
    view.on_event(events.Preview(30, tiles))
    assert view.similarity.matrix.shape == (5, 5) and view.similarity.texts == method.texts[:5]
    view.similarity.grab()  # paints without error


def test_prompts_appear_as_markers_in_the_embedding_view(window, view, qtbot):
    window.explorer_dock.raise_()
    qtbot.waitUntil(lambda: window.explorer.explored is not None, timeout=WAIT_MS)
    view.set_prompts(["a red star", "a blue ring"])
    scatter = window.explorer.view.scatter
    qtbot.waitUntil(lambda: len(scatter.prompt_labels) == 2, timeout=WAIT_MS)
    assert [label.toPlainText() for label in scatter.prompt_labels] == ["a red star", "a blue ring"]
    assert len(scatter.prompt_marks.data) == 2


def test_a_run_of_another_method_leaves_window_drops_to_the_explorer(window, qtbot, tmp_path):
    from conftest import TINY_RUN

    Session(RunConfig.with_method_defaults({**TINY_RUN, "steps": 3}), tmp_path / "simclr").run()
    window.load_run(tmp_path / "simclr")
    qtbot.waitUntil(lambda: window.clip_view.run_method == "simclr", timeout=WAIT_MS)
    view = window.clip_view
    view.set_prompts(["a red star"])
    view.window_query([str(red_image(tmp_path / "red.png"))])
    assert not view.jobs["model"].running and not cards(view)
    view.query([str(tmp_path / "red.png")])  # dropped onto the panel itself: told why not
    qtbot.waitUntil(lambda: "no text tower" in view.status.text(), timeout=WAIT_MS)
