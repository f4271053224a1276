"""What every anomaly scorer returns, and the interface the evaluation and GUI rely on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from casl_core.progress import CancelFn, ProgressFn
from casl_core.scan import Scan


@dataclass(frozen=True)
class ScanScores:
    """Anomaly scores of one scan.

    Attributes
    ----------
    scan:
        The scored scan, with the fields the scorer computed added (curvature, score).
    point_scores:
        float32 ``(N,)``, one score per point of ``scan``, in its point order; higher
        means more anomalous.
    object_score:
        The pooled score of the whole scan (see :mod:`casl_core.scorers.pooling`).
    """

    scan: Scan
    point_scores: np.ndarray
    object_score: float


class Scorer(Protocol):
    """Anything that turns a scan into :class:`ScanScores` (curvature baseline, CASL model).

    Scorers a user can pick by name are listed in :mod:`casl_core.methods`.
    """

    @property
    def name(self) -> str:
        """Short name used in result files and the GUI (``"curvature"``, ``"casl"``)."""
        ...  # pragma: no cover - protocol

    @property
    def score_field(self) -> str:
        """The per-point field :meth:`score` adds to the scan (a name from :mod:`casl_core.fields`)."""
        ...  # pragma: no cover - protocol

    def score(self, scan: Scan, *, progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> ScanScores:
        """Score every point of ``scan`` and pool an object score."""
        ...  # pragma: no cover - protocol

    def for_category(self, category: str) -> Scorer:
        """The scorer to use on one data-set category (itself, or that category's model)."""
        ...  # pragma: no cover - protocol


@runtime_checkable
class ReferenceScorer(Scorer, Protocol):
    """A scorer that compares scans with references (good scans or CAD of the same part).

    Calibration scores the normal scans, and a normal scan that is also one of the scorer's
    references must not be compared with itself (its deviation would be zero everywhere and
    the threshold learnt far too low). :func:`casl_core.scorers.calibration.calibrate`
    therefore scores each normal scan (and its augmented copies) with
    ``scorer.without_reference(source)``.

    ``without_reference(source)`` returns the same scorer with every reference read from the
    file ``source`` left out; references are matched by resolved path
    (``Path(ref).resolve() == Path(source).resolve()``) or by identical file contents, and a
    ``source`` that is no reference returns the scorer unchanged (``self`` is fine). It raises
    :class:`~casl_core.errors.ConfigError` when no reference would remain.
    """

    def without_reference(self, source: str) -> Scorer:
        """The scorer without the reference(s) read from ``source`` (see the class docstring)."""
        ...  # pragma: no cover - protocol
