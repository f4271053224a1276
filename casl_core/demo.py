"""The built-in demo: a procedural flange with one known defect, scored by the curvature baseline,
CASL and the deviation from the flange's CAD model.

Used by ``casl demo`` and by the GUI's first launch; everything is generated, no file or
network is needed. The demo is an honest inspection: the part's exact CAD model is its
known-good reference (:func:`demo_reference`), good flanges of the same part sampled afresh
calibrate the deviation (:func:`demo_good_scans`), and the calibrated deviation is then the
scorer of record (:mod:`casl_core.inspection.verdict`) whose top region is the defect.
The defect is centred on the side the GUI's default camera shows (:data:`DEMO_VIEW`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from casl_core import metrics
from casl_core.bundled import DEMO_MODEL, bundled_file
from casl_core.fields import CASL_SCORE, CURVATURE_SCORE
from casl_core.geometry import DEFAULT_FIELDS
from casl_core.inspection.verdict import ScanVerdict
from casl_core.progress import CancelFn, ProgressFn
from casl_core.scan import Scan
from casl_core.scorers.calibration import Calibration
from casl_core.scorers.curvature import CurvatureBaseline
from casl_core.scorers.pooling import top_k_count
from casl_core.synth.defects import DefectKind, synthesize_defect
from casl_core.synth.parts import make_part


@dataclass(frozen=True)
class MethodFigures:
    """How one method did on the demo: point AUROC, object score, top-k hits."""

    name: str
    point_auroc: float
    object_score: float
    top_hits: tuple[int, int]


@dataclass(frozen=True)
class RecordFigures:
    """How the scorer of record did on the demo.

    Attributes
    ----------
    verdict:
        Its verdict line (names the scorer and its false-alarm rate).
    point_auroc:
        Point AUROC of its score against the known defect.
    rmse:
        Residual of the scan's alignment to the CAD model.
    regions:
        Regions listed.
    defect_rank:
        Position (1 = top) of the first listed region on the defect, None when none is.
    top_on_defect:
        Defect points in the top region, and its size.
    """

    verdict: str
    point_auroc: float
    rmse: float
    regions: int
    defect_rank: int | None
    top_on_defect: tuple[int, int]

    def lines(self) -> list[str]:
        """Lines for the terminal."""
        hits, size = self.top_on_defect
        rank = "none" if self.defect_rank is None else f"region {self.defect_rank} of {self.regions}"
        return [
            "scorer of record (deviation from the CAD model, calibrated on good flanges):",
            f"  verdict:      {self.verdict}",
            f"  point AUROC:  {self.point_auroc:.3f} against the known defect",
            f"  alignment:    RMSE {self.rmse:.4g} to the CAD model",
            f"  defect:       {rank}; top region {size} points, {hits} on the defect",
        ]


@dataclass(frozen=True)
class DemoSummary:
    """What the demo found.

    Attributes
    ----------
    scan_path, scored_path:
        The demo scan as written (with its ground-truth labels) and the scored copy.
    n_points, n_defect:
        Points in the scan, and how many the synthesiser labelled as the defect.
    object_score:
        The baseline's object score (mean of the top 1 % point scores).
    point_auroc:
        Point AUROC of the baseline against the known defect labels.
    top_hits:
        How many of the top-k scored points lie on the defect, and k.
    hotspot, defect_centre:
        Centroid of the top-k points and of the labelled defect (scan coordinates).
    """

    scan_path: Path
    scored_path: Path
    n_points: int
    n_defect: int
    object_score: float
    point_auroc: float
    top_hits: tuple[int, int]
    hotspot: tuple[float, float, float]
    defect_centre: tuple[float, float, float]
    casl: MethodFigures | None = None
    record: RecordFigures | None = None

    def _fields(self) -> list[str]:
        """The per-point fields of the scored scan: curvature scales, then each score."""
        return [*DEFAULT_FIELDS, CURVATURE_SCORE, *([CASL_SCORE] if self.casl is not None else [])]

    def text(self) -> str:
        """A short report for the terminal."""
        dist = float(np.linalg.norm(np.subtract(self.hotspot, self.defect_centre)))
        hits, k = self.top_hits
        return "\n".join(
            [
                f"demo scan:     {self.scan_path} ({self.n_points:,} points, {self.n_defect:,} on the known defect)",
                f"scored scan:   {self.scored_path} (fields {', '.join(self._fields())})",
                "method:        curvature baseline (mean surface variation over 3 scales, top-1% object score)",
                f"object score:  {self.object_score:.4f}",
                f"point AUROC:   {self.point_auroc:.3f} against the known defect",
                f"top {k} points: {hits} on the defect ({100.0 * hits / k:.0f} %)",
                "hotspot:       ({:.3f}, {:.3f}, {:.3f}), {:.3f} from the defect centre".format(*self.hotspot, dist),
            ]
            + (
                []
                if self.casl is None
                else [
                    f"{self.casl.name}:",
                    f"  point AUROC:  {self.casl.point_auroc:.3f} against the known defect",
                    f"  object score: {self.casl.object_score:.4f}",
                    f"  top {self.casl.top_hits[1]} points: {self.casl.top_hits[0]} on the defect "
                    f"({100.0 * self.casl.top_hits[0] / self.casl.top_hits[1]:.0f} %)",
                ]
            )
            + ([] if self.record is None else self.record.lines())
        )


def run_demo(
    out_dir: Path,
    *,
    seed: int = 0,
    device: str = "auto",
    inspect: bool = False,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> DemoSummary:
    """Write the demo scan to ``out_dir``, score it with the curvature baseline (and the bundled
    CASL model when shipped) and summarise; with ``inspect``, also compare it with its CAD model,
    calibrate the deviation on good flanges and report the scorer of record (:func:`inspect_demo`).

    Raises
    ------
    OSError
        If ``out_dir`` cannot be created or written.
    """
    from casl_core.io import write_scan

    out_dir.mkdir(parents=True, exist_ok=True)
    scan = demo_scan(seed=seed)
    scan_path = out_dir / "demo.ply"
    write_scan(scan, scan_path)
    scored = CurvatureBaseline(device=device).score(scan, progress=progress, cancel=cancel)
    labels = scan.labels if scan.labels is not None else np.zeros(len(scan), np.uint8)
    k = top_k_count(len(scan))
    top = np.argpartition(scored.point_scores, len(scan) - k)[len(scan) - k :]
    defect = labels.astype(bool)
    casl = None
    scored_scan = scored.scan
    model = bundled_file(DEMO_MODEL)
    if model is not None:
        from casl_core.scorers.casl import CaslScorer

        by_casl = CaslScorer(model, device).score(scored.scan, progress=progress, cancel=cancel)
        scored_scan = by_casl.scan
        casl_top = np.argpartition(by_casl.point_scores, len(scan) - k)[len(scan) - k :]
        casl = MethodFigures(
            name=f"CASL (bundled demo model {DEMO_MODEL})",
            point_auroc=_auroc(labels, by_casl.point_scores),
            object_score=by_casl.object_score,
            top_hits=(int(defect[casl_top].sum()), k),
        )
    inspected = inspect_demo(scored_scan, seed, progress=progress, cancel=cancel) if inspect else None
    scored_scan = scored_scan if inspected is None else inspected.scan
    scored_path = out_dir / "demo_scored.ply"
    write_scan(scored_scan, scored_path)

    pts = scored.scan.points_f64()
    return DemoSummary(
        scan_path=scan_path,
        scored_path=scored_path,
        n_points=len(scan),
        n_defect=int(defect.sum()),
        object_score=scored.object_score,
        point_auroc=_auroc(labels, scored.point_scores),
        top_hits=(int(defect[top].sum()), k),
        hotspot=_xyz(pts[top].mean(axis=0)),
        defect_centre=_xyz(pts[defect].mean(axis=0) if defect.any() else pts.mean(axis=0)),
        casl=casl,
        record=None if inspected is None else record_figures(inspected, labels),
    )


class DemoInspection(NamedTuple):
    """The demo scan inspected against its CAD model: the scored scan, the deviation's
    calibration, the scorer of record's verdict and the alignment residual.
    """

    scan: Scan
    calibration: Calibration
    verdict: ScanVerdict
    rmse: float


def demo_scorer(seed: int = 0):
    """The deviation scorer with the demo flange's CAD model as its one reference."""
    from casl_core.scorers.deviation import DeviationScorer
    from casl_core.scorers.reference import reference_from_scan

    return DeviationScorer(references=[reference_from_scan(demo_reference(seed), DEMO_REFERENCE)])


def calibrate_demo(
    scorer, seed: int = 0, *, progress: ProgressFn | None = None, cancel: CancelFn | None = None
) -> Calibration:
    """Calibrate the demo's deviation scorer on good flanges of the same part (:func:`demo_good_scans`)."""
    from casl_core.scorers.calibration import calibrate

    return calibrate(scorer, demo_good_scans(seed), copies=1, progress=progress, cancel=cancel)


def inspect_demo(
    scan: Scan, seed: int = 0, *, progress: ProgressFn | None = None, cancel: CancelFn | None = None
) -> DemoInspection:
    """Score the demo scan against its CAD model, calibrate on good flanges and give the verdict."""
    from casl_core.inspection.verdict import scan_verdict

    scorer = demo_scorer(seed)
    calibration = calibrate_demo(scorer, seed, progress=progress, cancel=cancel)
    scored = scorer.score(scan, progress=progress, cancel=cancel)
    verdict = scan_verdict(scored.scan, {calibration.scorer: calibration})
    return DemoInspection(scored.scan, calibration, verdict, float(scorer.last.alignment.rmse))


def record_figures(inspected: DemoInspection, labels: np.ndarray) -> RecordFigures:
    """The scorer of record's figures on the demo against its known defect labels."""
    defect = np.asarray(labels).astype(bool)
    regions = inspected.verdict.regions
    rank = next((i + 1 for i, r in enumerate(regions) if defect[r.indices].any()), None)
    top = regions[0] if regions else None
    scores = inspected.scan.fields[inspected.calibration.score_field]
    return RecordFigures(
        verdict=inspected.verdict.text,
        point_auroc=_auroc(defect.astype(np.uint8), scores),
        rmse=inspected.rmse,
        regions=len(regions),
        defect_rank=rank,
        top_on_defect=(0, 0) if top is None else (int(defect[top.indices].sum()), top.size),
    )


def _xyz(v: np.ndarray) -> tuple[float, float, float]:
    """A 3-vector as a tuple of Python floats."""
    return float(v[0]), float(v[1]), float(v[2])


def _auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Point AUROC, NaN when the labels hold one class only."""
    if 0 < int(labels.sum()) < len(labels):
        return float(metrics.auroc(labels, scores))
    return float("nan")


#: Direction from the part towards the GUI's default camera (its isometric view, z up).
DEMO_VIEW = (1.0, 1.0, 1.0)
#: The demo part's family and point count.
DEMO_PART = "flange"
DEMO_POINTS = 25000
#: The name of the demo's reference, its CAD model.
DEMO_REFERENCE = "demo flange CAD model"
#: Smallest cosine between a defect centre's normal and :data:`DEMO_VIEW` (it faces the camera).
FACING = 0.5


def demo_part(seed: int = 0, *, sampling: int = 0) -> Scan:
    """A good demo flange: the part of ``seed``, sampled afresh for each ``sampling`` (0: the demo's own)."""
    return make_part(DEMO_PART, seed=seed, n_points=DEMO_POINTS + sampling)


def visible_from(scan: Scan, direction=DEMO_VIEW) -> np.ndarray:
    """Boolean mask of the points seen from far along ``direction`` (hidden-point removal)."""
    from dataclasses import replace

    from casl_core.synth.views import visible_side

    plain = replace(scan, metadata=replace(scan.metadata, source_index=None))
    seen = visible_side(plain, np.asarray(direction, dtype=np.float64)).metadata.source_index
    mask = np.zeros(len(scan), dtype=bool)
    mask[seen] = True
    return mask


def demo_scan(seed: int = 0) -> Scan:
    """The built-in demo: a flange with one synthetic defect and ground-truth labels.

    The defect kind cycles with the seed (dent, bulge, crack, broken edge). It is centred
    where the GUI's default camera sees it: on a point visible from :data:`DEMO_VIEW`
    whose normal faces it (cosine above :data:`FACING`).
    """
    kinds = (DefectKind.CONCAVITY, DefectKind.BULGE, DefectKind.CRACK, DefectKind.BROKEN_EDGE)
    part = demo_part(seed)
    view = np.asarray(DEMO_VIEW, dtype=np.float64) / np.linalg.norm(DEMO_VIEW)
    facing = visible_from(part) & (part.normals @ view > FACING)
    return synthesize_defect(part, kinds[seed % len(kinds)], np.random.default_rng(seed), centre_in=facing)


def demo_reference(seed: int = 0) -> Scan:
    """The demo flange's exact CAD model: a triangle mesh (``metadata.faces``) in the scan's frame.

    This is the known-good reference the deviation scorer compares the demo scan with.
    """
    from casl_core.scan import ScanMetadata
    from casl_core.synth.parts import part_mesh

    mesh = part_mesh(DEMO_PART, seed)
    vertices = mesh.triangles.reshape(-1, 3)
    faces = np.arange(len(vertices), dtype=np.int64).reshape(-1, 3)
    md = ScanMetadata(
        format="procedural", points_in_file=len(vertices), faces=faces, extra={"part": DEMO_PART, "seed": str(seed)}
    )
    return Scan(points=vertices.astype(np.float32), metadata=md)


def demo_good_scans(seed: int = 0, count: int = 2) -> list[Scan]:
    """``count`` good scans of the demo flange (other samplings and noise): its calibration data."""
    return [demo_part(seed, sampling=k + 1) for k in range(count)]
