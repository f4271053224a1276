"""The core calls the GUI runs in the background, each ``fn(progress, cancel) -> result``.

Every function here is plain core work with no Qt, the same a script would call, so a
GUI action always has a scriptable twin.
"""

from __future__ import annotations

import os
from pathlib import Path

from casl_core.progress import CancelFn, ProgressFn, check_cancel, report
from casl_core.scan import Scan

def scan_suffixes() -> tuple[str, ...]:
    """File suffixes the readers accept (what the folder opener and file dialog pick up)."""
    from casl_core.io import READ_SUFFIXES

    return tuple(READ_SUFFIXES)


def has_curvature(scan: Scan) -> bool:
    """Whether the scan already holds curvature fields."""
    return any(name.startswith("curvature_") and name != "curvature_flags" for name in scan.fields)


def with_curvature(scan: Scan, progress: ProgressFn, cancel: CancelFn) -> Scan:
    """Add multi-scale curvature unless the scan already has it."""
    if has_curvature(scan):
        return scan
    from casl_core.geometry import add_curvature

    return add_curvature(scan, progress=progress, cancel=cancel)


def open_scan(path: str | os.PathLike[str], progress: ProgressFn, cancel: CancelFn) -> Scan:
    """Read a scan file and add its curvature.

    Raises
    ------
    ScanFormatError
        If the file cannot be read.
    Cancelled
        If ``cancel`` asks to stop.
    """
    from casl_core.io import read_scan

    report(progress, "reading", 0, 1, f"Reading {os.path.basename(os.fspath(path))}")
    scan = read_scan(path)
    check_cancel(cancel)
    report(progress, "reading", 1, 1)
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
