"""Augmentations of fine-tuning samples: scale and sampling density.

Pose needs no augmentation here: every pseudo-anomaly (Norm-AS and missing patch alike)
starts with a random rotation about z, y and x, so the model already sees each training scan
in arbitrary orientations. Uniform point dropout is ``FinetuneOptions.point_dropout``. This
module adds the two other variations a second scan of the same part shows:

- :func:`scale_jitter`: a small anisotropic stretch of the part (the part-to-part variation
  of production, and a scanner's calibration), applied before the sample is made, and an
  isotropic scale of the normalised sample (the unit-sphere normalisation of a test scan
  depends on its extent, so the same surface meets the fixed voxel grid at a slightly
  different scale);
- :func:`density_gradient`: a share of the points removed with a probability that grows
  linearly along a random direction, so one side of the part is sparser than the other, as
  in a scan taken from one side (uniform dropout thins every region alike).

Both draw from the sample's generator only when they are on, so at 0 the recipe draws
exactly the random numbers it drew before.
"""

from __future__ import annotations

import numpy as np

#: The anisotropic stretch is this share of the isotropic range (``scale_jitter`` 0.1: per-axis
#: factors within +-2 %, the isotropic factor within +-10 %).
ANISOTROPIC_SHARE = 0.2


def stretch(
    points: np.ndarray, normals: np.ndarray, jitter: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, float]:
    """Anisotropic stretch of a scan and the isotropic factor for its normalised sample.

    Draws, in this order: three per-axis factors uniform in ``1 +- ANISOTROPIC_SHARE * jitter``,
    then one isotropic factor uniform in ``1 +- jitter``. Normals follow the stretch (the
    inverse factors, renormalised), as surface normals do under a linear map.

    Returns
    -------
    (points, normals, isotropic)
        The stretched ``(N, 3)`` points and unit normals (float32), and the factor by which
        the caller scales the normalised sample.
    """
    axes = rng.uniform(1.0 - ANISOTROPIC_SHARE * jitter, 1.0 + ANISOTROPIC_SHARE * jitter, size=3)
    isotropic = float(rng.uniform(1.0 - jitter, 1.0 + jitter))
    stretched = (np.asarray(points, dtype=np.float64) * axes).astype(np.float32)
    nrm = np.asarray(normals, dtype=np.float64) / axes
    length = np.linalg.norm(nrm, axis=1, keepdims=True)
    nrm = np.divide(nrm, length, out=np.zeros_like(nrm), where=length > 0)
    return stretched, nrm.astype(np.float32), isotropic


def density_gradient(points: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask of the points kept under a linear density gradient.

    Draws a direction (three standard normals), then one uniform per point. A point's drop
    probability is ``strength * t`` where ``t`` in ``[0, 1]`` is its position along the
    direction (0 at the part's lowest point, 1 at its highest): the far side keeps
    ``1 - strength`` of its points, the near side all of them.
    """
    direction = rng.standard_normal(3)
    direction /= max(float(np.linalg.norm(direction)), 1e-12)
    height = np.asarray(points, dtype=np.float64) @ direction
    span = float(height.max() - height.min())
    t = (height - height.min()) / span if span > 0 else np.zeros(len(points))
    return rng.random(len(points)) >= strength * t
