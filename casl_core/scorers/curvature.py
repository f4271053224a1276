"""The training-free curvature baseline.

The paper's finding is that per-point surface variation alone is a strong anomaly score.
Here the point score is a fusion of the multi-scale curvature fields computed by
:func:`casl_core.geometry.add_curvature`, and the object score is the mean of the top 1 %
point scores (:mod:`casl_core.scorers.pooling`).

Fusions (``CurvatureBaseline.fusion``):

``"mean"`` (default)
    the mean of the surface variation over all scales. Measured on the synthetic defect
    benchmark (``benchmarks/bench_baseline.py``, figures in ``benchmarks/README.md``) it
    ranks defects at least as well as any single scale, because small defects show at the
    fine scale and broad bulges only at the coarse ones.
``"finest"`` / ``"coarsest"``
    one scale only (``curvature_s16``/``curvature_k<min k>`` or the largest).
``"max"``
    the largest value over the scales.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from casl_core.errors import ConfigError
from casl_core.fields import CURVATURE_SCORE, curvature_field, curvature_fields, curvature_size
from casl_core.progress import CancelFn, ProgressFn
from casl_core.scan import Scan
from casl_core.scorers.base import ScanScores
from casl_core.scorers.pooling import DEFAULT_TOP_FRACTION, object_score

FUSIONS = ("mean", "max", "finest", "coarsest")


def curvature_field_names(scan: Scan) -> list[str]:
    """The scan's curvature fields (``curvature_s*`` or ``curvature_k*``), fine to coarse."""
    return sorted(curvature_fields(scan.fields), key=lambda n: curvature_size(n) or 0)


def fuse_curvature(scan: Scan, fusion: str = "mean") -> np.ndarray:
    """Combine a scan's curvature fields into one float32 score per point.

    Raises
    ------
    ConfigError
        If the fusion is unknown or the scan has no curvature field.
    """
    if fusion not in FUSIONS:
        raise ConfigError(f"unknown curvature fusion {fusion!r}; choose one of {', '.join(FUSIONS)}")
    names = curvature_field_names(scan)
    if not names:
        raise ConfigError(f"{scan.name}: the scan has no curvature field; compute curvature first")
    if fusion == "finest":
        return scan.fields[names[0]].astype(np.float32)
    if fusion == "coarsest":
        return scan.fields[names[-1]].astype(np.float32)
    stack = np.stack([scan.fields[n] for n in names]).astype(np.float32)
    return stack.mean(axis=0) if fusion == "mean" else stack.max(axis=0)


@dataclass(frozen=True)
class CurvatureBaseline:
    """The curvature scorer (see the module docstring).

    Attributes
    ----------
    fusion:
        How the scales are combined: one of :data:`FUSIONS`.
    ks:
        ``None`` for the default multi-scale mode, or exact k-NN sizes.
    top_fraction:
        Fraction of points pooled into the object score.
    device:
        Where curvature runs (``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"auto"``).
    """

    fusion: str = "mean"
    ks: Sequence[int] | None = None
    top_fraction: float = DEFAULT_TOP_FRACTION
    device: str = "cpu"
    name: str = "curvature"
    score_field: str = field(default=CURVATURE_SCORE, init=False)

    def score(self, scan: Scan, *, progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> ScanScores:
        """Compute curvature (unless the scan already has the needed fields) and score it."""
        from casl_core.geometry import add_curvature

        if self.fusion not in FUSIONS:
            raise ConfigError(f"unknown curvature fusion {self.fusion!r}; choose one of {', '.join(FUSIONS)}")
        if not self._has_curvature(scan):
            scan = add_curvature(scan, ks=self.ks, device=self.device, progress=progress, cancel=cancel)
        scores = fuse_curvature(scan, self.fusion)
        scan = scan.with_fields(**{self.score_field: scores})
        return ScanScores(scan=scan, point_scores=scores, object_score=object_score(scores, self.top_fraction))

    def for_category(self, category: str) -> CurvatureBaseline:
        """The baseline needs no training: the same scorer for every category."""
        return self

    def _has_curvature(self, scan: Scan) -> bool:
        if self.ks is None:
            from casl_core.geometry import DEFAULT_FIELDS

            wanted = set(DEFAULT_FIELDS)
        else:
            wanted = {curvature_field(k, exact=True) for k in self.ks}
        return wanted <= set(scan.fields)
