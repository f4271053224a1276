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

    def text(self) -> str:
        """A short report for the terminal."""
        dist = float(np.linalg.norm(np.subtract(self.hotspot, self.defect_centre)))
        hits, k = self.top_hits
        return "\n".join(
            [
                f"demo scan:     {self.scan_path} ({self.n_points:,} points, {self.n_defect:,} on the known defect)",
                f"scored scan:   {self.scored_path} (fields curvature_s16/s64/s256, curvature_score"
                + (", casl_score)" if self.casl is not None else ")"),
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
        hotspot=tuple(float(v) for v in pts[top].mean(axis=0)),
        defect_centre=tuple(float(v) for v in (pts[defect].mean(axis=0) if defect.any() else pts.mean(axis=0))),
        casl=casl,
    )


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


def demo_good_scans(seed: int = 0, count: int = 3) -> list[Scan]:
    """``count`` good scans of the demo flange (other samplings and noise): its calibration data."""
    return [demo_part(seed, sampling=k + 1) for k in range(count)]
