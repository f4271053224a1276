"""The core calls the GUI runs in the background, each ``fn(progress, cancel) -> result``.

Every function here is plain core work with no Qt, the same a script would call, so a
GUI action always has a scriptable twin.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from casl_core.fields import curvature_fields
from casl_core.inspection.regions import RegionResult
from casl_core.progress import CancelFn, ProgressFn, check_cancel, report
from casl_core.scan import Scan


def scan_suffixes() -> tuple[str, ...]:
    """File suffixes the readers accept (what the folder opener and file dialog pick up)."""
    from casl_core.io import READ_SUFFIXES

    return tuple(READ_SUFFIXES)


def has_curvature(scan: Scan) -> bool:
    """Whether the scan already holds curvature fields."""
    return bool(curvature_fields(scan.fields))


def with_curvature(scan: Scan, progress: ProgressFn, cancel: CancelFn) -> Scan:
    """Add multi-scale curvature (unless the scan has it) and the baseline's fused score."""
    from casl_core.geometry import DEFAULT_FIELDS
    from casl_core.scorers.curvature import CurvatureBaseline

    baseline = CurvatureBaseline()
    if baseline.score_field in scan.fields:
        return scan
    if has_curvature(scan) and not set(DEFAULT_FIELDS) <= set(scan.fields):
        return scan  # curvature of another kind came with the file: shown as it is
    return baseline.score(scan, progress=progress, cancel=cancel).scan


def read_only(path: str | os.PathLike[str], progress: ProgressFn, cancel: CancelFn) -> Scan:
    """Read a scan file (no curvature yet: the window shows it at once, then adds curvature).

    Raises
    ------
    ScanFormatError
        If the file cannot be read.
    """
    from casl_core.io import read_scan

    report(progress, "reading", 0, 1, f"Reading {os.path.basename(os.fspath(path))}")
    scan = read_scan(path)
    check_cancel(cancel)
    report(progress, "reading", 1, 1)
    return scan


def read_and_score(path: str | os.PathLike[str], scorer, progress: ProgressFn, cancel: CancelFn) -> Scan:
    """Read a scan file and score it with ``scorer`` (a batch row opened as the batch saw it).

    Raises
    ------
    ScanFormatError
        If the file cannot be read.
    Cancelled
        If ``cancel`` asks to stop.
    """
    scan = read_only(path, progress, cancel)
    return scorer.score(scan, progress=progress, cancel=cancel).scan


def add_curvature_job(scan: Scan, progress: ProgressFn, cancel: CancelFn) -> Scan:
    """Curvature and the baseline score of a scan already on show."""
    report(progress, "curvature", 0, 0, f"Curvature of {scan.name}")
    return with_curvature(scan, progress, cancel)


def open_demo(progress: ProgressFn, cancel: CancelFn, seed: int = 0) -> Scan:
    """Make the procedural demo part (a flange with one defect) and add its curvature."""
    from casl_core.demo import demo_scan

    report(progress, "demo", 0, 1, "Making the demo part")
    scan = demo_scan(seed=seed)
    check_cancel(cancel)
    return with_curvature(scan, progress, cancel)


def scans_in_folder(folder: str | os.PathLike[str]) -> list[Path]:
    """The scan files directly inside ``folder`` (by suffix), sorted by name."""
    root = Path(folder)
    suffixes = scan_suffixes()
    return sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in suffixes)


class RegionTask(NamedTuple):
    """Regions to find in one open scan.

    Attributes
    ----------
    key:
        The scan's key in the window.
    points, scores:
        Its coordinates and the score field's values.
    threshold:
        The field's threshold.
    radius:
        Link radius when already known for this scan, else None (measured here).
    """

    key: int
    points: np.ndarray
    scores: np.ndarray
    threshold: float
    radius: float | None


def find_scan_regions(
    tasks: list[RegionTask], min_points: int, progress: ProgressFn, cancel: CancelFn
) -> dict[int, RegionResult]:
    """Connected regions above the threshold of each task's scan, by scan key."""
    from casl_core.inspection.regions import find_regions, link_radius

    out: dict[int, RegionResult] = {}
    for done, task in enumerate(tasks):
        check_cancel(cancel)
        report(progress, "regions", done, len(tasks))
        radius = task.radius if task.radius is not None else (link_radius(task.points) if len(task.points) > 1 else 1.0)
        out[task.key] = find_regions(task.points, task.scores, task.threshold, min_points=min_points, radius=radius)
    return out


class BatchRow(NamedTuple):
    """The inspection of one file of a batch.

    Attributes
    ----------
    path:
        The scan file.
    points:
        Its number of points.
    object_score:
        The scorer's object score.
    largest_region:
        Points in its largest region above the threshold.
    verdict:
        ``"PASS"`` or ``"FAIL"``.
    """

    path: str
    points: int
    object_score: float
    largest_region: int
    verdict: str


def inspect_file(
    path: str | os.PathLike[str],
    scorer,
    threshold: float,
    min_points: int,
    fail_points: int,
    progress: ProgressFn,
    cancel: CancelFn,
) -> BatchRow:
    """Read a scan, score it, find its regions above ``threshold`` and give the verdict.

    ``scorer`` is any :class:`~casl_core.scorers.base.Scorer` (the curvature baseline,
    the CASL model).

    Raises
    ------
    ScanFormatError
        If the file cannot be read.
    Cancelled
        If ``cancel`` asks to stop.
    """
    from casl_core.inspection.regions import find_regions, verdict

    check_cancel(cancel)
    scan = read_only(path, progress, cancel)
    scores = scorer.score(scan, progress=progress, cancel=cancel)
    check_cancel(cancel)
    result = find_regions(scores.scan.points, scores.point_scores, threshold, min_points=min_points)
    v = verdict(result, fail_points)
    return BatchRow(os.fspath(path), len(scan), float(scores.object_score), v.largest_region, v.text)
