"""The core calls behind "Set reference": build the deviation scorer and score scans with it.

Plain core work with no Qt (each job is ``fn(progress, cancel) -> result``), the same a
script would call: :class:`casl_core.scorers.deviation.DeviationScorer` aligns each scan to
its references and writes the signed deviation fields.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from casl_core.errors import ConfigError
from casl_core.progress import CancelFn, ProgressFn, check_cancel, report
from casl_core.scan import Scan

#: A reference: a scan or mesh in memory, or a file holding one.
Source = Scan | str | os.PathLike[str]


@dataclass(frozen=True)
class ReferenceFit:
    """How one scan lies against the reference that fitted it best.

    Attributes
    ----------
    reference:
        Name of that reference.
    rmse:
        Root-mean-square residual of the alignment, in the scan's units.
    transform:
        ``(4, 4)`` rigid transform taking scan coordinates to the reference's.
    reference_points:
        The reference's points moved into the scan's frame (to draw it over the scan).
    """

    reference: str
    rmse: float
    transform: np.ndarray
    reference_points: np.ndarray


def reference_sources(path: str | os.PathLike[str]) -> list[Path]:
    """The reference files a path names: the file itself, or the scan files directly inside a folder.

    Raises
    ------
    ConfigError
        If the path does not exist or the folder holds no scan file.
    """
    from casl_gui.jobs import scans_in_folder

    p = Path(path)
    if p.is_dir():
        found = scans_in_folder(p)
        if not found:
            raise ConfigError(f"{p}: no scan or mesh file in this folder to use as a reference")
        return found
    if not p.is_file():
        raise ConfigError(f"{p}: no such file or folder")
    return [p]


def source_name(source: Source) -> str:
    """What people call a reference: its file name, or the scan's name."""
    return source.name if isinstance(source, Scan) else Path(source).name


def make_scorer(sources: list[Source], label: str, progress: ProgressFn, cancel: CancelFn):
    """The deviation scorer comparing scans with ``sources``, its references read and prepared now
    (a reference in memory is called ``label``, numbered when there are several).

    Raises
    ------
    ConfigError, ScanFormatError
        When a reference cannot be read or used.
    """
    from casl_core.scorers.deviation import DeviationScorer
    from casl_core.scorers.reference import reference_from_scan

    names = [label] if len(sources) == 1 else [f"{label} {i + 1}" for i in range(len(sources))]
    refs = [reference_from_scan(s, n) if isinstance(s, Scan) else os.fspath(s) for s, n in zip(sources, names)]
    scorer = DeviationScorer(references=refs)
    scorer.prepared(progress)
    check_cancel(cancel)
    return scorer


def score_scans(
    scorer, scans: list[tuple[int, Scan]], progress: ProgressFn, cancel: CancelFn
) -> dict[int, tuple[Scan, ReferenceFit] | str]:
    """Align each scan to the references and add its deviation fields; by key, the scored scan and
    its fit, or the one-line reason it could not be scored (a reference that does not fit).
    """
    from casl_core.errors import Cancelled, CaslError

    out: dict[int, tuple[Scan, ReferenceFit] | str] = {}
    for done, (key, scan) in enumerate(scans):
        check_cancel(cancel)
        report(progress, "deviation", done, len(scans), f"Deviation of {scan.name}")
        try:
            scored = scorer.score(scan, progress=progress, cancel=cancel)
        except Cancelled:
            raise
        except CaslError as exc:
            out[key] = str(exc)
            continue
        out[key] = (scored.scan, last_fit(scorer))
    return out


def last_fit(scorer) -> ReferenceFit:
    """The :class:`ReferenceFit` of the scan the deviation scorer scored last."""
    alignment = scorer.last.alignment
    transform = np.asarray(alignment.transform, dtype=np.float64)
    ref = next(r for r in scorer.prepared() if r.name == alignment.reference)
    back = np.linalg.inv(transform)
    moved = ref.cloud.points @ back[:3, :3].T + back[:3, 3]
    name = Path(alignment.reference).name or alignment.reference
    return ReferenceFit(name, float(alignment.rmse), transform, moved.astype(np.float32))
