"""Geometry of point clouds: neighbours, voxel moments, closed-form 3x3 eigen-solver,
multi-scale curvature (surface variation) and normals.
"""

from casl_core.geometry.curvature import (
    DEFAULT_FIELDS,
    DEFAULT_SCALES,
    FLAGS_FIELD,
    CurvatureResult,
    add_curvature,
    compute_curvature,
)
from casl_core.geometry.eigen3 import eigvalsh3, smallest_eigenvector3

__all__ = [
    "DEFAULT_FIELDS",
    "DEFAULT_SCALES",
    "FLAGS_FIELD",
    "CurvatureResult",
    "add_curvature",
    "compute_curvature",
    "eigvalsh3",
    "smallest_eigenvector3",
]
