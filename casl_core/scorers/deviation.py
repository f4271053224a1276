"""The reference deviation scorer: align a scan to known-good references, measure its deviation.

Each test scan is aligned to every reference (:mod:`casl_core.geometry.registration`):
the cheap global search runs against all of them, fine alignment only against the two
with the lowest coarse residual, and the best by fine residual wins. Per point:

``deviation``
    signed distance to the reference surface in the reference's frame: positive
    outside (material added), negative inside (material missing). Exact
    point-to-triangle for a mesh; the mean point-to-plane distance to the 3 nearest
    reference points with their oriented normals for a scan, raised to the distance to
    the nearest reference point less the reference spacing where that is larger (a
    point beyond the reference's edge).
``deviation_abs``
    its absolute value.
``deviation_score``
    the absolute deviation, raised by missing material: reference surface with no scan
    point within 4 scan spacings, surrounded on its tangent plane by scan points lying in
    that plane in every direction (a hole, not the unseen side of a partial view nor its
    silhouette), gives its gap less those 4 spacings to the scan points within 1.6 gaps
    of it, its rim.

The object score is the mean of the top 1 % point scores (:mod:`casl_core.scorers.pooling`).
A reference of another scale, or one the scan cannot be aligned to, raises
:class:`~casl_core.geometry.registration.AlignmentError` and nothing is scored.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from casl_core.errors import ConfigError
from casl_core.fields import DEVIATION, DEVIATION_ABS, DEVIATION_SCORE
from casl_core.geometry import registration as reg
from casl_core.geometry.surface import signed_mesh_distance, signed_plane_distance
from casl_core.progress import CancelFn, ProgressFn, check_cancel, report
from casl_core.scan import Scan
from casl_core.scorers.base import ScanScores
from casl_core.scorers.pooling import DEFAULT_TOP_FRACTION, object_score
from casl_core.scorers.reference import Reference, load_reference

#: References carried from the coarse pre-screen to fine alignment.
FINE_REFERENCES = 2
#: A reference point farther than this many scan spacings from every scan point is uncovered.
GAP_SPACINGS = 4.0
#: Reference points probed for missing material (a random subset of larger references).
MISSING_PROBES = 60000


@dataclass(frozen=True)
class Deviation:
    """Per-point deviation of one scan from its best reference.

    Attributes
    ----------
    signed, absolute, score:
        float32 ``(N,)`` in the scan's point order (see the module docstring).
    alignment:
        The transform and fit of the chosen reference.
    missing:
        float32 ``(N,)`` the missing-material part of the score (0 away from holes).
    """

    signed: np.ndarray
    absolute: np.ndarray
    score: np.ndarray
    alignment: reg.Alignment
    missing: np.ndarray


def best_alignment(scan: reg.PreparedCloud, references: Sequence[Reference]) -> tuple[Reference, reg.Alignment]:
    """Align a prepared scan to each reference and keep the best by residual.

    Every reference's scale is checked first; the global search runs against all, fine
    alignment against the :data:`FINE_REFERENCES` with the lowest coarse residual.

    Raises
    ------
    AlignmentError
        If a reference has another scale, or no reference can be aligned (the message of
        the best one's refusal).
    """
    if not references:
        raise ConfigError("the deviation scorer needs at least one reference")
    for ref in references:
        reg.check_scale(scan, ref.cloud)
    screened = []
    for ref in references:
        cands = reg.global_candidates(scan, ref.cloud)
        screened.append((cands[0].residual, ref, cands))
    screened.sort(key=lambda item: item[0])
    best: tuple[Reference, reg.Alignment] | None = None
    refusal: reg.AlignmentError | None = None
    for _, ref, cands in screened[:FINE_REFERENCES]:
        try:
            found = reg.align(scan, ref.cloud, cands)
        except reg.AlignmentError as exc:
            refusal = refusal or exc
            continue
        if best is None or found.residual < best[1].residual:
            best = (ref, found)
    if best is None:
        assert refusal is not None
        raise refusal
    return best


def signed_deviation(points: np.ndarray, ref: Reference) -> np.ndarray:
    """Signed distance of points (already in the reference's frame) to the reference surface."""
    if ref.mesh is not None:
        return signed_mesh_distance(points, ref.mesh)
    cloud = ref.cloud
    assert cloud.normals is not None
    signed, nearest = signed_plane_distance(points, cloud.points, cloud.normals, cloud.tree)
    beyond = nearest - cloud.spacing
    sign = np.where(signed < 0, -1.0, 1.0)
    return np.where(beyond > np.abs(signed), sign * beyond, signed)


def missing_material(points: np.ndarray, spacing: float, ref: Reference) -> np.ndarray:
    """Score of missing material for each scan point (in the reference's frame); see the module docstring."""
    cloud = ref.cloud
    probes, normals = cloud.points, cloud.normals
    assert normals is not None
    if len(probes) > MISSING_PROBES:
        pick = np.random.default_rng(0).choice(len(probes), MISSING_PROBES, replace=False)
        probes, normals = probes[pick], normals[pick]
    probes, normals = _facing_viewer(points, ref, probes, normals)
    tree = cKDTree(points)
    gap_min = GAP_SPACINGS * max(spacing, cloud.spacing)
    gap, _ = tree.query(probes, workers=-1)
    out = np.zeros(len(points), dtype=np.float64)
    open_ = np.flatnonzero(gap > gap_min)
    if len(open_) == 0:
        return out
    holes = open_[_surrounded(points, tree, probes[open_], normals[open_], gap_min)]
    if len(holes) == 0:
        return out
    rims = tree.query_ball_point(probes[holes], 1.6 * gap[holes], workers=-1)
    # the gap beyond the threshold: a shadow just above it adds next to nothing
    for members, g in zip(rims, (gap[holes] - gap_min).tolist()):
        if members:
            idx = np.asarray(members, dtype=np.int64)
            out[idx] = np.maximum(out[idx], g)
    return out


def _facing_viewer(
    points: np.ndarray, ref: Reference, probes: np.ndarray, normals: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The probes a one-sided view should have seen.

    The reference normals at the scan's points face the scanner: when their mean is long
    (a one-sided view), the viewing direction is taken from it and only the probes visible
    from there (hidden-point removal on the reference) are kept, so self-occlusion
    shadows are not holes. A scan all round keeps every probe.
    """
    from casl_core.synth.views import hidden_point_removal

    _, idx = ref.cloud.tree.query(points, workers=-1)
    assert ref.cloud.normals is not None
    mean = ref.cloud.normals[idx].mean(axis=0)
    if np.linalg.norm(mean) < 0.3:
        return probes, normals
    viewpoint = probes.mean(axis=0) + 3.0 * ref.cloud.diag * mean / np.linalg.norm(mean)
    keep = hidden_point_removal(probes, viewpoint, 2.5)
    return probes[keep], normals[keep]


def _surrounded(
    points: np.ndarray, tree: cKDTree, probes: np.ndarray, normals: np.ndarray, gap_min: float
) -> np.ndarray:
    """Which probes have scan points in their tangent plane in each of six 60-degree sectors around them.

    Among the 48 nearest scan points, those within a slab about the probe's tangent plane
    (height at most half their lateral distance) count; the unseen side of a view (its
    nearest scan points lie across the part) and the silhouette (points on one side only)
    leave sectors empty.
    """
    k = min(48, len(points))
    _, nb = tree.query(probes, k, workers=-1)
    offsets = points[nb] - probes[:, None, :]
    along = np.einsum("nkj,nj->nk", offsets, normals)
    tangent = offsets - along[..., None] * normals[:, None, :]
    lateral = np.linalg.norm(tangent, axis=2)
    in_slab = np.abs(along) <= 0.5 * np.maximum(lateral, gap_min)
    helper = np.where(np.abs(normals[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    u = np.cross(normals, helper)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = np.cross(normals, u)
    angle = np.arctan2(np.einsum("nkj,nj->nk", tangent, v), np.einsum("nkj,nj->nk", tangent, u))
    sector = ((angle + np.pi) / (np.pi / 3)).astype(np.int64).clip(0, 5)
    seen = np.zeros((len(probes), 6), dtype=bool)
    rows = np.broadcast_to(np.arange(len(probes))[:, None], sector.shape)
    seen[rows[in_slab], sector[in_slab]] = True
    return np.asarray(seen.all(axis=1), dtype=bool)


def deviation(scan: Scan, references: Sequence[Reference], *, threads: int | None = None) -> Deviation:
    """Align ``scan`` to its best reference and measure every point's deviation.

    Raises
    ------
    AlignmentError
        If a reference has another scale or none can be aligned.
    """
    prepared = reg.prepare_cloud(scan.points_f64(), scan.metadata.source or scan.name, threads=threads)
    ref, alignment = best_alignment(prepared, references)
    moved = alignment.apply(prepared.points)
    signed = signed_deviation(moved, ref)
    missing = missing_material(moved, prepared.spacing, ref)
    absolute = np.abs(signed)
    score = np.maximum(absolute, missing)
    return Deviation(
        signed.astype(np.float32),
        absolute.astype(np.float32),
        score.astype(np.float32),
        alignment,
        missing.astype(np.float32),
    )


@dataclass
class DeviationScorer:
    """The deviation scorer (see the module docstring).

    Attributes
    ----------
    references:
        Prepared references, or paths read on first use.
    per_category:
        For data-set evaluation: each category's reference paths (its training scans);
        :meth:`for_category` then gives a scorer with those.
    top_fraction:
        Fraction of points pooled into the object score.
    threads:
        Threads of the alignment (default: the CPUs available, at most 8).
    """

    references: Sequence[Reference | str | os.PathLike[str]] = ()
    per_category: dict[str, list[str]] = field(default_factory=dict)
    top_fraction: float = DEFAULT_TOP_FRACTION
    threads: int | None = None
    name: str = "deviation"
    score_field: str = DEVIATION_SCORE
    last: Deviation | None = field(default=None, repr=False)
    _loaded: list[Reference] | None = field(default=None, repr=False)

    @classmethod
    def for_dataset(cls, root: str | os.PathLike[str], layout: str = "auto", **options) -> DeviationScorer:
        """A scorer whose references per category are that category's training scans.

        Raises
        ------
        DatasetError
            If the root does not match the layout.
        """
        from casl_core.datasets import open_dataset

        dataset = open_dataset(root, layout=layout)
        per = {c: [str(p) for p in dataset.category(c).train] for c in dataset.categories}
        return cls(per_category=per, **options)

    def prepared(self, progress: ProgressFn | None = None) -> list[Reference]:
        """The references, read and prepared once.

        Raises
        ------
        ConfigError
            If there is no reference.
        """
        if self._loaded is None:
            if not self.references:
                raise ConfigError("the deviation scorer needs at least one reference (--reference)")
            loaded = []
            for i, ref in enumerate(self.references):
                report(
                    progress,
                    "references",
                    i,
                    len(self.references),
                    str(ref) if not isinstance(ref, Reference) else ref.name,
                )
                loaded.append(ref if isinstance(ref, Reference) else load_reference(ref, threads=self.threads))
            self._loaded = loaded
        return self._loaded

    def score(self, scan: Scan, *, progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> ScanScores:
        """Align, measure and pool; the scan gets ``deviation``, ``deviation_abs`` and ``deviation_score``.

        The alignment and chosen reference of the last scan are in :attr:`last`.

        Raises
        ------
        AlignmentError
            If a reference has another scale or none can be aligned.
        """
        refs = self.prepared(progress)
        check_cancel(cancel)
        result = deviation(scan, refs, threads=self.threads)
        self.last = result
        scored = scan.with_fields(
            **{DEVIATION: result.signed, DEVIATION_ABS: result.absolute, DEVIATION_SCORE: result.score}
        )
        return ScanScores(scored, result.score, object_score(result.score, self.top_fraction))

    def for_category(self, category: str) -> DeviationScorer:
        """The scorer with the category's training scans as references (itself without a per-category map).

        Raises
        ------
        ConfigError
            If the category has no training scan.
        """
        if not self.per_category:
            return self
        paths = self.per_category.get(category) or []
        if not paths:
            raise ConfigError(f"category {category}: no training scan to use as a reference")
        return DeviationScorer(references=list(paths), top_fraction=self.top_fraction, threads=self.threads)
