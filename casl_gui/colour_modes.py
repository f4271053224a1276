"""The colour modes: one table entry per way of colouring a scan, so a new mode is one entry.

A mode says what it is called, how it is drawn (:class:`ModeKind`), whether a scan can be
shown that way (and why not), where its per-point values come from, and its starting
colour scale. Two tables hold them:

- :data:`FIXED_MODES`, the modes that are not a field (RGB, labels, height, agreement);
- :data:`FIELD_MODES`, one rule per :class:`~casl_core.fields.FieldKind`: every field a
  scan holds is coloured by the rule of its kind (names and kinds come from
  :mod:`casl_core.fields`, never from string rules here).

Pure data and numpy: no Qt, no VTK.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from casl_core.errors import ConfigError
from casl_core.fields import CASL_SCORE, CURVATURE_SCORE, FieldKind, curvature_size, field_spec
from casl_core.scan import Scan

#: Key of the "colour by the scan's own RGB" mode (not a valid field name, so no clash).
RGB = "<rgb>"
#: Key of the "colour by ground-truth labels" mode.
LABELS = "<labels>"
#: Key of the "colour by height" mode, always available (shown before curvature is ready).
HEIGHT = "<height>"
#: Key of the "agreement between curvature and CASL" mode.
AGREEMENT = "<agreement>"
#: Colour map of diverging modes (signed fields): blue below, red above the centre.
DIVERGING_MAP = "coolwarm"
#: Share of a diverging range's half width drawn grey around its centre (the tolerance band
#: inspection suites show for a signed deviation), until the person sets a tolerance.
TOLERANCE_SHARE = 0.1


class ModeKind(enum.StrEnum):
    """How a mode is drawn.

    ``scalar``: a colour map over a threshold-anchored range; ``diverging``: a two-sided map
    centred on zero with a grey tolerance band; ``labels``: one colour per class; ``rgb``: the
    scan's own colours.
    """

    SCALAR = "scalar"
    DIVERGING = "diverging"
    LABELS = "labels"
    RGB = "rgb"


@dataclass(frozen=True)
class FieldScale:
    """A colour range anchored to a threshold.

    Attributes
    ----------
    threshold:
        Value at the middle of the colour bar; values above it read as suspicious.
    half_width:
        Distance from the threshold to either end of the colour bar (> 0).

    Raises
    ------
    ConfigError
        If ``half_width`` is not a positive finite number or ``threshold`` is not finite.
    """

    threshold: float
    half_width: float

    def __post_init__(self) -> None:
        if not np.isfinite(self.threshold):
            raise ConfigError(f"colour scale threshold must be finite, got {self.threshold}")
        if not (np.isfinite(self.half_width) and self.half_width > 0):
            raise ConfigError(f"colour scale half width must be positive, got {self.half_width}")

    @property
    def clim(self) -> tuple[float, float]:
        """``(low, high)`` ends of the colour bar."""
        return (self.threshold - self.half_width, self.threshold + self.half_width)


#: The one scale of every calibrated (normalised) score: 0 to 1, the threshold at 0.5.
NORMALISED_SCALE = FieldScale(threshold=0.5, half_width=0.5)
_UNIT_SCALE = FieldScale(threshold=0.5, half_width=0.5)


@dataclass(frozen=True)
class ColourMode:
    """One way of colouring a scan.

    Attributes
    ----------
    key:
        The mode's key: a field name, or :data:`RGB`, :data:`LABELS`, :data:`HEIGHT`, :data:`AGREEMENT`.
    title:
        What lists and colour bars call it.
    kind:
        How it is drawn.
    missing:
        ``missing(scan)``: why the scan cannot be shown this way, ``""`` when it can.
    values:
        ``values(scan)``: the per-point values (``(N,)`` scalars or labels, ``(N, 3)`` RGB), or None.
    scale:
        ``scale(values)``: the starting colour scale (values of the first scan shown, or None).
    """

    key: str
    title: str
    kind: ModeKind
    missing: Callable[[Scan], str]
    values: Callable[[Scan], np.ndarray | None]
    scale: Callable[[np.ndarray | None], FieldScale]


def _spread_scale(values: np.ndarray | None) -> FieldScale:
    """The 1st to 99th percentile of the finite values (0 to 1 without any)."""
    if values is None or len(values) == 0:
        return _UNIT_SCALE
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if len(finite) == 0:
        return _UNIT_SCALE
    lo, hi = np.percentile(finite, [1.0, 99.0])
    half = (hi - lo) / 2.0
    return FieldScale(threshold=float(lo + half), half_width=float(half) if half > 0 else 1.0)


def _symmetric_scale(values: np.ndarray | None) -> FieldScale:
    """Centred on zero, out to the 99th percentile of the absolute finite values."""
    if values is None or len(values) == 0:
        return FieldScale(0.0, 1.0)
    finite = np.abs(np.asarray(values, dtype=np.float64))
    finite = finite[np.isfinite(finite)]
    reach = float(np.percentile(finite, 99.0)) if len(finite) else 0.0
    return FieldScale(0.0, reach if reach > 0 else 1.0)


def _has(test: Callable[[Scan], bool], reason: str) -> Callable[[Scan], str]:
    return lambda scan: "" if test(scan) else reason


def _agreement_missing(scan: Scan) -> str:
    both = CURVATURE_SCORE in scan.fields and CASL_SCORE in scan.fields
    return "" if both else "Needs both the curvature score and the CASL score of this scan."


#: The modes that are not a field, by key.
FIXED_MODES: dict[str, ColourMode] = {
    m.key: m
    for m in (
        ColourMode(
            RGB,
            "RGB colours",
            ModeKind.RGB,
            _has(lambda s: s.colors is not None, "This scan has no colours."),
            lambda s: s.colors,
            lambda _v: _UNIT_SCALE,
        ),
        ColourMode(
            LABELS,
            "Ground truth labels",
            ModeKind.LABELS,
            _has(lambda s: s.labels is not None, "This scan has no ground-truth labels."),
            lambda s: s.labels,
            lambda _v: _UNIT_SCALE,
        ),
        ColourMode(HEIGHT, "Height (z)", ModeKind.SCALAR, lambda _s: "", lambda s: s.points[:, 2], _spread_scale),
        ColourMode(
            AGREEMENT,
            "Agreement (curvature vs CASL)",
            ModeKind.LABELS,
            _agreement_missing,
            lambda _s: None,  # computed with both thresholds: see casl_gui.colouring.agreement_values
            lambda _v: _UNIT_SCALE,
        ),
    )
}


@dataclass(frozen=True)
class FieldModeRule:
    """How every field of one :class:`~casl_core.fields.FieldKind` is coloured.

    Attributes
    ----------
    kind:
        How it is drawn.
    scale:
        ``scale(name, values)``: the field's starting colour scale.
    """

    kind: ModeKind
    scale: Callable[[str, np.ndarray | None], FieldScale]


def _curvature_scale(name: str, _values: np.ndarray | None) -> FieldScale:
    # Surface variation (in [0, 1/3]) grows with the neighbourhood: 0.04 at 16, 0.08 at 64, 0.12 at 256.
    size = curvature_size(name) or 16
    threshold = float(np.clip(0.02 * np.log2(max(size, 8) / 4.0), 0.02, 0.15))
    return FieldScale(threshold=threshold, half_width=threshold)


#: Fixed starting scales of raw scores whose scale is known in advance (others follow their data).
SCORE_SCALES: dict[str, FieldScale] = {
    CASL_SCORE: FieldScale(threshold=0.0, half_width=4.0),  # log-odds: 0 is even odds
    CURVATURE_SCORE: FieldScale(threshold=0.08, half_width=0.08),  # mean of the s16, s64, s256 defaults
}

#: The colouring rule of each field kind; kinds not listed (flags, labels) are not offered.
FIELD_MODES: dict[FieldKind, FieldModeRule] = {
    FieldKind.CURVATURE: FieldModeRule(ModeKind.SCALAR, _curvature_scale),
    FieldKind.SCORE: FieldModeRule(ModeKind.SCALAR, lambda n, v: SCORE_SCALES.get(n) or _spread_scale(v)),
    FieldKind.NORMALISED: FieldModeRule(ModeKind.SCALAR, lambda _n, _v: NORMALISED_SCALE),
    FieldKind.SIGNED: FieldModeRule(ModeKind.DIVERGING, lambda _n, v: _symmetric_scale(v)),
    FieldKind.OTHER: FieldModeRule(ModeKind.SCALAR, lambda _n, v: _spread_scale(v)),
}

#: Fields listed (greyed out, with the reason) even when a scan lacks them, so a person sees they exist.
ALWAYS_LISTED: dict[str, str] = {CASL_SCORE: "No CASL score yet: run a CASL model on this scan first."}


def mode(key: str) -> ColourMode:
    """The colour mode of a key: a fixed mode, or the rule of the field's kind applied to it.

    Raises
    ------
    ConfigError
        For a field whose kind is not coloured (bit flags, classes).
    """
    if key in FIXED_MODES:
        return FIXED_MODES[key]
    spec = field_spec(key)
    rule = FIELD_MODES.get(spec.kind)
    if rule is None:
        raise ConfigError(f"fields of kind {spec.kind.value} ({key}) are not coloured")
    reason = ALWAYS_LISTED.get(key, f"This scan has no {spec.title} field.")
    return ColourMode(
        key,
        spec.title,
        rule.kind,
        _has(lambda s: key in s.fields, reason),
        lambda s: s.fields.get(key),
        lambda values: rule.scale(key, values),
    )


def colourable(name: str) -> bool:
    """Whether a field of this name is offered as a colour mode."""
    return field_spec(name).kind in FIELD_MODES
