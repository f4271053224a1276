"""What the viewport colours a scan by: field choices, fixed colour scales, colour specs.

Pure data and numpy; no Qt and no VTK. The colour scale of a field is fixed per field
and shared by every open scan (and both views in compare mode), anchored to that field's
threshold: the range is ``[threshold - half_width, threshold + half_width]``, so the
threshold always sits in the middle of the colour bar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from casl_core.errors import ConfigError
from casl_core.fields import CASL_SCORE, CURVATURE_FLAGS, curvature_size, field_spec
from casl_core.fields import CURVATURE_SCORE as BASELINE_SCORE
from casl_core.fields import curvature_fields as _curvature_names
from casl_core.scan import Scan

#: Key of the "colour by the scan's own RGB" choice (not a valid field name, so no clash).
RGB = "<rgb>"
#: Key of the "colour by ground-truth labels" choice.
LABELS = "<labels>"
#: Key of the "colour by height" choice, always available (shown before curvature is ready).
HEIGHT = "<height>"
#: Key of the "agreement between curvature and CASL" choice.
AGREEMENT = "<agreement>"
#: Classes of the agreement colouring, in value order 0..3.
AGREEMENT_CLASSES: tuple[str, ...] = ("neither", "curvature only", "CASL only", "both")
#: Their colours: grey, blue, orange, red.
AGREEMENT_COLOURS: tuple[str, ...] = ("#8a8f99", "#3b82f6", "#f59e0b", "#e0245e")

#: Colour maps offered for scalar fields (matplotlib names that pyvista understands).
COLOUR_MAPS: tuple[str, ...] = ("viridis", "inferno", "plasma", "turbo", "coolwarm", "cividis")

#: Colours of the ground-truth classes: normal, anomalous.
LABEL_COLOURS: tuple[str, str] = ("#b8bcc4", "#e4572e")


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


class FieldChoice(NamedTuple):
    """One entry of the "colour by" list.

    Attributes
    ----------
    key:
        :data:`RGB`, :data:`LABELS` or a field name.
    text:
        What the list shows.
    enabled:
        False when the active scan cannot be coloured this way.
    reason:
        Why it is disabled (a tooltip), ``""`` when enabled.
    """

    key: str
    text: str
    enabled: bool
    reason: str


class ColourSpec(NamedTuple):
    """Everything the viewport needs to colour one scan.

    Attributes
    ----------
    key:
        The field choice key.
    title:
        Scalar-bar title (distinct per field).
    values:
        ``(N,)`` float32 scalars, ``(N, 3)`` uint8 RGB, or ``(N,)`` uint8 labels.
    clim:
        Colour range for scalars and labels; ``None`` for RGB.
    cmap:
        Colour map name, or a list of colours for labels; ``None`` for RGB.
    categories:
        Names of the classes ``0, 1, ...`` when ``cmap`` is a list of colours, else empty.
    grey_below:
        Draw values below the threshold (the lower half of the colour range) in grey, so
        only the points at or above it keep their colour.
    band:
        Draw values within plus or minus ``band`` of the middle of the colour range in
        grey (a tolerance band, as deviation maps do); 0 for none.
    """

    key: str
    title: str
    values: np.ndarray
    clim: tuple[float, float] | None
    cmap: str | list[str] | None
    categories: tuple[str, ...] = ()
    grey_below: bool = False
    band: float = 0.0

    @property
    def kind(self) -> str:
        """``"rgb"``, ``"labels"`` or ``"scalar"``: how the values are drawn."""
        if self.key == RGB:
            return "rgb"
        return "labels" if isinstance(self.cmap, list) else "scalar"


def curvature_order(name: str) -> int | None:
    """The neighbourhood size in a curvature field name (``curvature_s64`` -> 64), else None."""
    return curvature_size(name)


def curvature_fields(scan: Scan) -> list[str]:
    """The scan's curvature fields, smallest neighbourhood first."""
    return _curvature_names(scan.fields)


def field_text(key: str) -> str:
    """The human name of a field choice key."""
    if key == RGB:
        return "RGB colours"
    if key == LABELS:
        return "Ground truth labels"
    if key == HEIGHT:
        return "Height (z)"
    if key == AGREEMENT:
        return "Agreement (curvature vs CASL)"
    return field_spec(key).title


def _other_scalar_fields(scan: Scan) -> list[str]:
    skip = set(curvature_fields(scan)) | {CASL_SCORE, BASELINE_SCORE, CURVATURE_FLAGS}
    return sorted(n for n, v in scan.fields.items() if n not in skip and np.issubdtype(v.dtype, np.number))


def field_choices(scan: Scan | None) -> list[FieldChoice]:
    """The "colour by" entries for a scan, those it cannot show disabled with a reason.

    RGB, ground truth and CASL score are always listed, so a person sees what exists.
    """
    if scan is None:
        none = "No scan is open."
        return [FieldChoice(k, field_text(k), False, none) for k in (RGB, LABELS, CASL_SCORE)]
    choices = [
        FieldChoice(
            RGB,
            field_text(RGB),
            scan.colors is not None,
            "" if scan.colors is not None else "This scan has no colours.",
        ),
    ]
    choices += [FieldChoice(n, field_text(n), True, "") for n in curvature_fields(scan)]
    if BASELINE_SCORE in scan.fields:
        choices.append(FieldChoice(BASELINE_SCORE, field_text(BASELINE_SCORE), True, ""))
    has_score = CASL_SCORE in scan.fields
    choices.append(
        FieldChoice(
            CASL_SCORE,
            field_text(CASL_SCORE),
            has_score,
            "" if has_score else "No CASL score yet: run a CASL model on this scan first.",
        )
    )
    has_both = has_score and BASELINE_SCORE in scan.fields
    choices.append(
        FieldChoice(
            AGREEMENT,
            field_text(AGREEMENT),
            has_both,
            "" if has_both else "Needs both the curvature score and the CASL score of this scan.",
        )
    )
    has_labels = scan.labels is not None
    choices.append(
        FieldChoice(
            LABELS,
            field_text(LABELS),
            has_labels,
            "" if has_labels else "This scan has no ground-truth labels.",
        )
    )
    choices.append(FieldChoice(HEIGHT, field_text(HEIGHT), True, ""))
    choices += [FieldChoice(n, field_text(n), True, "") for n in _other_scalar_fields(scan)]
    return choices


def preferred_field(scan: Scan, current: str | None) -> str:
    """The choice to show for a scan: ``current`` when the scan has it, else a sensible first."""
    enabled = [c.key for c in field_choices(scan) if c.enabled]
    if current in enabled:
        return current
    for key in (*curvature_fields(scan), CASL_SCORE, RGB, HEIGHT):
        if key in enabled:
            return key
    return enabled[0] if enabled else RGB


def default_scale(key: str, values: np.ndarray | None) -> FieldScale:
    """The starting colour scale of a field, before the user edits it.

    Curvature (surface variation, always in [0, 1/3]; larger neighbourhoods give larger
    values) and CASL score (log-odds, 0 means even odds) have fixed defaults. Any other field takes its range from the first scan
    that shows it (1st to 99th percentile); the scale then stays fixed for every scan.
    """
    order = curvature_order(key)
    if order is not None:
        # Surface variation grows with the neighbourhood: 0.04 at 16 neighbours, 0.08 at 64, 0.12 at 256.
        threshold = float(np.clip(0.02 * np.log2(max(order, 8) / 4.0), 0.02, 0.15))
        return FieldScale(threshold=threshold, half_width=threshold)
    if key == CASL_SCORE:
        return FieldScale(threshold=0.0, half_width=4.0)
    if key == BASELINE_SCORE:
        # The mean of the s16, s64 and s256 scales, whose own defaults are 0.04, 0.08 and 0.12.
        return FieldScale(threshold=0.08, half_width=0.08)
    if key == LABELS or values is None or len(values) == 0:
        return FieldScale(threshold=0.5, half_width=0.5)
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if len(finite) == 0:
        return FieldScale(threshold=0.5, half_width=0.5)
    lo, hi = np.percentile(finite, [1.0, 99.0])
    half = (hi - lo) / 2.0
    return FieldScale(threshold=float(lo + half), half_width=float(half) if half > 0 else 1.0)


def field_values(scan: Scan, key: str) -> np.ndarray | None:
    """The raw per-point values behind a choice (labels as uint8, RGB as (N, 3)), or None."""
    if key == RGB:
        return scan.colors
    if key == LABELS:
        return scan.labels
    if key == HEIGHT:
        return scan.points[:, 2]
    return scan.fields.get(key)


def is_scalar(key: str | None) -> bool:
    """Whether a choice key is a scalar field with a threshold (not RGB, labels or nothing)."""
    return key is not None and key not in (RGB, LABELS, AGREEMENT)


def agreement_values(scan: Scan, curvature_threshold: float, casl_threshold: float) -> np.ndarray:
    """Per point, which scorers flag it at or above their threshold: 0 neither, 1 curvature only,
    2 CASL only, 3 both (:data:`AGREEMENT_CLASSES`), as uint8.

    Raises
    ------
    ConfigError
        If the scan lacks the curvature score or the CASL score.
    """
    missing = [n for n in (BASELINE_SCORE, CASL_SCORE) if n not in scan.fields]
    if missing:
        raise ConfigError(f"{scan.name}: agreement needs the {' and '.join(missing)} field(s)")
    curvature = scan.fields[BASELINE_SCORE] >= curvature_threshold
    casl = scan.fields[CASL_SCORE] >= casl_threshold
    return (curvature.astype(np.uint8) + 2 * casl.astype(np.uint8)).astype(np.uint8)


def agreement_spec(
    scan: Scan, curvature_threshold: float, casl_threshold: float, *, title_suffix: str = ""
) -> ColourSpec:
    """The categorical colouring of :func:`agreement_values` with its legend."""
    values = agreement_values(scan, curvature_threshold, casl_threshold).astype(np.float32)
    return ColourSpec(
        AGREEMENT,
        field_text(AGREEMENT) + title_suffix,
        values,
        (0.0, float(len(AGREEMENT_CLASSES) - 1)),
        list(AGREEMENT_COLOURS),
        AGREEMENT_CLASSES,
    )


def colour_spec(
    scan: Scan, key: str, scale: FieldScale, cmap: str, *, title_suffix: str = "", grey_below: bool = False
) -> ColourSpec:
    """Build what the viewport needs to colour ``scan`` by ``key``.

    Raises
    ------
    ConfigError
        If the scan has no such field, colours or labels.
    """
    values = field_values(scan, key)
    if values is None:
        raise ConfigError(f"{scan.name}: cannot colour by {field_text(key)!r}, the scan does not have it")
    title = field_text(key) + title_suffix
    if key == RGB:
        return ColourSpec(key, title, values, None, None)
    if key == LABELS:
        return ColourSpec(
            key, title, values.astype(np.float32), (0.0, 1.0), list(LABEL_COLOURS), ("normal", "anomalous")
        )
    return ColourSpec(key, title, np.asarray(values, dtype=np.float32), scale.clim, cmap, (), grey_below)
