"""A whole test set from normal scans: resampled copies, some with a synthesised defect.

:func:`make_test_set` writes it in the Real3D-AD or plain-folder layout (see
:mod:`casl_core.datasets`); the benchmarks and ``casl synth`` use it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from casl_core.errors import ConfigError
from casl_core.scan import Scan
from casl_core.synth.defects import DEFAULT_DEPTH, DEFAULT_SIZE, DefectKind, synthesize_defect


def jittered_copy(scan: Scan, rng: np.random.Generator, keep: float = 0.9, noise: float = 5e-4) -> Scan:
    """A resampled, slightly noisy copy: a second scan of the same part."""
    n = len(scan)
    chosen = np.sort(rng.choice(n, size=max(1, int(keep * n)), replace=False))
    out = scan.subset(chosen)
    lo, hi = out.bounds()
    out.points = (out.points + rng.normal(scale=noise * np.linalg.norm(hi - lo), size=out.points.shape)).astype(
        np.float32
    )
    return out


def make_test_set(
    normal_scans: Sequence[Scan],
    out_dir: str | os.PathLike[str],
    *,
    layout: str = "real3d",
    category: str = "part",
    per_kind: int = 2,
    n_good: int | None = None,
    kinds: Sequence[DefectKind | str] = tuple(DefectKind),
    seed: int = 0,
    size: float = DEFAULT_SIZE,
    depth: float = DEFAULT_DEPTH,
) -> Path:
    """Write a data set (train = the normal scans, test = resampled copies, some with defects).

    Parameters
    ----------
    normal_scans:
        Normal scans of one part category.
    out_dir:
        Data-set root; created if missing.
    layout:
        ``"real3d"`` (``<category>/train``, ``test``, ``gt``) or ``"folder"`` (``train/``,
        ``test/good/`` and ``test/<defect>/`` with the labels inside each PCD).
    per_kind:
        Anomalous test samples per defect kind.
    n_good:
        Normal test samples (default: as many as the anomalous ones).

    Returns
    -------
    Path
        The root written (``out_dir``).

    Raises
    ------
    ConfigError
        If the layout is unknown or there is no scan.
    """
    from casl_core.datasets.write import write_folder_sample, write_real3d_sample, write_train_scan

    if layout not in ("real3d", "folder"):
        raise ConfigError(f"make_test_set: layout must be 'real3d' or 'folder', got {layout!r}")
    if not normal_scans:
        raise ConfigError("make_test_set: no normal scan given")
    root = Path(out_dir)
    rng = np.random.default_rng(seed)
    for i, scan in enumerate(normal_scans):
        write_train_scan(root, layout, category, i, scan)
    defects: list[DefectKind | None] = [DefectKind(k) for k in kinds for _ in range(per_kind)]
    plan = [None] * (len(defects) if n_good is None else n_good) + defects
    for number, kind in enumerate(plan):
        base = jittered_copy(normal_scans[int(rng.integers(len(normal_scans)))], rng)
        if kind is None:
            sample = replace(base, labels=np.zeros(len(base), dtype=np.uint8))
        else:
            sample = synthesize_defect(base, kind, rng, size=size, depth=depth)
        defect = "good" if kind is None else kind.value
        if layout == "real3d":
            write_real3d_sample(root, category, number, defect, sample)
        else:
            write_folder_sample(root, number, defect, sample)
    return root
