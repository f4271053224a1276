"""The fused scorer: several scorers on one scale, combined per point.

Local geometry (curvature, CASL) finds cracks and scratches; comparison with a known-good
reference finds bulges, dents, broken edges and holes. Their raw scores live on unrelated
scales (surface variation in [0, 1/3], log-odds, millimetres), so each is first
normalised against the category's normal data:

``z = (x - q50) / (q_tail - q50)``

where ``q50`` and ``q_tail`` are the median and a high quantile (:data:`TAIL_QUANTILE`) of
the scorer's point scores on normal scans. ``z = 0`` is a typical normal point and
``z = 1`` the rare tail of normal points, for every scorer alike, which is what makes a
per-point maximum fair: a point is as anomalous as its most surprised scorer. Anchoring
on the tail (not on a standard deviation) matters because the scorers' normal
distributions have very different tails, and the tail is where a threshold sits.

The fusion rule is the maximum (:data:`RULES`); ``"mean"`` is offered for comparison.
The parameters (:class:`FusionParams`) are plain JSON, kept with the CASL checkpoint
(see :mod:`casl_core.train.inspector`), so one file describes a whole inspector.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from casl_core.errors import ConfigError
from casl_core.fields import FUSED_SCORE
from casl_core.progress import CancelFn, ProgressFn, check_cancel
from casl_core.scan import Scan
from casl_core.scorers.base import ScanScores, Scorer
from casl_core.scorers.pooling import DEFAULT_TOP_FRACTION, object_score

#: Quantile of normal point scores that maps to 1 on the common scale.
TAIL_QUANTILE = 0.99
#: How normalised scores are combined per point.
RULES = ("max", "mean")
#: Smallest spread accepted between the median and the tail quantile, relative to their size.
_MIN_SPREAD = 1e-9


@dataclass(frozen=True)
class ScoreNormaliser:
    """Maps one scorer's raw point scores to the common scale (see the module docstring).

    Attributes
    ----------
    scorer:
        Name of the scorer (``"curvature"``, ``"casl"``, ``"deviation"``).
    median:
        Median of its point scores on normal scans.
    tail:
        The :data:`TAIL_QUANTILE` quantile of those scores (``> median``).
    """

    scorer: str
    median: float
    tail: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.median) and np.isfinite(self.tail)):
            raise ConfigError(
                f"fusion: {self.scorer} normaliser needs finite quantiles, got {self.median}, {self.tail}"
            )
        if not self.tail > self.median:
            raise ConfigError(
                f"fusion: {self.scorer} scores of the normal scans have no spread "
                f"(median {self.median:.6g}, {TAIL_QUANTILE:.0%} quantile {self.tail:.6g})"
            )

    @classmethod
    def fit(cls, scorer: str, normal_scores: Sequence[np.ndarray]) -> ScoreNormaliser:
        """Learn the normaliser from the point scores of normal scans (one array per scan).

        Each scan weighs the same whatever its point count, so a dense scan does not
        decide the scale alone.

        Raises
        ------
        ConfigError
            If there is no score, a score is not finite, or the scores have no spread.
        """
        arrays = [np.asarray(s, dtype=np.float64).ravel() for s in normal_scores if np.size(s)]
        if not arrays:
            raise ConfigError(f"fusion: no normal point score to normalise {scorer} with")
        if not all(np.isfinite(a).all() for a in arrays):
            raise ConfigError(f"fusion: {scorer} gave non-finite scores on normal scans")
        weights = np.concatenate([np.full(len(a), 1.0 / len(a)) for a in arrays])
        values = np.concatenate(arrays)
        median, tail = _weighted_quantiles(values, weights, (0.5, TAIL_QUANTILE))
        if not tail > median + _MIN_SPREAD * max(1.0, abs(median)):
            # a scorer that is flat on most normal points (deviation: zero on good surface)
            # still needs a unit: take the mean excess over the median instead
            tail = median + float(np.average(np.abs(values - median), weights=weights))
        return cls(scorer, float(median), float(tail))

    def apply(self, scores: np.ndarray) -> np.ndarray:
        """The scores on the common scale, float32."""
        return ((np.asarray(scores, dtype=np.float64) - self.median) / (self.tail - self.median)).astype(np.float32)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"scorer": self.scorer, "median": self.median, "tail": self.tail}


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: Sequence[float]) -> list[float]:
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    cum /= cum[-1]
    return [float(values[order][min(int(np.searchsorted(cum, q)), len(values) - 1)]) for q in qs]


@dataclass(frozen=True)
class FusionParams:
    """Everything needed to fuse scorers again: one normaliser per component and the rule.

    Attributes
    ----------
    normalisers:
        One per component scorer, in the order they run.
    rule:
        One of :data:`RULES`.
    """

    normalisers: tuple[ScoreNormaliser, ...]
    rule: str = "max"

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ConfigError(f"fusion: unknown rule {self.rule!r}; choose one of {', '.join(RULES)}")
        if not self.normalisers:
            raise ConfigError("fusion: needs at least one component scorer")
        names = [n.scorer for n in self.normalisers]
        if len(set(names)) != len(names):
            raise ConfigError(f"fusion: a scorer appears twice in {names}")

    @property
    def scorers(self) -> tuple[str, ...]:
        """Names of the component scorers."""
        return tuple(n.scorer for n in self.normalisers)

    def fuse(self, scores: Sequence[np.ndarray]) -> np.ndarray:
        """Combine the components' raw point scores (same order as :attr:`normalisers`).

        Raises
        ------
        ConfigError
            If the number of arrays or their lengths do not match.
        """
        if len(scores) != len(self.normalisers):
            raise ConfigError(f"fusion: {len(scores)} score arrays for {len(self.normalisers)} scorers")
        lengths = {len(s) for s in scores}
        if len(lengths) != 1:
            raise ConfigError(f"fusion: the component scores have different lengths {sorted(lengths)}")
        stack = np.stack([n.apply(s) for n, s in zip(self.normalisers, scores)])
        return (stack.max(axis=0) if self.rule == "max" else stack.mean(axis=0)).astype(np.float32)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (see :meth:`from_json`)."""
        return {
            "rule": self.rule,
            "tail_quantile": TAIL_QUANTILE,
            "normalisers": [n.to_json() for n in self.normalisers],
        }

    @classmethod
    def from_json(cls, doc: Any, where: str) -> FusionParams:
        """Parse :meth:`to_json`'s document.

        Raises
        ------
        ConfigError
            If the document is malformed (``where`` names the file in the message).
        """
        try:
            if not isinstance(doc, dict) or not isinstance(doc.get("normalisers"), list):
                raise TypeError("not a fusion description")
            normalisers = []
            for item in doc["normalisers"]:
                if not isinstance(item, dict) or not isinstance(item.get("scorer"), str):
                    raise TypeError("a normaliser lacks its scorer name")
                values: list[Any] = [item.get("median"), item.get("tail")]
                if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                    raise TypeError(f"{item.get('scorer')}: median and tail must be numbers")
                normalisers.append(ScoreNormaliser(item["scorer"], float(values[0]), float(values[1])))
            rule = doc.get("rule", "max")
            if not isinstance(rule, str):
                raise TypeError("rule must be a string")
            return cls(tuple(normalisers), rule)
        except (TypeError, ConfigError) as exc:
            raise ConfigError(f"{where}: bad fusion parameters: {exc}") from None


class FusedScorer:
    """Several scorers normalised and fused per point (see the module docstring).

    Parameters
    ----------
    components:
        The scorers, run in this order on the same scan; each one sees the fields the
        previous ones added (CASL reuses the curvature the curvature scorer computed).
    params:
        Their normalisers (same scorer names, same order) and the fusion rule.
    top_fraction:
        Fraction of points pooled into the object score.

    Raises
    ------
    ConfigError
        If the components do not match the parameters.
    """

    name = "fused"
    score_field = FUSED_SCORE

    def __init__(
        self, components: Sequence[Scorer], params: FusionParams, *, top_fraction: float = DEFAULT_TOP_FRACTION
    ):
        names = tuple(c.name for c in components)
        if names != params.scorers:
            raise ConfigError(f"fusion: scorers {list(names)} do not match the parameters' {list(params.scorers)}")
        self.components = tuple(components)
        self.params = params
        self.top_fraction = top_fraction

    def component_scores(
        self, scan: Scan, *, progress: ProgressFn | None = None, cancel: CancelFn | None = None
    ) -> tuple[Scan, list[np.ndarray]]:
        """Run every component on ``scan``: the scan with all their fields, and their raw point scores."""
        raw = []
        for component in self.components:
            check_cancel(cancel)
            result = component.score(scan, progress=progress, cancel=cancel)
            scan = result.scan
            raw.append(result.point_scores)
        return scan, raw

    def score(self, scan: Scan, *, progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> ScanScores:
        """Score ``scan`` with every component and fuse; the scan keeps every component's fields."""
        scored, raw = self.component_scores(scan, progress=progress, cancel=cancel)
        fused = self.params.fuse(raw)
        return ScanScores(
            scan=scored.with_fields(**{FUSED_SCORE: fused}),
            point_scores=fused,
            object_score=object_score(fused, self.top_fraction),
        )

    def without_reference(self, source: str) -> FusedScorer:
        """The same fusion with ``source`` left out of every component that compares with references."""
        components = [
            c.without_reference(source) if callable(getattr(c, "without_reference", None)) else c  # type: ignore[attr-defined] # reference scorers only
            for c in self.components
        ]
        return FusedScorer(components, self.params, top_fraction=self.top_fraction)

    def for_category(self, category: str) -> FusedScorer:
        """The same fusion over each component's scorer for ``category``."""
        return FusedScorer(
            [c.for_category(category) for c in self.components], self.params, top_fraction=self.top_fraction
        )


def fit_fusion(
    components: Sequence[Scorer],
    normal_scans: Sequence[Scan],
    *,
    rule: str = "max",
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> FusionParams:
    """Learn one normaliser per component from its point scores on normal scans.

    A component that compares with references must not be scored against the scan
    itself: scorers that offer ``without_reference(source)`` are asked for a copy
    without the scan's own file (leave-one-out).

    Raises
    ------
    ConfigError
        If there is no normal scan or a component's normal scores have no spread.
    """
    if not normal_scans:
        raise ConfigError("fusion: no normal scan to learn the normalisation from")
    per_component: list[list[np.ndarray]] = [[] for _ in components]
    for scan in normal_scans:
        for i, component in enumerate(components):
            check_cancel(cancel)
            leave_out = getattr(component, "without_reference", None)
            scorer = leave_out(scan.metadata.source) if callable(leave_out) and scan.metadata.source else component
            result = scorer.score(scan, progress=progress, cancel=cancel)
            scan = result.scan
            per_component[i].append(result.point_scores)
    return FusionParams(tuple(ScoreNormaliser.fit(c.name, s) for c, s in zip(components, per_component)), rule)
