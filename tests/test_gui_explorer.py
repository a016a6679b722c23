"""The explorer in the window (offscreen): a saved run's embedding, hover, click, rectangle and grid selection,
dropped and pasted images (good and bad), exports, the UMAP view replacing PCA and the Snapshot animation."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, QRectF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage
from PySide6.QtWidgets import QApplication
from test_explore_query import unusual_images
from test_images import BAD_FILES

from engine.eval.knn import cosine_topk
from engine.run import RunConfig, Session
from gui.explore_steps import Explored

WAIT_MS = 30_000


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory) -> Path:
    """A tiny trained run folder, shared by the tests of this file (they only read it)."""
    from conftest import TINY_RUN

    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    Session(RunConfig.with_method_defaults({**TINY_RUN, "steps": 30}), run_dir).run()
    return run_dir


def run_files(run_dir: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in run_dir.iterdir()}


@pytest.fixture
def explorer(window, qtbot, saved_run):
    """The window showing ``saved_run`` with the Embeddings dock raised and its PCA view drawn."""
    window.load_run(saved_run)
    qtbot.waitUntil(lambda: window.explorer.source is not None, timeout=WAIT_MS)
    window.explorer_dock.raise_()
    qtbot.waitUntil(lambda: window.explorer.explored is not None, timeout=WAIT_MS)
    return window.explorer


def drop(widget, paths) -> QDropEvent:
    """What dragging files from a file manager onto ``widget`` delivers (qtbot's mouse cannot start a drag)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(QPoint(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    event = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)
    return event


def save_image(explored: Explored, row: int, path: Path) -> Path:
    Image.fromarray(explored.images[row].permute(1, 2, 0).numpy()).save(path)
    return path


def wait_groups(qtbot, explorer, before=None):
    qtbot.waitUntil(lambda: bool(explorer.groups) and explorer.groups is not before, timeout=WAIT_MS)
    return explorer.groups


def isolated_row(coordinates: np.ndarray) -> int:
    """The point farthest from its nearest neighbour: hovering it cannot hit another one."""
    distances = np.linalg.norm(coordinates[:, None] - coordinates[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    return int(distances.min(1).argmax())


def test_a_saved_run_shows_its_pca_coloured_by_label_with_a_legend(explorer):
    explored, scatter = explorer.explored, explorer.view.scatter
    assert explored.layout == "PCA" and len(explored.embedding) == 512 and explored.coordinates.shape == (512, 2)
    assert sum(len(layer.rows) for layer in scatter.layers) == 512
    legend = [label.text for _, label in scatter.legend.items]
    assert legend == explored.embedding.class_names
    keys = [explorer.view.colour_by.itemData(i) for i in range(explorer.view.colour_by.count())]
    assert keys[:2] == ["label", "attribute:shape"] and "clusters" in keys and "prototypes" not in keys


def test_hover_shows_the_point_and_click_shows_its_neighbours(explorer, qtbot):
    explored, scatter = explorer.explored, explorer.view.scatter
    row = isolated_row(explored.coordinates)
    qtbot.mouseMove(scatter.viewport(), scatter.mapFromScene(scatter.scene_pos_of(row)))
    qtbot.waitUntil(lambda: explorer.view.hover.row == row, timeout=WAIT_MS)
    assert f"training image {int(explored.embedding.indices[row])}" in explorer.view.hover.text.text()

    scatter.clicked.emit(row)
    group = wait_groups(qtbot, explorer)[0]
    _, expected = cosine_topk(explored.embedding.features[row:row + 1], explored.embedding.features, 11)
    assert group.row == row and group.rows == [r for r in expected[0].tolist() if r != row][:10]
    assert explorer.view.neighbours.grid.rows() == [row, *group.rows]
    assert scatter.focused.tolist() == [row] and set(scatter.highlighted.tolist()) == set(group.rows)


def test_rectangle_selection_fills_the_grid_and_picking_in_the_grid_marks_the_points(explorer, qtbot):
    scatter = explorer.view.scatter
    xy = explorer.explored.coordinates
    low, high = np.percentile(xy, 30, axis=0), np.percentile(xy, 70, axis=0)
    scatter.select_rect(QRectF(QPointF(*low), QPointF(*high)))
    inside = np.flatnonzero(((xy >= low) & (xy <= high)).all(1))
    grid = explorer.view.selection
    assert len(inside) > 3 and grid.rows() == inside.tolist()
    assert scatter.highlighted.tolist() == inside.tolist()
    grid.select_rows(inside[:3])
    assert scatter.focused.tolist() == inside[:3].tolist()
    grid.clearSelection()
    grid.item(1).setSelected(True)  # as a click in the grid does
    assert scatter.focused.tolist() == [inside[1]]


def test_a_dropped_image_finds_itself_and_sits_on_its_point_and_the_run_is_untouched(explorer, qtbot, tmp_path,
                                                                                    saved_run):
    before = run_files(saved_run)
    explored = explorer.explored
    path = save_image(explored, 7, tmp_path / "seven.png")
    drop(explorer.view, [path])
    group = wait_groups(qtbot, explorer)[0]
    assert group.title == "seven.png" and group.rows[0] == 7 and group.similarities[0] > 0.99
    assert explorer.view.neighbours.grid.rows() == group.rows and explorer.view.tabs.currentIndex() == 1
    assert np.allclose(explorer.view.scatter.queries, [group.position])
    assert np.linalg.norm(group.position - explored.coordinates[7]) < np.ptp(explored.coordinates, 0).max() / 4
    assert run_files(saved_run) == before


def test_a_new_snapshot_asks_the_dropped_images_again(explorer, qtbot, tmp_path):
    first = explorer.explored
    drop(explorer.view, [save_image(first, 3, tmp_path / "three.png")])
    before = wait_groups(qtbot, explorer)
    explorer.view.snapshot_button.click()
    qtbot.waitUntil(lambda: explorer.explored is not first, timeout=WAIT_MS)
    after = wait_groups(qtbot, explorer, before)
    assert after[0].title == "three.png" and after[0].rows[0] == 3
    assert explorer.view.neighbours.grid.rows() == after[0].rows and len(explorer.view.scatter.queries) == 1


def test_bad_files_dropped_on_the_window_are_named_with_reasons_and_the_rest_still_answer(explorer, qtbot, tmp_path,
                                                                                        window):
    bad = {"empty.png": "empty file", "notes.png": "not an image", "bomb.png": "too large",
           "truncated.jpg": "truncated"}
    for name in bad:
        (tmp_path / name).write_bytes(BAD_FILES[name][0])
    unreadable = tmp_path / "gone.png"  # listed by the file manager, deleted before the drop
    for name, data in unusual_images().items():  # 16-bit, CMYK, palette, animated, EXIF-rotated: converted
        (tmp_path / "unusual").mkdir(exist_ok=True)
        (tmp_path / "unusual" / name).write_bytes(data)
    good = save_image(explorer.explored, 11, tmp_path / "good.png")
    drop(window, [*(tmp_path / name for name in bad), unreadable, tmp_path / "unusual", good])
    groups = wait_groups(qtbot, explorer)
    rejected = dict(explorer.view.neighbours.rejected)
    assert set(rejected) == {*bad, "gone.png"} and "cannot read file" in rejected["gone.png"]
    for name, reason in bad.items():
        assert reason in rejected[name] and name in explorer.view.neighbours.message.text()
    assert "could not be used" in window.statusBar().currentMessage()
    converted = {"16-bit.png", "cmyk.jpg", "palette.png", "animated.gif", "rotated.jpg", "big.png"}
    assert {g.title for g in groups} == converted | {"good.png"} and groups[-1].rows[0] == 11
    assert QApplication.activeModalWidget() is None  # a message in the panel, no dialog in the way

    drop(explorer.view, [good])  # still working
    assert wait_groups(qtbot, explorer, groups)[0].rows[0] == 11


def test_a_pasted_image_finds_its_neighbours(explorer, qtbot):
    image = explorer.explored.images[21].permute(1, 2, 0).contiguous().numpy()
    qimage = QImage(image.data, image.shape[1], image.shape[0], 3 * image.shape[1], QImage.Format.Format_RGB888)
    QApplication.clipboard().setImage(qimage.copy())
    explorer.view.paste()
    group = wait_groups(qtbot, explorer)[0]
    assert group.title == "pasted image" and group.rows[0] == 21


def test_exports_round_trip(explorer, qtbot, tmp_path):
    explorer.export_embeddings(tmp_path / "out")
    qtbot.waitUntil(lambda: (tmp_path / "out" / "coordinates.csv").exists() and not explorer.jobs["export"].running,
                    timeout=WAIT_MS)
    embedding = explorer.explored.embedding
    vectors = np.loadtxt(tmp_path / "out" / "vectors.tsv", delimiter="\t", dtype=np.float32)
    assert np.array_equal(vectors, embedding.features.numpy())
    metadata = (tmp_path / "out" / "metadata.tsv").read_text().splitlines()
    assert len(metadata) == 513 and metadata[1].split("\t")[0] == str(int(embedding.indices[0]))
    with open(tmp_path / "out" / "coordinates.csv") as f:
        rows = list(csv.DictReader(f))
    assert np.allclose([[float(r["x"]), float(r["y"])] for r in rows], explorer.view.scatter.target, atol=1e-4)
    assert np.array_equal(np.load(tmp_path / "out" / "features.npy"), embedding.features.numpy())
    png, svg = explorer.view.scatter.export(tmp_path / "scatter.png")
    assert png.stat().st_size > 1000 and "<svg" in svg.read_text()


class InstantLayouts:
    """A stand-in for the UMAP process, at once: a layout of the features alone (the same for the same features,
    whatever the init) that no rotation or scaling turns into their PCA view (the first two components, bent)."""

    ready = True

    def __init__(self) -> None:
        self.calls = 0

    def fit(self, features, knn_indices, knn_distances, init, settings, cancelled=None, progress=None):
        self.calls += 1
        assert knn_indices.shape == (len(features), settings.n_neighbors)
        if progress is not None:
            progress(1.0)
        x, y = (features[:, :2] / features[:, :2].std(0)).T
        return np.stack([3 * y, x + np.sin(2 * y)], 1).astype(np.float32)


def test_umap_replaces_pca_and_snapshot_morphs_from_the_previous_layout(window, qtbot, saved_run):
    layouts = window.explorer.layout_worker = InstantLayouts()
    window.load_run(saved_run)
    qtbot.waitUntil(lambda: window.explorer.source is not None, timeout=WAIT_MS)
    window.explorer_dock.raise_()
    qtbot.waitUntil(lambda: window.explorer.explored is not None and window.explorer.explored.layout == "UMAP",
                    timeout=WAIT_MS)
    explorer, scatter = window.explorer, window.explorer.view.scatter
    first = explorer.explored
    qtbot.waitUntil(lambda: not scatter.animation.running, timeout=WAIT_MS)
    assert np.allclose(scatter.coordinates, first.coordinates) and "UMAP" in explorer.view.status.text()

    shown = []  # the coordinates the new snapshot's points are first shown at
    set_points = scatter.set_points
    scatter.set_points = lambda coordinates, *args, **kwargs: (shown.append(np.array(coordinates)),
                                                                set_points(coordinates, *args, **kwargs))
    explorer.view.snapshot_button.click()
    qtbot.waitUntil(lambda: explorer.explored is not first, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: explorer.explored.layout == "UMAP" and not scatter.animation.running, timeout=WAIT_MS)
    [where] = shown  # they stayed on the previous UMAP (no detour through a PCA view) until their UMAP moved them
    assert np.allclose(where, first.coordinates)
    assert layouts.calls == 2 and np.allclose(scatter.coordinates, explorer.explored.coordinates)
    assert np.allclose(explorer.explored.coordinates, first.coordinates, atol=1e-3)  # same encoder: same layout


def test_snapshots_of_a_training_run_leave_it_training(window, qtbot, tiny_run):
    window.setup.set_values({**tiny_run, "steps": 0, "minutes": 0.0, "eval_every_s": 0.0})
    window.start_action.trigger()
    qtbot.waitUntil(lambda: window.plots.steps_received > 0, timeout=WAIT_MS)
    window.explorer_dock.raise_()
    qtbot.waitUntil(lambda: window.explorer.explored is not None, timeout=WAIT_MS)
    first = window.explorer.explored
    assert first.subject.run_dir == window.run_dir and first.subject.snapshot.step > 0
    steps = window.plots.steps_received
    window.explorer.view.snapshot_button.click()
    qtbot.waitUntil(lambda: window.explorer.explored is not first, timeout=WAIT_MS)
    assert window.explorer.explored.subject.snapshot.step > first.subject.snapshot.step
    qtbot.waitUntil(lambda: window.plots.steps_received > steps, timeout=WAIT_MS)
    assert window.training_alive
    window.stop_action.trigger()
    qtbot.waitUntil(lambda: not window.training_alive, timeout=WAIT_MS)


def test_thumbnail_cells_hold_two_caption_lines_of_a_font_set_after_their_size(qtbot):
    """Presenter mode sets the thumbnail side, then the larger application font: the captions' second line (the
    class name under the similarity) must still fit the cell."""
    from PySide6.QtGui import QFontMetrics

    from gui.thumbnails import ThumbnailGrid

    app, grid = QApplication.instance(), ThumbnailGrid(side=72)
    qtbot.addWidget(grid)
    normal = app.font()
    try:
        larger = app.font()
        larger.setPointSizeF(normal.pointSizeF() * 1.5)
        app.setFont(larger)
        qtbot.waitUntil(lambda: grid.font().pointSizeF() == larger.pointSizeF())
        assert grid.gridSize().height() >= 72 + 2 * QFontMetrics(larger).height()
    finally:
        app.setFont(normal)


def test_presenter_mode_at_1280x800_shows_eight_neighbour_thumbnails_three_a_row(window, qtbot):
    window.resize(1280, 800)
    window.presenter_action.setChecked(True)
    window.explorer_dock.raise_()
    window.explorer.view.tabs.setCurrentWidget(window.explorer.view.neighbours)
    grid = window.explorer.view.neighbours.grid

    def shown() -> tuple[int, int]:
        """Thumbnails a row, and rows whose images are whole in the grid's viewport."""
        area, cell = grid.viewport().size(), grid.gridSize()
        return area.width() // cell.width(), area.height() // cell.height() + (area.height() % cell.height()
                                                                                >= grid.side)

    try:
        qtbot.waitUntil(lambda: shown()[0] >= 3 and shown()[0] * shown()[1] >= 8, timeout=10_000)
    finally:
        window.presenter_action.setChecked(False)
