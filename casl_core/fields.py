"""Per-point field names and what they hold: the one module that names them.

A :class:`~casl_core.scan.Scan` carries named per-point arrays (``scan.fields``). Every
name the core writes is declared here with its :class:`FieldKind` and a title for people,
and every question about a name ("is this a curvature scale?", "which field does the CASL
scorer write?", "what is the calibrated twin of this score?") is answered here, so the
CLI, the writers and the GUI never spell a name or a naming rule themselves.

Kinds:

``curvature``
    surface variation at one neighbourhood size: ``curvature_s<N>`` (the multi-scale mode,
    about N neighbours) or ``curvature_k<K>`` (exact K nearest neighbours).
``score``
    a scorer's raw per-point anomaly score, higher is more anomalous.
``normalised``
    a calibrated score: the raw score mapped to [0, 1] with 0.5 at the scorer's
    threshold (``<score field>_norm``); the raw field is kept beside it.
``signed``
    a signed distance to a reference surface (positive: material added).
``flags``, ``label``, ``other``
    bit flags, classes, and anything a file brought along (intensity, ...).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

from casl_core.errors import ConfigError


class FieldKind(enum.StrEnum):
    """What a per-point field holds (see the module docstring)."""

    CURVATURE = "curvature"
    SCORE = "score"
    NORMALISED = "normalised"
    SIGNED = "signed"
    FLAGS = "flags"
    LABEL = "label"
    OTHER = "other"


@dataclass(frozen=True)
class FieldSpec:
    """A declared per-point field.

    Attributes
    ----------
    name:
        The field name in ``scan.fields`` (``scalar_<name>`` in PLY/PCD files).
    kind:
        What it holds.
    title:
        What people read (lists, colour bars, reports).
    scorer:
        For score fields, the name of the scorer that writes it, else ``None``.
    """

    name: str
    kind: FieldKind
    title: str
    scorer: str | None = None


#: Bit flags the curvature computation sets per point (see :mod:`casl_core.geometry.curvature`).
CURVATURE_FLAGS = "curvature_flags"
#: The curvature baseline's per-point score (the scales fused).
CURVATURE_SCORE = "curvature_score"
#: The CASL model's per-point score, ``log p(anomalous) - log p(normal)``.
CASL_SCORE = "casl_score"
#: Signed distance to the aligned reference surface (positive outside).
DEVIATION = "deviation"
#: Its absolute value.
DEVIATION_ABS = "deviation_abs"
#: The deviation scorer's per-point score: the absolute deviation, with missing material
#: (reference surface no scan point covers) given to the scan points on its rim.
DEVIATION_SCORE = "deviation_score"
#: The fused scorer's per-point score (the calibrated scorers combined).
FUSED_SCORE = "fused_score"
#: Suffix of the calibrated (normalised, 0.5 at the threshold) twin of a score field.
NORMALISED_SUFFIX = "_norm"

_DECLARED: tuple[FieldSpec, ...] = (
    FieldSpec(CURVATURE_FLAGS, FieldKind.FLAGS, "Curvature flags"),
    FieldSpec(CURVATURE_SCORE, FieldKind.SCORE, "Curvature score (baseline)", scorer="curvature"),
    FieldSpec(CASL_SCORE, FieldKind.SCORE, "CASL score", scorer="casl"),
    FieldSpec(DEVIATION, FieldKind.SIGNED, "Signed deviation"),
    FieldSpec(DEVIATION_ABS, FieldKind.OTHER, "Absolute deviation"),
    FieldSpec(DEVIATION_SCORE, FieldKind.SCORE, "Deviation score", scorer="deviation"),
    FieldSpec(FUSED_SCORE, FieldKind.SCORE, "Fused score", scorer="fused"),
)
_BY_NAME: dict[str, FieldSpec] = {spec.name: spec for spec in _DECLARED}

#: The score field each scorer writes, by scorer name.
SCORE_FIELDS: dict[str, str] = {spec.scorer: spec.name for spec in _DECLARED if spec.scorer is not None}

_CURVATURE = re.compile(r"^curvature_(s|k)(\d+)$")


def curvature_field(size: int, *, exact: bool = False) -> str:
    """The name of a curvature scale: ``curvature_s<size>``, or ``curvature_k<size>`` for exact k-NN."""
    return f"curvature_{'k' if exact else 's'}{int(size)}"


def curvature_size(name: str) -> int | None:
    """The neighbourhood size in a curvature field name (``curvature_s64`` -> 64), else ``None``."""
    match = _CURVATURE.match(name)
    return int(match.group(2)) if match else None


def is_exact_curvature(name: str) -> bool:
    """Whether ``name`` is an exact k-NN curvature field (``curvature_k<K>``)."""
    match = _CURVATURE.match(name)
    return match is not None and match.group(1) == "k"


def curvature_fields(names: Iterable[str]) -> list[str]:
    """The curvature scales among ``names``: exact (``k``) before multi-scale (``s``), each small to large."""
    found = [n for n in names if _CURVATURE.match(n)]
    return sorted(found, key=lambda n: (not is_exact_curvature(n), curvature_size(n)))


def normalised_field(score_field: str) -> str:
    """The name of the calibrated twin of a score field (``casl_score`` -> ``casl_score_norm``)."""
    return score_field + NORMALISED_SUFFIX


def score_field(scorer: str) -> str:
    """The score field a scorer writes.

    Raises
    ------
    ConfigError
        For a scorer no field is declared for.
    """
    try:
        return SCORE_FIELDS[scorer]
    except KeyError:
        raise ConfigError(
            f"no score field is declared for scorer {scorer!r}; known: {', '.join(SCORE_FIELDS)}"
        ) from None


def field_spec(name: str) -> FieldSpec:
    """What the field called ``name`` holds: a declared field, a curvature scale, a calibrated
    score, or an undeclared field a file brought (kind ``other``, titled by its name).
    """
    if name in _BY_NAME:
        return _BY_NAME[name]
    size = curvature_size(name)
    if size is not None:
        text = "k" if is_exact_curvature(name) else "scale"
        return FieldSpec(name, FieldKind.CURVATURE, f"Curvature, {text} {size}")
    if name.endswith(NORMALISED_SUFFIX):
        raw = _BY_NAME.get(name[: -len(NORMALISED_SUFFIX)])
        if raw is not None and raw.kind is FieldKind.SCORE:
            return FieldSpec(name, FieldKind.NORMALISED, f"{raw.title}, calibrated", scorer=raw.scorer)
    return FieldSpec(name, FieldKind.OTHER, name)


def field_kind(name: str) -> FieldKind:
    """Shorthand for ``field_spec(name).kind``."""
    return field_spec(name).kind
