"""The word map in the window (offscreen): a saved word2vec run's words coloured by attribute, hover shows a word
and its nearest words, typing a word or an analogy lists its neighbours and marks them, bad queries say why,
UMAP replaces PCA, exports; the setup panel offers text datasets with text methods only."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from test_gui_explorer import InstantLayouts, isolated_row

from engine.run import RunConfig, make_session
from engine.text.session import load_text_run
from engine.text.tokenizer import SPECIAL_TOKENS

WAIT_MS = 30_000
COLOURS = {"red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink"}


@pytest.fixture(scope="module")
def text_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "words"
    config = RunConfig.with_method_defaults({"method": "word2vec", "device": "cpu", "steps": 300, "minutes": 0.0,
                                             "eval_every_s": 0.0, "preview_every_s": 0.0,
                                             "dataset_options": {"train_size": 2000, "test_size": 100}})
    assert make_session(config, run_dir).run().reason == "completed"
    return run_dir


@pytest.fixture
def word_map(window, qtbot, text_run):
    """The window showing ``text_run`` with the Words dock raised and its PCA view drawn."""
    window.load_run(text_run)
    qtbot.waitUntil(lambda: window.word_map.source is not None, timeout=WAIT_MS)
    window.words_dock.raise_()
    qtbot.waitUntil(lambda: window.word_map.points is not None, timeout=WAIT_MS)
    return window.word_map


def test_the_words_of_a_saved_run_are_points_coloured_by_attribute(word_map, text_run):
    points, scatter = word_map.points, word_map.scatter
    words = [w for w in load_text_run(text_run).vocabulary.words if w not in SPECIAL_TOKENS]
    assert points.labels and set(points.labels) == set(words) and COLOURS <= set(words)  # every word, no special token
    assert sum(len(layer.rows) for layer in scatter.layers) == len(words)
    assert [label.text for _, label in scatter.legend.items] == ["shape", "color", "size", "position", "other words"]
    red = points.labels.index("red")
    assert points.names[points.categories[red]] == "color"
    assert word_map.labels and f"PCA of {len(words)} words" in word_map.status.text()


def test_hovering_a_word_shows_it_and_its_nearest_words(word_map, qtbot):
    scatter = word_map.scatter
    row = isolated_row(word_map.coordinates)
    qtbot.mouseMove(scatter.viewport(), scatter.mapFromScene(scatter.scene_pos_of(row)))
    qtbot.waitUntil(lambda: word_map.hovered_row == row, timeout=WAIT_MS)
    word = word_map.points.labels[row]
    text = word_map.hover.text()
    assert f"<b>{word}</b>" in text and "nearest:" in text
    nearest = [w for w, _ in word_map.points.words.neighbours(word, 3)]
    assert all(w in text for w in nearest)


def test_typing_a_word_lists_its_neighbours_and_marks_them_on_the_map(word_map, qtbot):
    qtbot.keyClicks(word_map.query, "red")
    qtbot.keyClick(word_map.query, Qt.Key.Key_Return)
    listed = [word_map.results.item(i).text().split()[-1] for i in range(word_map.results.count())]
    assert len(listed) == 12 and "red" not in listed and len(COLOURS & set(listed[:7])) >= 6, listed
    rows = {word_map.points.labels.index(w) for w in listed}
    assert set(word_map.scatter.highlighted.tolist()) == rows
    assert word_map.scatter.focused.tolist() == [word_map.points.labels.index("red")]
    assert any("red" in item.textItem.toPlainText() for _, item in word_map.labels)

    word_map.query.setText("")
    qtbot.keyClicks(word_map.query, "small - large + left")
    qtbot.keyClick(word_map.query, Qt.Key.Key_Return)
    listed = [word_map.results.item(i).text().split()[-1] for i in range(word_map.results.count())]
    assert listed and not {"small", "large", "left"} & set(listed)

    word_map.ask("red + zebra")
    assert word_map.results.count() == 0 and "'zebra' is not in the vocabulary" in word_map.message.text()
    word_map.scatter.clicked.emit(word_map.points.labels.index("circle"))
    assert word_map.query.text() == "circle" and word_map.results.count() == 12


def test_umap_replaces_pca_and_the_words_export_for_the_projector(window, qtbot, text_run, tmp_path):
    window.explorer.layout_worker = InstantLayouts()
    window.load_run(text_run)
    qtbot.waitUntil(lambda: window.word_map.source is not None, timeout=WAIT_MS)
    window.words_dock.raise_()
    word_map = window.word_map
    qtbot.waitUntil(lambda: word_map.layout_name == "UMAP", timeout=WAIT_MS)
    assert "UMAP of 38 words" in word_map.status.text()
    word_map.export(tmp_path / "out")
    qtbot.waitUntil(lambda: (tmp_path / "out" / "coordinates.csv").exists() and not word_map.jobs["export"].running,
                    timeout=WAIT_MS)
    vectors = np.loadtxt(tmp_path / "out" / "vectors.tsv", delimiter="\t")
    assert vectors.shape == (38, 100) and np.allclose(vectors, word_map.points.vectors.numpy(), atol=1e-6)
    metadata = (tmp_path / "out" / "metadata.tsv").read_text().splitlines()
    assert metadata[0] == "word\tgroup\tcount" and len(metadata) == 39
    assert 'tensor_path: "vectors.tsv"' in (tmp_path / "out" / "projector_config.pbtxt").read_text()


def test_text_methods_are_offered_text_datasets_and_the_preview_shows_their_task(window, qtbot):
    setup = window.setup
    setup.method.setCurrentText("word2vec")
    offered = [setup.dataset.itemText(i) for i in range(setup.dataset.count())]
    assert offered == ["captions", "text"] and setup.dataset.currentText() == "captions"
    qtbot.waitUntil(lambda: "centre word" in window.preview.title, timeout=WAIT_MS)
    assert window.preview.rows and any("✓" in c or "✗" in c for row in window.preview.captions for c in row)
    setup.method.setCurrentText("simclr")
    assert "shapes" in [setup.dataset.itemText(i) for i in range(setup.dataset.count())]
    assert "captions" not in [setup.dataset.itemText(i) for i in range(setup.dataset.count())]
    assert setup.dataset.currentText() == "shapes"


def test_an_image_run_leaves_the_word_map_with_its_hint(window, qtbot, text_run, tmp_path):
    word_map = window.word_map
    word_map.show_run(text_run, {"method": "word2vec"})
    assert word_map.source is not None
    word_map.show_run(tmp_path, {"method": "simclr"})
    assert word_map.source is None and word_map.points is None and "text method" in word_map.status.text()


def test_a_masked_lm_runs_sentence_vectors_are_explorable(window, qtbot, tmp_path):
    run_dir = tmp_path / "mlm"
    config = RunConfig.with_method_defaults({"method": "masked_lm", "device": "cpu", "steps": 30, "minutes": 0.0,
                                             "eval_every_s": 0.0, "preview_every_s": 0.0, "final_eval": False,
                                             "method_options": {"dim": 32, "heads": 2, "ff_dim": 64},
                                             "dataset_options": {"train_size": 500, "test_size": 50}})
    assert make_session(config, run_dir).run().reason == "completed"
    window.load_run(run_dir)
    qtbot.waitUntil(lambda: window.word_map.source == run_dir, timeout=WAIT_MS)
    window.words_dock.raise_()
    word_map = window.word_map
    qtbot.waitUntil(lambda: word_map.points is not None, timeout=WAIT_MS)
    assert [word_map.kind.itemData(i) for i in range(word_map.kind.count())] == ["words", "cls", "mean"]
    word_map.kind.setCurrentIndex(2)
    word_map.refresh()
    qtbot.waitUntil(lambda: word_map.points is not None and word_map.points.kind == "mean", timeout=WAIT_MS)
    points = word_map.points
    assert len(points.labels) == 500 and points.labels[0].startswith("a ") and set(points.names) == COLOURS
    word_map.ask("a small red star at the top")
    assert word_map.results.count() == 12 and len(word_map.scatter.highlighted) == 12
    word_map.show_hover(0)
    assert points.labels[0] in word_map.hover.text()
