"""Batch inference: score files with a fine-tuned CASL checkpoint and write the results.

Each file gives ``<stem>.ply`` (the scan with ``scalar_casl_score``) and
``<stem>_casl_score.npy``; the scoring itself is :mod:`casl_core.scorers.casl`.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from casl_core.atomic import atomic_write_bytes
from casl_core.errors import ConfigError
from casl_core.progress import CancelFn, ProgressFn, check_cancel, report
from casl_core.scorers.casl import DEFAULT_CHUNK_POINTS, DEFAULT_TTA, SCORE_FIELD, infer_scan, load_model


@dataclass(frozen=True)
class InferRecord:
    """One scored file: where its outputs went and its object score."""

    source: str
    points: int
    object_score: float
    scan_out: str
    scores_out: str


def output_names(files: Sequence[Path], out_dir: Path) -> list[tuple[Path, Path]]:
    """``(<stem>.ply, <stem>_casl_score.npy)`` in ``out_dir`` per input file.

    Raises
    ------
    ConfigError
        When two inputs share a file stem (their outputs would collide).
    """
    stems = [f.stem for f in files]
    clash = sorted({s for s in stems if stems.count(s) > 1})
    if clash:
        raise ConfigError(f"several inputs are named {', '.join(clash)}: their outputs in {out_dir} would collide")
    return [(out_dir / f"{s}.ply", out_dir / f"{s}_{SCORE_FIELD}.npy") for s in stems]


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
    device: str = "auto",
    rank: int = 0,
    world_size: int = 1,
    chunk_points: int = DEFAULT_CHUNK_POINTS,
    tta: int = DEFAULT_TTA,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> list[InferRecord]:
    """Score files and write ``<stem>.ply`` (with ``scalar_casl_score``) and ``<stem>_casl_score.npy``.

    With ``world_size > 1`` this process scores ``files[rank::world_size]`` only; ``tta`` poses
    are averaged per scan (:func:`casl_core.scorers.casl.tta_poses`).

    Raises
    ------
    ScanFormatError, CheckpointError, ConfigError
        On an unreadable file, a bad checkpoint or colliding outputs.
    """
    from casl_core.io import read_scan, write_scan

    paths = [Path(f) for f in files]
    target = Path(out_dir)
    names = output_names(paths, target)
    target.mkdir(parents=True, exist_ok=True)
    model = load_model(checkpoint, device)
    records = []
    mine = list(range(rank, len(paths), world_size))
    for done, i in enumerate(mine):
        check_cancel(cancel)
        report(progress, "files", done, len(mine), paths[i].name)
        scan = read_scan(paths[i])
        result = infer_scan(model, scan, chunk_points=chunk_points, tta=tta, cancel=cancel)
        scan_out, npy_out = names[i]
        write_scan(result.scan, scan_out)
        write_scores_npy(npy_out, result.point_scores)
        records.append(InferRecord(str(paths[i]), len(scan), result.object_score, str(scan_out), str(npy_out)))
    report(progress, "files", len(mine), len(mine))
    return records
