"""The evaluation panel's numbers: a classifier's confusion matrix and per-class accuracy on the test split,
and the runs table (each run folder's latest evaluation beside its baselines) for comparing methods trained
on the same data."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from engine.data.base import Dataset
from engine.data.registry import evaluation_data
from engine.eval.knn import knn_predict
from engine.eval.probe import linear_probe_predict
from engine.eval.protocol import EvalSplit
from engine.explore import Cancelled
from engine.explore.embedding import EncoderSnapshot
from engine.runfolder import RUN_JSON, RunFolder

CLASSIFIERS = ("probe", "knn")


@dataclass(frozen=True)
class ClassReport:
    classifier: str  # "probe" or "knn"
    class_names: list[str]
    confusion: np.ndarray  # int64 (C, C): rows are true classes, columns predicted ones

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion) / max(self.confusion.sum(), 1))

    @property
    def per_class(self) -> np.ndarray:
        """float64 (C,): the fraction of each class's test images classified correctly (NaN if it has none)."""
        totals = self.confusion.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(totals > 0, np.diag(self.confusion) / totals, np.nan)


def confusion_matrix(predicted: torch.Tensor, labels: torch.Tensor, num_classes: int) -> np.ndarray:
    """int64 (C, C) counts of (true, predicted) pairs."""
    pairs = labels.long() * num_classes + predicted.long()
    return torch.bincount(pairs, minlength=num_classes**2).view(num_classes, num_classes).numpy()


def class_report(snapshot: EncoderSnapshot, dataset: Dataset, classifier: str = "probe",
                 cancelled: Callable[[], bool] | None = None) -> ClassReport:
    """The snapshot's test predictions by the evaluation protocol's linear probe (trained on all labelled
    training images) or kNN, as a confusion matrix. Slow: embeds both splits, then fits the probe."""
    if classifier not in CLASSIFIERS:
        raise ValueError(f"classifier must be one of {CLASSIFIERS}, not {classifier!r}")
    split = EvalSplit.from_dataset(dataset)
    bank = snapshot.embed(split.bank.images)
    if cancelled is not None and cancelled():
        raise Cancelled("class report cancelled")
    queries = snapshot.embed(split.queries.images)
    predict = linear_probe_predict if classifier == "probe" else knn_predict
    predicted = predict(bank, split.bank.labels, queries, num_classes=split.num_classes)
    return ClassReport(classifier, list(dataset.class_names),
                       confusion_matrix(predicted, split.queries.labels, split.num_classes))


@dataclass(frozen=True)
class RunSummary:
    """One run folder's latest evaluation: the final one (full splits, with the probe) if it has one."""

    run_dir: Path
    method: str
    backbone: str
    dataset: str
    data: str  # what runs are evaluated on (registry.evaluation_data, image size): runs with equal data compare
    step: int
    final: bool
    scores: dict[str, float] = field(default_factory=dict)  # knn, probe, ...
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)  # {"raw": {...}, "random": {...}}


def runs_table(root: Path) -> list[RunSummary]:
    """Summaries of the run folders under ``root`` that have been evaluated, newest first. Folders that are not
    runs, or whose files are damaged, are left out."""
    summaries = []
    for run_json in sorted(Path(root).glob(f"*/{RUN_JSON}"), key=lambda p: p.stat().st_mtime, reverse=True):
        folder = RunFolder(run_json.parent)
        try:
            summary = _summarise(folder, folder.read_info())
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if summary is not None:
            summaries.append(summary)
    return summaries


def _summarise(folder: RunFolder, info: dict) -> RunSummary | None:
    latest = None
    for record in folder.records(evals_only=True):
        if latest is None or record.get("final") or not latest.get("final"):
            latest = record
    if latest is None:
        return None
    config = info["config"]
    evaluated_on, options = evaluation_data(config["dataset"], config.get("dataset_options", {}))
    data = json.dumps({"dataset": evaluated_on, "options": options, "size": info["dataset"]["image_size"]},
                      sort_keys=True)
    return RunSummary(folder.path, config["method"], config["backbone"], config["dataset"], data,
                      int(latest["step"]), bool(latest.get("final")), latest["eval"], latest.get("baselines", {}))
