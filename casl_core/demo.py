"""The built-in demo: a procedural flange with one known defect, scored by the curvature baseline and CASL.

Used by ``casl demo`` and by the GUI's first launch; everything is generated, no file or
network is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from casl_core import metrics
from casl_core.bundled import DEMO_MODEL, bundled_file
from casl_core.fields import CASL_SCORE, CURVATURE_SCORE
from casl_core.geometry import DEFAULT_FIELDS
from casl_core.progress import CancelFn, ProgressFn
from casl_core.scan import Scan
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
        )


def run_demo(
    out_dir: Path,
    *,
    seed: int = 0,
    device: str = "auto",
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> DemoSummary:
    """Write the demo scan to ``out_dir``, score it with the curvature baseline and summarise.

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
    )


def _xyz(v: np.ndarray) -> tuple[float, float, float]:
    """A 3-vector as a tuple of Python floats."""
    return float(v[0]), float(v[1]), float(v[2])


def _auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Point AUROC, NaN when the labels hold one class only."""
    if 0 < int(labels.sum()) < len(labels):
        return float(metrics.auroc(labels, scores))
    return float("nan")


def demo_scan(seed: int = 0) -> Scan:
    """The built-in demo: a flange with one synthetic defect and ground-truth labels.

    The defect kind cycles with the seed (dent, bulge, crack, broken edge).
    """
    kinds = (DefectKind.CONCAVITY, DefectKind.BULGE, DefectKind.CRACK, DefectKind.BROKEN_EDGE)
    part = make_part("flange", seed=seed, n_points=25000)
    return synthesize_defect(part, kinds[seed % len(kinds)], np.random.default_rng(seed))
