"""Batch inference: score files with a fine-tuned CASL checkpoint and write the results.

Each file gives ``<stem>.ply`` (the scan with ``scalar_casl_score``, and
``scalar_casl_score_norm`` when calibrated) and ``<stem>_casl_score.npy``; an output that is
one of the inputs is named ``<stem>_scored...`` instead (see :func:`output_names`); the
scoring itself is :mod:`casl_core.scorers.casl`. Each file also gets a verdict
(:mod:`casl_core.inspection.verdict`) at the checkpoint's calibrated thresholds, or at those
of a calibration given; without either it is "not calibrated".
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from casl_core.atomic import atomic_write_bytes
from casl_core.errors import ConfigError
from casl_core.fields import CASL_SCORE
from casl_core.inspection.verdict import ScanVerdict, VerdictStatus, scan_verdict
from casl_core.io.guard import free_name
from casl_core.progress import CancelFn, ProgressFn, check_cancel, report
from casl_core.scorers.base import Scorer
from casl_core.scorers.calibration import Calibration
from casl_core.scorers.casl import DEFAULT_CHUNK_POINTS, DEFAULT_TTA, CaslScorer


@dataclass(frozen=True)
class InferRecord:
    """One scored file: where its outputs went, its object score and its verdict.

    ``verdict`` is the :class:`~casl_core.inspection.verdict.VerdictStatus` value and
    ``verdict_text`` the line for people; the threshold and region fields are those of
    :class:`~casl_core.inspection.verdict.ScanVerdict` (``None``/0 when not calibrated).
    """

    source: str
    points: int
    object_score: float
    scan_out: str
    scores_out: str
    verdict: str = VerdictStatus.NOT_CALIBRATED.value
    verdict_text: str = "not calibrated"
    false_alarm_rate: float | None = None
    object_threshold: float | None = None
    share_above: float | None = None
    regions: int = 0
    top_region_points: int = 0


def output_names(files: Sequence[Path], out_dir: Path, score_field: str = CASL_SCORE) -> list[tuple[Path, Path]]:
    """``(<stem>.ply, <stem>_<score_field>.npy)`` in ``out_dir`` per input file.

    An output that would be one of the inputs (``--out-dir`` is the inputs' own folder and an
    input is ``<stem>.ply``) becomes ``<stem>_scored.ply`` instead, with a warning naming both:
    an input is never written over.

    Raises
    ------
    ConfigError
        When two inputs share a file stem (their outputs would collide), or no free name is left.
    """
    stems = [f.stem for f in files]
    clash = sorted({s for s in stems if stems.count(s) > 1})
    if clash:
        raise ConfigError(f"several inputs are named {', '.join(clash)}: their outputs in {out_dir} would collide")
    names = []
    for s in stems:
        pair = []
        for wanted in (out_dir / f"{s}.ply", out_dir / f"{s}_{score_field}.npy"):
            chosen = free_name(wanted, files)
            if chosen != wanted:
                warnings.warn(f"{wanted}: is an input; writing {chosen} instead", OutputRenamed, stacklevel=2)
            pair.append(chosen)
        names.append((pair[0], pair[1]))
    return names


class OutputRenamed(UserWarning):
    """An output was given another name because the planned one is an input."""


def write_scores_npy(path: Path, scores: np.ndarray) -> None:
    """Write float32 scores as a ``.npy`` file atomically."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(scores, dtype=np.float32), allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())


def infer_files(
    checkpoint: str | os.PathLike[str],
    files: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    method: str = "casl",
    device: str = "auto",
    rank: int = 0,
    world_size: int = 1,
    chunk_points: int = DEFAULT_CHUNK_POINTS,
    calibration: Calibration | None = None,
    tta: int = DEFAULT_TTA,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> list[InferRecord]:
    """Score files and write ``<stem>.ply`` (with the score fields) and ``<stem>_<score field>.npy``.

    ``method`` is ``"casl"`` (the checkpoint's model) or ``"fused"`` (the inspector stored
    in the checkpoint by ``casl fuse``: curvature, CASL and reference deviation fused). With
    ``world_size > 1`` this process scores ``files[rank::world_size]`` only. Verdicts use
    ``calibration`` when given (one of the same scorer), else the checkpoint's. ``tta`` poses are averaged per
    scan by the CASL model (:func:`casl_core.scorers.casl.tta_poses`).

    Raises
    ------
    ScanFormatError, CheckpointError, ConfigError
        On an unreadable file, a bad checkpoint, an unknown method or colliding outputs.
    """
    from casl_core.io import read_scan, write_scan

    scorer, own = _file_scorer(checkpoint, method, device, chunk_points, tta)
    if calibration is not None and calibration.scorer != scorer.name:
        raise ConfigError(f"the calibration given is for scorer {calibration.scorer!r}, not {scorer.name}")
    cal = calibration if calibration is not None else own
    paths = [Path(f) for f in files]
    target = Path(out_dir)
    names = output_names(paths, target, scorer.score_field)
    target.mkdir(parents=True, exist_ok=True)
    records = []
    mine = list(range(rank, len(paths), world_size))
    for done, i in enumerate(mine):
        check_cancel(cancel)
        report(progress, "files", done, len(mine), paths[i].name)
        scan = read_scan(paths[i])
        result = scorer.score(scan, cancel=cancel)
        scan_out, npy_out = names[i]
        scored = result.scan if cal is None else cal.apply(result.scan)
        verdict = scan_verdict(
            scored, {} if cal is None else {scorer.name: cal}, object_scores={scorer.name: result.object_score}
        )
        write_scan(scored, scan_out)
        write_scores_npy(npy_out, result.point_scores)
        records.append(_record(str(paths[i]), len(scan), result.object_score, str(scan_out), str(npy_out), verdict))
    report(progress, "files", len(mine), len(mine))
    return records


def _file_scorer(
    checkpoint: str | os.PathLike[str], method: str, device: str, chunk_points: int, tta: int
) -> tuple[Scorer, Calibration | None]:
    """The scorer ``casl infer --method`` runs, and the calibration its checkpoint stores."""
    if method == "casl":
        casl = CaslScorer(checkpoint, device, chunk_points=chunk_points, tta=tta)
        return casl, casl.calibration
    if method == "fused":
        from casl_core.inspector import load_inspector

        return load_inspector(checkpoint, device)
    raise ConfigError(f"casl infer: unknown method {method!r}; choose casl or fused")


def _record(source: str, points: int, obj: float, scan_out: str, scores_out: str, verdict: ScanVerdict) -> InferRecord:
    calibrated = verdict.calibrated
    return InferRecord(
        source,
        points,
        obj,
        scan_out,
        scores_out,
        verdict=verdict.status.value,
        verdict_text=verdict.text,
        false_alarm_rate=verdict.false_alarm_rate,
        object_threshold=verdict.object_threshold,
        share_above=verdict.share_above if calibrated else None,
        regions=len(verdict.regions),
        top_region_points=verdict.top_region.size if verdict.top_region is not None else 0,
    )
