"""Run a scorer over a data set's test split with the published protocol.

Per category: object AUROC and AUPR over the category's test scans (anomalous = positive),
point AUROC and AUPR over all test points of the category concatenated, point F1-max and
its threshold, and AUPRO (FPR <= 0.3) when the data are organized MVTec 3D-AD images.
Means are unweighted over categories. The points scored for each test sample are the ones
the protocol scores (:meth:`TestSample.load`): the test file's, or the ground-truth file's
for anomalous Real3D-AD / Anomaly-ShapeNet samples.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from casl_core import metrics
from casl_core.atomic import atomic_write_bytes
from casl_core.errors import DatasetError
from casl_core.progress import CancelFn, ProgressFn, check_cancel, report
from casl_core.scorers.base import Scorer

METRIC_NAMES = ("object_auroc", "point_auroc", "object_aupr", "point_aupr", "point_f1_max", "aupro")


@dataclass(frozen=True)
class CategoryResult:
    """Metrics of one category; a metric that does not apply (AUPRO off MVTec, an
    AUROC with a single class) is ``None``.
    """

    category: str
    n_test: int
    n_anomalous: int
    n_points: int
    object_auroc: float | None
    point_auroc: float | None
    object_aupr: float | None
    point_aupr: float | None
    point_f1_max: float | None
    point_f1_threshold: float | None
    aupro: float | None


@dataclass(frozen=True)
class EvalResults:
    """Results of one evaluation run: per category, and the unweighted mean."""

    method: str
    layout: str
    root: str
    categories: dict[str, CategoryResult] = field(default_factory=dict)

    def mean(self) -> dict[str, float | None]:
        """Unweighted mean over categories of each metric (``None`` where no category has it)."""
        out: dict[str, float | None] = {}
        for name in METRIC_NAMES:
            vals = [getattr(r, name) for r in self.categories.values() if getattr(r, name) is not None]
            out[name] = float(np.mean(vals)) if vals else None
        return out

    def to_json(self) -> dict:
        """The RESULTS.json document: ``{"categories": {cat: {...}}, "mean": {...}, ...}``."""
        return {
            "method": self.method,
            "layout": self.layout,
            "root": self.root,
            "categories": {name: asdict(r) for name, r in self.categories.items()},
            "mean": self.mean(),
        }

    def write_json(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_json` atomically to ``path``."""
        text = json.dumps(self.to_json(), indent=2, allow_nan=False)
        atomic_write_bytes(Path(path), (text + "\n").encode())

    def table(self) -> str:
        """A plain-text table of object and point AUROC per category and the mean."""
        rows = [("category", "object AUROC", "point AUROC", "object AUPR", "point AUPR")]
        for name, r in self.categories.items():
            rows.append((name, _fmt(r.object_auroc), _fmt(r.point_auroc), _fmt(r.object_aupr), _fmt(r.point_aupr)))
        m = self.mean()
        rows.append(
            ("mean", _fmt(m["object_auroc"]), _fmt(m["point_auroc"]), _fmt(m["object_aupr"]), _fmt(m["point_aupr"]))
        )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))) for row in rows
        ]
        lines.insert(1, "-" * len(lines[0]))
        lines.insert(len(lines) - 1, "-" * len(lines[0]))
        return "\n".join(lines)


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _safe(fn, labels: np.ndarray, scores: np.ndarray) -> float | None:
    """A metric that needs both classes: ``None`` when one is missing."""
    if labels.size == 0 or labels.min() == labels.max():
        return None
    return float(fn(labels, scores))


def evaluate(
    root: str | os.PathLike[str],
    scorer: Scorer,
    *,
    layout: str = "auto",
    categories: Sequence[str] | None = None,
    scores_dir: str | os.PathLike[str] | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> EvalResults:
    """Score every test sample of the chosen categories and compute the metrics.

    Parameters
    ----------
    root:
        Data-set root (see :func:`casl_core.datasets.open_dataset`).
    scorer:
        The method, e.g. :class:`casl_core.scorers.curvature.CurvatureBaseline`.
    layout:
        ``"auto"`` or a layout name.
    categories:
        Subset of categories; all when ``None``.
    scores_dir:
        When given, ``<category>/<test file stem>.npy`` (float32 point scores in the order
        of the scored points) and ``<category>/object_scores.csv`` are written there.

    Raises
    ------
    DatasetError
        If a requested category does not exist or a sample cannot be loaded.
    Cancelled
        If ``cancel`` says so between samples.
    """
    from casl_core.datasets import open_dataset

    dataset = open_dataset(root, layout=layout)
    names = list(dataset.categories) if categories is None else list(categories)
    unknown = [c for c in names if c not in dataset.categories]
    if unknown:
        raise DatasetError(f"{dataset.root}: no category {', '.join(unknown)}; it has {', '.join(dataset.categories)}")
    results = EvalResults(method=scorer.name, layout=dataset.layout, root=str(dataset.root))
    total = sum(len(dataset.category(c).test) for c in names)
    done = 0
    for cat_name in names:
        category = dataset.category(cat_name)
        cat_scorer = scorer.for_category(cat_name)
        if not category.test:
            raise DatasetError(f"{dataset.root}: category {cat_name} has no test sample")
        obj_scores, obj_labels, pt_scores, pt_labels, maps, masks = [], [], [], [], [], []
        rows = []
        for sample in category.test:
            check_cancel(cancel)
            report(progress, f"{cat_name}", done, total, sample.name)
            scan = sample.load()
            scored = cat_scorer.score(scan, cancel=cancel)
            obj_scores.append(scored.object_score)
            obj_labels.append(int(sample.is_anomalous))
            if scan.labels is not None:
                # a sample without point labels (an unlabelled scan of a plain folder)
                # counts at object level only
                pt_scores.append(scored.point_scores.astype(np.float64))
                pt_labels.append(scan.labels)
            rows.append((sample.name, scored.object_score))
            if dataset.layout == "mvtec3d":
                mask = sample.mask()
                if scan.metadata.pixel_index is None:
                    raise DatasetError(f"{sample.path}: the MVTec sample lost its pixel index")
                maps.append(metrics.score_map(scan.metadata.pixel_index, scored.point_scores, mask.shape))
                masks.append(mask)
            if scores_dir is not None:
                _write_scores(Path(scores_dir) / cat_name / f"{sample.name}.npy", scored.point_scores)
            done += 1
        if scores_dir is not None:
            _write_object_csv(Path(scores_dir) / cat_name / "object_scores.csv", rows)
        results.categories[cat_name] = category_result(
            cat_name, obj_labels, obj_scores, pt_labels, pt_scores, masks, maps
        )
    report(progress, "done", total, total)
    return results


def category_result(
    name: str,
    obj_labels: Sequence[int],
    obj_scores: Sequence[float],
    pt_labels: Sequence[np.ndarray],
    pt_scores: Sequence[np.ndarray],
    masks: Sequence[np.ndarray] = (),
    maps: Sequence[np.ndarray] = (),
) -> CategoryResult:
    """Metrics of one category from its per-scan object scores and per-point scores.

    Point arrays are concatenated before the point metrics; a metric whose inputs hold a
    single class is ``None``. AUPRO is computed when ground-truth masks and score maps
    (organized data) are given and some mask has a defect.
    """
    ol = np.asarray(obj_labels, dtype=np.uint8)
    os_ = np.asarray(obj_scores, dtype=np.float64)
    pl = np.concatenate(pt_labels).astype(np.uint8) if len(pt_labels) else np.zeros(0, np.uint8)
    ps = np.concatenate(pt_scores) if len(pt_scores) else np.zeros(0)
    f1 = None
    if pl.size and pl.min() != pl.max():
        f1 = metrics.f1_max(pl, ps)
    aupro = None
    if masks and any(m.any() for m in masks):
        aupro = float(metrics.aupro(list(np.stack(masks)), list(np.stack(maps)), fpr_limit=0.3))
    return CategoryResult(
        category=name,
        n_test=len(ol),
        n_anomalous=int(ol.sum()),
        n_points=int(pl.size),
        object_auroc=_safe(metrics.auroc, ol, os_),
        point_auroc=_safe(metrics.auroc, pl, ps),
        object_aupr=_safe(metrics.aupr, ol, os_),
        point_aupr=_safe(metrics.aupr, pl, ps),
        point_f1_max=None if f1 is None else float(f1.f1),
        point_f1_threshold=None if f1 is None or not math.isfinite(f1.threshold) else float(f1.threshold),
        aupro=aupro,
    )


def _write_scores(path: Path, scores: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    import io

    buf = io.BytesIO()
    np.save(buf, np.asarray(scores, dtype=np.float32), allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


def _write_object_csv(path: Path, rows: list[tuple[str, float]]) -> None:
    import io

    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["file", "object_score"])
    for name, score in rows:
        writer.writerow([name, repr(float(score))])
    atomic_write_bytes(path, buf.getvalue().encode())
