"""The region and annotation rows the dock shows and the report prints come from state alone."""

from __future__ import annotations

import numpy as np
import pytest

from casl_core.demo import demo_scan
from casl_core.geometry import add_curvature
from casl_core.inspection.regions import find_regions
from casl_gui.table_rows import REGION_COLUMNS, region_rows


def test_region_rows_match_the_core_regions_in_file_coordinates():
    scan = add_curvature(demo_scan(seed=1))
    values = scan.labels.astype(np.float32)
    found = find_regions(scan.points, values, 0.5, min_points=5)
    assert found.regions
    offset = (100.0, -20.0, 3.0)
    rows = region_rows(found.regions, offset)
    assert len(rows) == len(found.regions) and all(len(r) == len(REGION_COLUMNS) for r in rows)
    for i, (row, region) in enumerate(zip(rows, found.regions)):
        assert row[0] == str(i + 1) and int(row[1]) == region.size
        assert float(row[2]) == pytest.approx(region.max_score, rel=1e-3)
        centre = [float(c) for c in row[4].split(", ")]
        assert centre == pytest.approx(np.asarray(region.centroid) + offset, rel=1e-3)
