"""The rows of the region and annotation tables as texts, from the inspection state (no Qt).

The regions dock shows these rows and the report prints them, so a report is built from the
state, never read back from a table widget.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from casl_core.annotations import AnnotationSet
from casl_core.inspection.regions import Region

REGION_COLUMNS = ("#", "Points", "Max score", "Mean score", "Centre (x, y, z)")
ANNOTATION_COLUMNS = ("#", "Label", "Points", "Selection", "Note", "Created")


def region_rows(regions: Sequence[Region], offset: Sequence[float] = (0.0, 0.0, 0.0)) -> list[list[str]]:
    """One row per region: number, size, max and mean score, centre in file coordinates (``offset`` added)."""
    shift = np.asarray(offset, dtype=np.float64)
    return [
        [
            str(row + 1),
            str(region.size),
            f"{region.max_score:.4g}",
            f"{region.mean_score:.4g}",
            ", ".join(f"{c:.4g}" for c in np.asarray(region.centroid) + shift),
        ]
        for row, region in enumerate(regions)
    ]


def annotation_rows(annotations: AnnotationSet | None) -> list[list[str]]:
    """One row per annotation: id, label, size, how it was selected, note, when it was made."""
    anns = () if annotations is None else annotations.annotations
    return [[str(a.id), a.label.text, str(a.size), a.selection, a.note, a.created] for a in anns]
