"""Run a scorer over a data set's test split with the published protocol.

Per category: object AUROC and AUPR over the category's test scans (anomalous = positive),
point AUROC and AUPR over all test points of the category concatenated, point F1-max and
its threshold, and AUPRO (FPR <= 0.3) when the data are organized MVTec 3D-AD images.
Means are unweighted over categories. The points scored for each test sample are the ones
the protocol scores (:meth:`TestSample.load`): the test file's, or the ground-truth file's
for anomalous Real3D-AD / Anomaly-ShapeNet samples.

Verdicts (:mod:`casl_core.inspection.verdict`) at calibrated thresholds sit beside the
metrics: per category, the calibration given, else the scorer's own (a CASL checkpoint's),
else one learnt on the category's train split (:func:`casl_core.scorers.calibration.calibrate`);
then how many good test scans FAIL, how many defective ones PASS, how many are out of
distribution, and the share of defective scans whose top region overlaps the defect.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from casl_core import metrics
from casl_core.atomic import atomic_write_bytes
from casl_core.errors import ConfigError, DatasetError
from casl_core.inspection.verdict import ScanVerdict, VerdictStatus, region_hits, scan_verdict
from casl_core.progress import CancelFn, ProgressFn, check_cancel, report
from casl_core.scorers.base import Scorer
from casl_core.scorers.calibration import Calibration

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
    verdict_scorer: str | None = None
    false_alarm_rate: float | None = None
    calibrated_on: str | None = None
    n_good_fail: int | None = None
    n_defective_pass: int | None = None
    n_out_of_distribution: int | None = None
    top_region_on_defect: float | None = None


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

    def verdict_totals(self) -> dict[str, int | float | None]:
        """Verdict counts summed over the categories that have them (``None`` where none has)."""
        rs = [r for r in self.categories.values() if r.n_good_fail is not None]
        if not rs:
            return {"n_good": None, "n_good_fail": None, "n_defective": None, "n_defective_pass": None}
        hits = [(r.top_region_on_defect, r.n_anomalous) for r in rs if r.top_region_on_defect is not None]
        n_hit = sum(h * n for h, n in hits)
        n_def = sum(n for _, n in hits)
        return {
            "n_good": sum(r.n_test - r.n_anomalous for r in rs),
            "n_good_fail": sum(r.n_good_fail or 0 for r in rs),
            "n_defective": sum(r.n_anomalous for r in rs),
            "n_defective_pass": sum(r.n_defective_pass or 0 for r in rs),
            "n_out_of_distribution": sum(r.n_out_of_distribution or 0 for r in rs),
            "top_region_on_defect": n_hit / n_def if n_def else None,
        }

    def to_json(self) -> dict:
        """The RESULTS.json document: ``{"categories": {cat: {...}}, "mean": {...}, "verdicts": {...}, ...}``."""
        return {
            "method": self.method,
            "layout": self.layout,
            "root": self.root,
            "categories": {name: asdict(r) for name, r in self.categories.items()},
            "mean": self.mean(),
            "verdicts": self.verdict_totals(),
        }

    def write_json(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_json` atomically to ``path``."""
        text = json.dumps(self.to_json(), indent=2, allow_nan=False)
        atomic_write_bytes(Path(path), (text + "\n").encode())

    def table(self) -> str:
        """A plain-text table per category and the mean: AUROC, AUPR and the verdicts
        (good scans that FAIL, defective scans that PASS, top region on the defect).
        """
        rows = [
            ("category", "object AUROC", "point AUROC", "object AUPR", "point AUPR")
            + ("good FAIL", "defective PASS", "top region on defect")
        ]
        for name, r in self.categories.items():
            rows.append(
                (name, _fmt(r.object_auroc), _fmt(r.point_auroc), _fmt(r.object_aupr), _fmt(r.point_aupr))
                + _verdict_cells(r)
            )
        m = self.mean()
        rows.append(
            ("mean", _fmt(m["object_auroc"]), _fmt(m["point_auroc"]), _fmt(m["object_aupr"]), _fmt(m["point_aupr"]))
            + _verdict_totals(self.verdict_totals())
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


def _verdict_cells(r: CategoryResult) -> tuple[str, str, str]:
    if r.n_good_fail is None:
        return ("n/a", "n/a", "n/a")
    hit = "n/a" if r.top_region_on_defect is None else f"{r.top_region_on_defect:.0%}"
    return (f"{r.n_good_fail}/{r.n_test - r.n_anomalous}", f"{r.n_defective_pass}/{r.n_anomalous}", hit)


def _verdict_totals(t: dict) -> tuple[str, str, str]:
    if t["n_good"] is None:
        return ("n/a", "n/a", "n/a")
    hit = "n/a" if t["top_region_on_defect"] is None else f"{t['top_region_on_defect']:.0%}"
    return (f"{t['n_good_fail']}/{t['n_good']}", f"{t['n_defective_pass']}/{t['n_defective']}", hit)


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
    calibration: Calibration | None = None,
    verdicts: bool = True,
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
        of the scored points) and ``<category>/object_scores.csv`` (with each scan's verdict)
        are written there.
    calibration:
        The calibration of every category's verdicts; when ``None``, the scorer's own
        (``scorer.calibration``, a CASL checkpoint's) or one learnt on the category's train split.
    verdicts:
        False skips the verdicts (and any calibration).

    Raises
    ------
    DatasetError
        If a requested category does not exist or a sample cannot be loaded.
    ConfigError
        If ``calibration`` is another scorer's.
    Cancelled
        If ``cancel`` says so between samples.
    """
    from casl_core.datasets import open_dataset

    dataset = open_dataset(root, layout=layout)
    names = list(dataset.categories) if categories is None else list(categories)
    unknown = [c for c in names if c not in dataset.categories]
    if unknown:
        raise DatasetError(f"{dataset.root}: no category {', '.join(unknown)}; it has {', '.join(dataset.categories)}")
    if calibration is not None and calibration.scorer != scorer.name:
        raise ConfigError(f"the calibration given is for scorer {calibration.scorer!r}, not {scorer.name!r}")
    results = EvalResults(method=scorer.name, layout=dataset.layout, root=str(dataset.root))
    total = sum(len(dataset.category(c).test) for c in names)
    done = 0
    for cat_name in names:
        category = dataset.category(cat_name)
        cat_scorer = category_scorer(scorer, cat_name, category.train)
        if not category.test:
            raise DatasetError(f"{dataset.root}: category {cat_name} has no test sample")
        cal, cal_from = (
            category_calibration(cat_scorer, category, calibration, cancel=cancel) if verdicts else (None, None)
        )
        tally = VerdictTally()
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
            status = tally.judge(cal, scored, sample.is_anomalous, scan.labels) if cal is not None else ""
            rows.append((sample.name, scored.object_score, status))
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
        result = category_result(cat_name, obj_labels, obj_scores, pt_labels, pt_scores, masks, maps)
        if cal is not None:
            result = replace(result, **tally.fields(cal, cal_from))
        results.categories[cat_name] = result
    report(progress, "done", total, total)
    return results


def category_calibration(
    scorer: Scorer, category, given: Calibration | None, *, cancel: CancelFn | None = None
) -> tuple[Calibration, str]:
    """The calibration of one category's verdicts and where it came from.

    ``given`` when not ``None``; else the scorer's own (``scorer.calibration``, e.g. a CASL
    checkpoint's); else one learnt on the category's train split.

    Raises
    ------
    DatasetError
        If a calibration must be learnt and the category has no training scan.
    """
    if given is not None:
        return given, "given"
    own = getattr(scorer, "calibration", None)
    if own is not None:
        return own, "checkpoint"
    if not category.train:
        raise DatasetError(f"category {category.name}: no training scan to calibrate {scorer.name} on")
    from casl_core.scorers.calibration import calibrate

    return calibrate(scorer, category.train, cancel=cancel), "train split"


@dataclass
class VerdictTally:
    """Verdict counts of one category's test scans."""

    good_fail: int = 0
    defective_pass: int = 0
    out_of_distribution: int = 0
    defective_labelled: int = 0
    top_hits: int = 0

    def judge(self, cal: Calibration, scored, anomalous: bool, labels: np.ndarray | None) -> str:
        """The verdict on one scored test scan (:class:`~casl_core.scorers.base.ScanScores`), counted; its status."""
        verdict = scan_verdict(scored.scan, {cal.scorer: cal}, object_scores={cal.scorer: scored.object_score})
        self.add(verdict, anomalous, labels)
        return verdict.status.value

    def add(self, verdict: ScanVerdict, anomalous: bool, labels: np.ndarray | None) -> None:
        """Count one test scan's verdict (``labels``: its point labels, when it has them)."""
        self.out_of_distribution += verdict.status is VerdictStatus.OUT_OF_DISTRIBUTION
        if not anomalous:
            self.good_fail += verdict.status is VerdictStatus.FAIL
            return
        self.defective_pass += verdict.status is VerdictStatus.PASS
        if labels is not None and labels.any():
            self.defective_labelled += 1
            self.top_hits += region_hits(verdict, labels)

    def fields(self, cal: Calibration, calibrated_on: str | None) -> dict:
        """The verdict fields of :class:`CategoryResult`."""
        return {
            "verdict_scorer": cal.scorer,
            "false_alarm_rate": cal.false_alarm_rate,
            "calibrated_on": calibrated_on,
            "n_good_fail": self.good_fail,
            "n_defective_pass": self.defective_pass,
            "n_out_of_distribution": self.out_of_distribution,
            "top_region_on_defect": self.top_hits / self.defective_labelled if self.defective_labelled else None,
        }


def category_scorer(scorer: Scorer, category: str, train: Sequence[Path]) -> Scorer:
    """The scorer of one category: ``scorer.for_category_scans(category, train)`` when the
    scorer uses the category's normal scans (references, a fusion fitted on them), else
    ``scorer.for_category(category)``.
    """
    with_scans = getattr(scorer, "for_category_scans", None)
    if callable(with_scans):
        return with_scans(category, list(train))
    return scorer.for_category(category)


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


def _write_object_csv(path: Path, rows: list[tuple[str, float, str]]) -> None:
    import io

    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["file", "object_score", "verdict"])
    for name, score, status in rows:
        writer.writerow([name, repr(float(score)), status])
    atomic_write_bytes(path, buf.getvalue().encode())
