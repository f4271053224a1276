"""Column-wise reductions against NumPy's axis-0 reductions, on a real scan and odd inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from casl_core.columns import column_max, column_mean, column_min
from casl_core.io import read_scan

SCANS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scans" / "common-3d-test-models"


@pytest.mark.shared_scans
def test_column_reductions_equal_numpy_axis_zero_on_a_real_scan():
    points = read_scan(SCANS / "nefertiti.obj").points
    for pts in (points, points.astype(np.float64), points[::-3], np.asfortranarray(points)):
        np.testing.assert_array_equal(column_min(pts), pts.min(axis=0))
        np.testing.assert_array_equal(column_max(pts), pts.max(axis=0))
        assert column_min(pts).dtype == pts.dtype and column_max(pts).dtype == pts.dtype
        np.testing.assert_allclose(column_mean(pts), pts.astype(np.float64).mean(axis=0), rtol=1e-12)


def test_column_reductions_of_integer_and_wide_arrays():
    ijk = np.random.default_rng(0).integers(-5, 9, size=(1000, 4))
    np.testing.assert_array_equal(column_min(ijk), ijk.min(axis=0))
    np.testing.assert_array_equal(column_max(ijk), ijk.max(axis=0))
    assert column_mean(ijk).dtype == np.float64
