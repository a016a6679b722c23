"""The explorer on a tiny trained run: loading it read-only, embedding, queries, the class report, the
label-fraction curve, the runs table, and ``main.py eval --umap --export``."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.config import from_dict
from engine.data.shapes import COLORS
from engine.explore.embedding import EncoderSnapshot, embed_dataset, sample_rows
from engine.explore.label_fractions import FinetuneBudget, label_fraction_curve, labelled_subset
from engine.explore.query import Query, query
from engine.explore.report import class_report, confusion_matrix, runs_table
from engine.run import RunConfig, Session, load_run

ROOT = Path(__file__).resolve().parents[1]
TINY = {"dataset": "shapes", "dataset_options": {"train_size": 400, "test_size": 120, "image_size": 16},
        "batch_size": 32, "minutes": 0.0, "steps": 3, "eval_every_s": 0.0, "preview_every_s": 0.0,
        "checkpoint_every_s": 0.0, "device": "cpu", "final_eval": True}


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("runs") / "tiny"
    assert Session(from_dict(RunConfig, TINY), folder).run().reason == "completed"
    return folder


@pytest.fixture(scope="module")
def loaded(run_dir):
    before = digest(run_dir)
    run = load_run(run_dir)
    assert digest(run_dir) == before  # loading for inference writes nothing
    return run


def test_loaded_run_embeds_a_fixed_sample_with_its_metadata(loaded):
    snap = EncoderSnapshot.of_run(loaded)
    assert snap.step == 3 and snap.image_size == 16 and not snap.method.training
    emb = embed_dataset(snap, loaded.dataset, "train", limit=150, seed=2, progress=(seen := []).append)
    assert emb.features.shape == (150, loaded.encoder.out_dim) and seen[-1] == 1.0
    assert torch.equal(emb.indices, sample_rows(400, 150, seed=2))
    assert torch.equal(emb.labels, loaded.dataset.train.labels[emb.indices])
    assert set(emb.attributes) >= {"shape", "color"} and emb.metadata()["color"][0] in COLORS
    assert torch.allclose(emb.features[:5], snap.embed(loaded.dataset.train.images[emb.indices[:5]]), atol=1e-5)


def test_snapshot_of_a_session_is_a_frozen_copy(run_dir):
    session = Session.from_run_dir(run_dir, eval_every_s=0.0)
    session._setup()
    session.metrics.close()
    snap = EncoderSnapshot.of_session(session)
    assert snap.method is not session.method and not snap.method.training
    first = next(snap.method.encoder.parameters())
    next(session.method.encoder.parameters()).data.add_(1.0)  # training goes on...
    assert not torch.equal(first, next(session.method.encoder.parameters()))  # ...the snapshot does not move


def test_a_training_image_dropped_as_a_file_finds_itself(loaded, tmp_path):
    snap = EncoderSnapshot.of_run(loaded)
    emb = embed_dataset(snap, loaded.dataset, "train")
    image = loaded.dataset.train.images[42]
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(tmp_path / "drop.png")
    [result] = query(snap, emb, [tmp_path / "drop.png"], k=3)
    assert isinstance(result, Query) and result.neighbours[0] == 42 and result.similarities[0] > 0.999


def test_confusion_matrix_and_class_report(loaded):
    matrix = confusion_matrix(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2]), 3)
    assert matrix.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    for classifier in ("probe", "knn"):
        report = class_report(EncoderSnapshot.of_run(loaded), loaded.dataset, classifier)
        assert report.confusion.shape == (10, 10) and report.confusion.sum() == 120
        assert 0 <= report.accuracy <= 1 and report.per_class.shape == (10,)
    final = [json.loads(line) for line in (loaded.run_dir / "metrics.jsonl").read_text().splitlines()][-1]
    assert report.accuracy == pytest.approx(final["eval"]["knn"])  # the same protocol as the run's final eval


def test_label_fraction_curve_on_tiny_data(loaded):
    labels = loaded.dataset.train.labels
    rows = labelled_subset(labels, 0.1)
    counts = torch.bincount(labels[rows], minlength=10)
    assert (counts >= 1).all() and len(rows) == sum(max(1, -(-int(n) // 10)) for n in torch.bincount(labels))
    seen = []
    curve = label_fraction_curve(EncoderSnapshot.of_run(loaded), loaded.dataset, (0.1, 1.0),
                                 FinetuneBudget(steps=2, batch_size=8), progress=seen.append)
    assert [p.fraction for p in curve] == [0.1, 1.0] and curve[1].labels == 400
    assert all(0 <= v <= 1 for p in curve for v in (p.probe, p.finetuned, p.supervised))
    assert len(seen) == 2 * 2 * 2 and seen[-1] == 1.0


def test_runs_table_lists_evaluated_runs_only(run_dir, tmp_path):
    (tmp_path / "not-a-run").mkdir()
    (tmp_path / "damaged").mkdir()
    (tmp_path / "damaged" / "run.json").write_text("{")
    (tmp_path / "copy").mkdir()
    for name in ("run.json", "metrics.jsonl"):
        (tmp_path / "copy" / name).write_bytes((run_dir / name).read_bytes())
    [row] = runs_table(tmp_path)
    assert row.method == "simclr" and row.final and row.step == 3 and set(row.scores) >= {"knn", "probe"}
    assert set(row.baselines) == {"raw", "random"} and '"size": 16' in row.data


def test_cli_eval_writes_the_umap_figure_and_exports(run_dir, tmp_path):
    figure, export = tmp_path / "umap.png", tmp_path / "export"
    done = subprocess.run([sys.executable, "main.py", "eval", str(run_dir), "--umap", str(figure), "--export",
                           str(export), "--points", "200"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "Final evaluation" in done.stderr and "Wrote" in done.stdout
    assert Image.open(figure).size == (1100, 800)
    vectors = np.loadtxt(export / "vectors.tsv", delimiter="\t").astype(np.float32)
    assert vectors.shape == (200, 256) and np.load(export / "coordinates.npy").shape == (200, 2)
    names = {p.name for p in export.iterdir()}
    assert {"sprite.png", "metadata.tsv", "projector_config.pbtxt", "coordinates.csv"} <= names
