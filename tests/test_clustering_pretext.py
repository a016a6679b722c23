"""DeepCluster and SeLa: Sinkhorn-Knopp against the paper's own iteration and on extreme scores, no empty k-means
cluster, batches uniform over clusters, labels that never reach the loss, short runs with their NMI logs, cluster
preview and explorer colouring, refused settings, and a resumed run equal to an uninterrupted one."""
from __future__ import annotations

import math
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import TINY_RUN, train_to_completion
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import normalized_mutual_info_score

from engine import events
from engine.build import build
from engine.explore.embedding import EncoderSnapshot, embed_dataset
from engine.losses import sinkhorn
from engine.methods.deepcluster import cluster_features, fill_empty_clusters, uniform_over_clusters
from engine.methods.sela import SeLa, SeLaConfig, self_labels
from engine.run import RunConfig, Session, load_run

FAST = {"eval_every_s": 0.0, "preview_every_s": 0.0, "checkpoint_every_s": 0.0, "warmup_steps": 5}


def g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def config(method: str, steps: int = 40, **options) -> RunConfig:
    return RunConfig.with_method_defaults({**TINY_RUN, **FAST, "method": method, "steps": steps,
                                           "method_options": options})


def papers_sinkhorn(probabilities: np.ndarray, lam: float, rounds: int) -> np.ndarray:
    """SeLa's CPU code (``optimize_L_sk``): P^lambda (K x N) rescaled, r = (1/K) / (P c), c = (1/N) / (r^T P)
    alternately, Q = diag(r) P^lambda diag(c); returned as N * Q^T (N x K)."""
    p = probabilities.T ** lam
    k, n = p.shape
    r, c = np.ones((k, 1)) / k, np.ones((n, 1)) / n
    for _ in range(rounds):
        r = (1 / k) / (p @ c)
        c = (1 / n) / (r.T @ p).T
    return (p * c.squeeze() * r).T * n


def test_sinkhorn_follows_the_papers_iteration_and_splits_the_set_equally():
    logits = 2 * torch.randn(600, 6, generator=g(0), dtype=torch.float64)
    log_p = torch.log_softmax(logits, 1)
    direct = papers_sinkhorn(log_p.exp().numpy(), 25.0, 30)
    assert np.allclose(sinkhorn(log_p, 1 / 25, 30).numpy(), direct, rtol=1e-6, atol=1e-12)
    q = sinkhorn(log_p, 1 / 25, 1000, 1e-4)
    assert q.sum(1).tolist() == pytest.approx([1.0] * 600, abs=1e-9)  # each sample one unit
    assert q.sum(0).tolist() == pytest.approx([100.0] * 6, rel=1e-4)  # each cluster N / K
    for skewed in (logits, logits + torch.tensor([3.0, 0, 0, 0, 0, 0], dtype=torch.float64)):  # all prefer 0
        counts = torch.bincount(self_labels(skewed, 25.0), minlength=6)
        assert counts.min() >= 90 and counts.max() <= 110, counts  # hard labels: equal within 10 %


def test_sinkhorn_has_no_nan_for_extreme_scores():
    n, k = 240, 6
    preferred = torch.randperm(n, generator=g(1)) % k  # 40 samples strongly prefer each cluster
    logits = 1e4 * torch.nn.functional.one_hot(preferred, k).double()
    logits += torch.randn(n, k, generator=g(2), dtype=torch.float64)
    logits[:, 2] += 1e4  # every sample prefers cluster 2 and shuns cluster 5 by the same margins, so the equal
    logits[:, 5] -= 3e4  # partition stays the one of the preferences; P^lambda of cluster 5 underflows to 0
    logits[torch.arange(40), (preferred[:40] + 1) % k] = -math.inf  # and some clusters are impossible for some
    log_p = torch.log_softmax(logits, 1)
    with np.errstate(all="ignore"):
        assert np.isnan(papers_sinkhorn(log_p.exp().numpy(), 25.0, 10)).any()  # P^lambda underflows to 0 / 0
    q = sinkhorn(log_p, 1 / 25, 1000, 1e-3)
    assert torch.isfinite(q).all() and q.sum(0).tolist() == pytest.approx([n / k] * k, rel=1e-3)
    assert torch.bincount(q.argmax(1), minlength=k).tolist() == [n // k] * k
    # SwAV's use: scores of 1e4 with a -1e30 and a -inf column, epsilon 0.05 (exp of 2e5 overflows float32)
    scores = 1e4 * torch.randn(64, 8, generator=g(3))
    scores[:, 3], scores[:5, 5] = -1e30, -math.inf
    codes = sinkhorn(scores, 0.05, 3)
    assert torch.isfinite(codes).all() and codes.sum(1).tolist() == pytest.approx([1.0] * 64, abs=1e-5)


def test_an_empty_cluster_takes_part_of_the_largest_one():
    rng = np.random.default_rng(0)
    points = rng.standard_normal((100, 2))
    assignment = np.repeat([0, 1, 2], [60, 30, 10])  # clusters 3 and 4 are empty
    centroids = np.stack([points[assignment == c].mean(0) for c in range(3)] + [np.zeros(2)] * 2)
    filled = fill_empty_clusters(points, assignment, centroids, rng)
    assert np.bincount(filled, minlength=5).min() > 0
    moved = filled != assignment
    assert set(filled[moved]) == {3, 4} and set(assignment[moved]) <= {0, 1}  # split off the largest clusters
    assert (filled[assignment == 2] == 2).all()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_k_means_on_duplicated_features_leaves_empty_clusters_that_deepcluster_refills():
    features = np.repeat(np.eye(3, 8) * 5, 10, axis=0).astype(np.float32)  # three distinct points, 5 clusters
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = KMeans(5, n_init=1, random_state=0).fit(features).labels_
    assert np.bincount(plain, minlength=5).min() == 0
    assert np.bincount(cluster_features(features, 5, 64, seed=0), minlength=5).min() > 0


def test_batches_are_drawn_uniformly_over_unbalanced_clusters():
    assignment = torch.repeat_interleave(torch.arange(3), torch.tensor([700, 250, 50]))
    drawn = uniform_over_clusters(assignment, 30000, g(0))
    assert (torch.bincount(assignment[drawn], minlength=3) / 30000).tolist() == pytest.approx([1 / 3] * 3, abs=0.02)
    within = torch.bincount(drawn[assignment[drawn] == 2] - 950, minlength=50)  # members alike within a cluster
    assert within.min() > 0


def relabelled(name: str, labels: torch.Tensor | None, **options):
    """A fresh method (seed 0) on the tiny shapes after its first labelling and one training step."""
    built = build(config(name, **options))
    built.method.attach_training_data(replace(built.dataset, train=replace(built.dataset.train, labels=labels)),
                                      lambda text: None)
    out = None
    for step in range(2 if name == "sela" else 1):  # SeLa: the random start, then a real self-labelling
        rows = built.method.batch_indices(0, torch.arange(32), g(step))
        out = built.method.training_step(built.dataset.train.images[rows], g(step))
    return built, out


@pytest.mark.parametrize("name", ["deepcluster", "sela"])
def test_the_true_labels_never_reach_the_pseudo_labels_or_the_loss(name):
    unlabelled, out = relabelled(name, None, clusters=10)
    labels = unlabelled.dataset.train.labels
    for given in (labels, labels[torch.randperm(len(labels), generator=g(0))]):
        built, labelled_out = relabelled(name, given, clusters=10)
        assert torch.equal(built.method.assignments, unlabelled.method.assignments)
        assert labelled_out.loss.item() == out.loss.item()
        expected = np.mean([normalized_mutual_info_score(given, a) for a in built.method.assignments])
        assert labelled_out.logs["nmi_labels"] == pytest.approx(expected)  # only the diagnostic sees them
    assert "nmi_labels" not in out.logs


def test_a_raw_pixel_classifier_reads_the_cluster_from_the_image():
    """DeepCluster's first clusters (k-means of the random network's features) are well predicted by a linear
    classifier of the un-augmented pixels: the pseudo-label is a function of the image."""
    built, _ = relabelled("deepcluster", None, clusters=10)
    x = built.augment.prepare(built.dataset.train.images).flatten(1).numpy()
    y = built.method.assignments[0].numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        accuracy = LogisticRegression(max_iter=200).fit(x[:256], y[:256]).score(x[256:], y[256:])
    assert accuracy > 0.4 > np.bincount(y).max() / len(y), accuracy


@pytest.mark.parametrize("name,relabelling", [("deepcluster", "Clustering 512"), ("sela", "Self-labelling 512")])
def test_a_short_run_logs_nmi_and_previews_its_clusters_which_the_explorer_colours_by(tmp_path, name, relabelling):
    session, seen = train_to_completion(config(name, steps=48, clusters=10, reassign_epochs=1), tmp_path / name)
    losses = [loss for e in seen if isinstance(e, events.Step) for loss in e.losses]
    assert len(losses) == 48 and all(math.isfinite(x) for x in losses)
    records = [r for r in session.folder.records() if "nmi_labels" in r]
    assert [r["step"] for r in records] == [1, 17, 33]  # the steps trained on new labels (every epoch of 16)
    assert all(0 <= r["nmi_labels"] <= 1 and r["cluster_s"] < 10 for r in records)
    assert all("nmi_previous" in r for r in records[1:])
    accuracy = [r["pretext_acc"] for r in session.folder.records() if "pretext_acc" in r]
    assert np.mean(accuracy[-16:]) > 0.12, accuracy  # above chance (0.1) on the last epoch's labels
    assert any(isinstance(e, events.Status) and e.message.startswith(relabelling) for e in seen)
    optimised = {name: float(session.optimizer.state[p]["step"])
                 for name, p in (("head", session.method.classifiers[0].weight),
                                 ("backbone", next(session.method.backbone.parameters())))}
    # DeepCluster's classifier, new at step 32, starts with a fresh optimiser state; SeLa's heads are never new
    assert optimised == {"head": 16 if name == "deepcluster" else 48, "backbone": 48}
    tiles = session.method.preview(session.dataset.test.images[:4], g(0))
    assert tiles.title.startswith("Largest of 10 pseudo-label clusters") and len(tiles.rows) == 6
    assert {tuple(t.shape) for row in tiles.rows for t in row} == {(3, 16, 16)}
    assert tiles.captions[0][0].startswith("#") and "%" in tiles.captions[0][1]

    pseudo = session.method.pseudo_labels()
    assert pseudo.shape == (512,) and torch.equal(pseudo, session.method.assignments[0].cpu())
    assert torch.equal(load_run(session.run_dir, "cpu").method.pseudo_labels(), pseudo)  # saved with the weights
    embedding = embed_dataset(EncoderSnapshot.of_session(session), session.dataset, limit=300)
    assert torch.equal(embedding.pseudo_labels, pseudo[embedding.indices])
    from gui.explore_steps import PSEUDO_LABEL, Explored, colouring_choices, compute_colouring
    from gui.snapshots import Subject

    explored = Explored(Subject(EncoderSnapshot.of_session(session), session.dataset, None, name), embedding,
                        session.dataset.train.images[embedding.indices], np.zeros((300, 2)), "PCA", {})
    assert (PSEUDO_LABEL, "pseudo-label") in colouring_choices(explored)
    colouring = compute_colouring(explored, PSEUDO_LABEL, lambda: False, lambda p: None)
    assert len(colouring.categories) == 300 and set(colouring.names) <= {f"pseudo-label {c}" for c in range(10)}


def test_bad_settings_are_refused_in_one_sentence(tmp_path):
    seen = []
    assert Session(config("deepcluster", clusters=1000), tmp_path / "k", seen.append).run().reason == "failed"
    assert [e.message for e in seen if isinstance(e, events.Error)] == [
        "deepcluster cannot split 512 training images into 1000 clusters: set clusters to at most 512"]
    with pytest.raises(ValueError, match="^heads must be at least 1, not 0$"):
        config("sela", heads=0)
    built = build(config("sela"))
    with pytest.raises(ValueError, match="^heads must be at least 1, not 0$"):
        SeLa(built.method.backbone, SeLaConfig(heads=0), built.augment)


@pytest.mark.parametrize("name", ["deepcluster", "sela"])
def test_a_stopped_and_resumed_run_equals_an_uninterrupted_one(whole_and_resumed, name):
    whole, resumed = whole_and_resumed(config(name, steps=24, clusters=10, reassign_epochs=0.25))  # every 4 steps
    assert whole["model.assignments"].shape == (1 if name == "deepcluster" else 2, 512)
    assert all(torch.equal(whole[k], resumed[k]) for k in whole if k.startswith("model.")), name
