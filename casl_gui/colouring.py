"""What the viewport colours a scan by: field choices, fixed colour scales, colour specs.

Pure data and numpy; no Qt and no VTK. The modes themselves (title, kind, availability,
values, starting scale) are the table entries of :mod:`casl_gui.colour_modes`; this module
lists them for a scan and turns one into what the viewport draws. The colour scale of a
field is fixed per field and shared by every open scan (and both views in compare mode),
anchored to that field's threshold: the range is ``[threshold - half_width, threshold +
half_width]``, so the threshold always sits in the middle of the colour bar.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from casl_core.errors import ConfigError
from casl_core.fields import CASL_SCORE, FieldKind, curvature_size, field_kind
from casl_core.fields import CURVATURE_SCORE as BASELINE_SCORE
from casl_core.fields import curvature_fields as _curvature_names
from casl_core.scan import Scan
from casl_gui.colour_modes import (
    AGREEMENT,
    ALWAYS_LISTED,
    DIVERGING_MAP,
    HEIGHT,
    LABELS,
    RGB,
    TOLERANCE_SHARE,
    FieldScale,
    ModeKind,
    colourable,
    mode,
)

__all__ = [
    "AGREEMENT",
    "AGREEMENT_CLASSES",
    "AGREEMENT_COLOURS",
    "BASELINE_SCORE",
    "CASL_SCORE",
    "COLOUR_MAPS",
    "HEIGHT",
    "LABELS",
    "LABEL_COLOURS",
    "RGB",
    "ColourSpec",
    "FieldChoice",
    "FieldScale",
    "agreement_spec",
    "agreement_values",
    "colour_spec",
    "curvature_fields",
    "curvature_order",
    "default_scale",
    "field_choices",
    "field_text",
    "field_values",
    "is_scalar",
    "preferred_field",
]

#: Classes of the agreement colouring, in value order 0..3.
AGREEMENT_CLASSES: tuple[str, ...] = ("neither", "curvature only", "CASL only", "both")
#: Their colours: grey, blue, orange, red.
AGREEMENT_COLOURS: tuple[str, ...] = ("#8a8f99", "#3b82f6", "#f59e0b", "#e0245e")

#: Colour maps offered for scalar fields (matplotlib names that pyvista understands).
COLOUR_MAPS: tuple[str, ...] = ("viridis", "inferno", "plasma", "turbo", "coolwarm", "cividis")

#: Colours of the ground-truth classes: normal, anomalous.
LABEL_COLOURS: tuple[str, str] = ("#b8bcc4", "#e4572e")


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
    grey_band:
        ``(low, high)``: draw values in this band grey (a diverging map's tolerance), else None.
    """

    key: str
    title: str
    values: np.ndarray
    clim: tuple[float, float] | None
    cmap: str | list[str] | None
    categories: tuple[str, ...] = ()
    grey_below: bool = False
    grey_band: tuple[float, float] | None = None

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
    try:
        return mode(key).title
    except ConfigError:
        return key


def _numeric_fields(scan: Scan, kind: FieldKind) -> list[str]:
    """The scan's colourable numeric fields of one kind, by name."""
    return sorted(
        n
        for n, v in scan.fields.items()
        if np.issubdtype(v.dtype, np.number) and colourable(n) and field_kind(n) is kind
    )


def _listed_keys(scan: Scan) -> list[str]:
    """Every mode key offered for ``scan``, in list order."""
    scores = [n for n in _numeric_fields(scan, FieldKind.SCORE) if n not in (BASELINE_SCORE, CASL_SCORE)]
    return [
        RGB,
        *curvature_fields(scan),
        *([BASELINE_SCORE] if BASELINE_SCORE in scan.fields else []),
        CASL_SCORE,  # listed without a score too (see ALWAYS_LISTED)
        *scores,
        *_numeric_fields(scan, FieldKind.NORMALISED),
        *_numeric_fields(scan, FieldKind.SIGNED),
        AGREEMENT,
        LABELS,
        HEIGHT,
        *_numeric_fields(scan, FieldKind.OTHER),
    ]


def field_choices(scan: Scan | None) -> list[FieldChoice]:
    """The "colour by" entries for a scan, those it cannot show disabled with a reason.

    RGB, ground truth and CASL score are always listed, so a person sees what exists.
    """
    if scan is None:
        none = "No scan is open."
        return [FieldChoice(k, field_text(k), False, none) for k in (RGB, LABELS, *ALWAYS_LISTED)]
    out = []
    for key in _listed_keys(scan):
        entry = mode(key)
        reason = entry.missing(scan)
        out.append(FieldChoice(key, entry.title, not reason, reason))
    return out


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
    """The starting colour scale of a field, before the user edits it (its mode's table entry).

    Curvature (surface variation, always in [0, 1/3]; larger neighbourhoods give larger
    values), the CASL score (log-odds, 0 means even odds) and calibrated scores (0 to 1,
    threshold 0.5) have fixed defaults; signed fields are centred on zero. Any other field
    takes its range from the first scan that shows it (1st to 99th percentile); the scale
    then stays fixed for every scan.
    """
    try:
        return mode(key).scale(values)
    except ConfigError:
        return FieldScale(threshold=0.5, half_width=0.5)


def field_values(scan: Scan, key: str) -> np.ndarray | None:
    """The raw per-point values behind a choice (labels as uint8, RGB as (N, 3)), or None."""
    try:
        return mode(key).values(scan)
    except ConfigError:
        return scan.fields.get(key)


def mode_kind(key: str | None) -> ModeKind | None:
    """How a choice key is drawn, None for no key or a field that is not coloured."""
    if key is None:
        return None
    try:
        return mode(key).kind
    except ConfigError:
        return None


def is_scalar(key: str | None) -> bool:
    """Whether a choice key is a scalar field with a threshold (not RGB, labels, a signed field or nothing)."""
    return mode_kind(key) is ModeKind.SCALAR


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
    kind = mode_kind(key)
    if kind is ModeKind.RGB:
        return ColourSpec(key, title, values, None, None)
    if kind is ModeKind.LABELS:
        return ColourSpec(
            key, title, values.astype(np.float32), (0.0, 1.0), list(LABEL_COLOURS), ("normal", "anomalous")
        )
    scalars = np.asarray(values, dtype=np.float32)
    if kind is ModeKind.DIVERGING:
        tolerance = TOLERANCE_SHARE * scale.half_width
        band = (scale.threshold - tolerance, scale.threshold + tolerance)
        return ColourSpec(key, title, scalars, scale.clim, DIVERGING_MAP, (), False, band)
    return ColourSpec(key, title, scalars, scale.clim, cmap, (), grey_below)
