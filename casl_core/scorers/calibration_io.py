"""Calibrations as JSON: written atomically, checked field by field when read.

The document is ``{"format": "casl-calibration", "version": 1, ...}`` with one key per
attribute of :class:`~casl_core.scorers.calibration.Calibration`. Reading refuses, with a
:class:`~casl_core.errors.CalibrationError` naming the file (or the checkpoint it came from),
anything else: another format or version, a missing or extra key, a value of the wrong type,
a non-finite number, a rate outside (0, 1), thresholds out of order, a score field that is
not the scorer's.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from casl_core.atomic import atomic_write_bytes
from casl_core.errors import CalibrationError
from casl_core.fields import FieldKind, field_spec
from casl_core.scorers.calibration import CALIBRATION_VERSION, Calibration

#: Value of the ``format`` key.
CALIBRATION_FORMAT = "casl-calibration"

_FLOATS = (
    "false_alarm_rate",
    "point_threshold",
    "object_threshold",
    "ood_threshold",
    "norm_low",
    "norm_high",
    "object_margin",
    "normal_share_above",
    "object_max",
    "object_median",
)
_INTS = ("normal_scans", "augmented_scans", "normal_points", "version")
_STRS = ("scorer", "score_field", "data_fingerprint", "casl_version")


def to_json(cal: Calibration) -> dict[str, Any]:
    """The JSON document of ``cal`` (a plain dict)."""
    doc = asdict(cal)
    doc["notes"] = list(cal.notes)
    return {"format": CALIBRATION_FORMAT, **doc}


def write_calibration(path: str | os.PathLike[str], cal: Calibration) -> None:
    """Write ``cal`` as indented JSON to ``path`` atomically (the folder must exist)."""
    text = json.dumps(to_json(cal), indent=2, allow_nan=False)
    atomic_write_bytes(Path(path), (text + "\n").encode())


def read_calibration(path: str | os.PathLike[str]) -> Calibration:
    """Read and check a calibration file.

    Raises
    ------
    CalibrationError
        Naming the file, when it cannot be read, is not JSON, or is not a valid calibration.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CalibrationError(f"{p}: calibration file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CalibrationError(f"{p}: cannot read the calibration: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise CalibrationError(f"{p}: not a JSON calibration file ({exc})") from None
    return from_json(doc, str(p))


def from_json(doc: Any, where: str) -> Calibration:
    """Check a calibration document and build the :class:`Calibration`.

    Parameters
    ----------
    doc:
        The parsed JSON.
    where:
        What to name in errors (the file, or ``"<checkpoint>: calibration"``).

    Raises
    ------
    CalibrationError
        On any problem, naming ``where`` and the offending key.
    """
    if not isinstance(doc, dict) or doc.get("format") != CALIBRATION_FORMAT:
        raise CalibrationError(f"{where}: not a CASL calibration (no format {CALIBRATION_FORMAT!r})")
    version = doc.get("version")
    if version != CALIBRATION_VERSION or isinstance(version, bool):
        raise CalibrationError(
            f"{where}: calibration version {version!r} is not supported (this casl reads version {CALIBRATION_VERSION})"
        )
    names = {f.name for f in fields(Calibration)}
    missing = sorted(names - set(doc))
    extra = sorted(set(doc) - names - {"format"})
    if missing or extra:
        what = "lacks " + ", ".join(missing) if missing else "has unknown keys " + ", ".join(extra)
        raise CalibrationError(f"{where}: the calibration {what}")
    values = {name: doc[name] for name in names}
    _check_types(values, where)
    values["notes"] = tuple(values["notes"])
    cal = Calibration(**values)
    _check_ranges(cal, where)
    return cal


def _check_types(values: dict[str, Any], where: str) -> None:
    for key in _FLOATS:
        v = values[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise CalibrationError(f"{where}: calibration {key!r} must be a finite number, got {v!r}")
        values[key] = float(v)
    for key in _INTS:
        v = values[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise CalibrationError(f"{where}: calibration {key!r} must be a whole number >= 0, got {v!r}")
    for key in _STRS:
        if not isinstance(values[key], str):
            raise CalibrationError(f"{where}: calibration {key!r} must be text, got {values[key]!r}")
    if not isinstance(values["leave_one_out"], bool):
        raise CalibrationError(f"{where}: calibration 'leave_one_out' must be true or false")
    notes = values["notes"]
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise CalibrationError(f"{where}: calibration 'notes' must be a list of texts")


def _check_ranges(cal: Calibration, where: str) -> None:
    spec = field_spec(cal.score_field)
    if spec.kind is not FieldKind.SCORE or spec.scorer != cal.scorer:
        raise CalibrationError(
            f"{where}: calibration score field {cal.score_field!r} is not the score field of scorer {cal.scorer!r}"
        )
    problems = []
    if not 0.0 < cal.false_alarm_rate < 1.0:
        problems.append(f"false_alarm_rate {cal.false_alarm_rate} is not in (0, 1)")
    if not cal.norm_low < cal.point_threshold < cal.norm_high:
        problems.append("norm_low < point_threshold < norm_high does not hold")
    if not 0.0 <= cal.normal_share_above <= 1.0:
        problems.append(f"normal_share_above {cal.normal_share_above} is not in [0, 1]")
    if cal.object_margin < 0:
        problems.append(f"object_margin {cal.object_margin} is negative")
    if cal.object_threshold < cal.object_max:
        problems.append("object_threshold is below the largest normal object score")
    if cal.normal_scans < 1 or cal.normal_points < 1:
        problems.append("it counts no normal scan or point")
    if problems:
        raise CalibrationError(f"{where}: invalid calibration: {'; '.join(problems)}")
