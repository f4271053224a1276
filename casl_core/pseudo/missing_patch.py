"""Missing-patch pseudo-anomalies: a normal scan with one patch of points removed.

Norm-AS (:mod:`casl_core.pseudo.norm_as`) only pushes a patch along its normal, so a model
fine-tuned on it never sees a defect that takes geometry away: a hole scores like normal
surface. This second kind of pseudo-anomaly removes a patch instead. Steps 1-4 are Norm-AS's
own, with its helpers and constants:

1. rotate the cloud by random angles about z, then y, then x
   (:func:`~casl_core.pseudo.norm_as.random_rotation`);
2. normalise it to the unit sphere (:func:`casl_core.nn.normalize_points`, applied to the
   rotated points cast to float32, exactly as Norm-AS does);
3. split it into :data:`~casl_core.pseudo.norm_as.N_PATCHES` (64) patches
   (:func:`~casl_core.pseudo.norm_as.split_patches`);
4. pick one of the first :data:`~casl_core.pseudo.norm_as.CANDIDATE_PATCHES` (32) uniformly;
5. remove that patch's points;
6. label anomalous (1) every kept point within ``rim_width`` of the nearest removed point,
   and every other kept point normal (0).

The kept points are not normalised again (Norm-AS does not re-normalise after displacing
either), so they stay in the frame of step 2.

Random numbers are drawn in this order, the same as Norm-AS's first draws: three uniforms
for the rotation, one integer per patch for the patch seeds, one integer for the patch. The
same generator state therefore gives the same rotation, patches and chosen patch as
:func:`~casl_core.pseudo.norm_as.norm_as`.

Rim width: :data:`RIM_WIDTH` is 0.03 normalised units, one voxel of the CASL model
(``CaslConfig.voxel_size``). Points that close to the gap share a voxel, or sit next to one,
with the removed surface, so what the network sees around them (occupancy, and curvature
computed on neighbourhoods the hole cuts open) changes; farther points look like normal
surface. It mirrors the test synthesiser's holes (:mod:`casl_core.anomaly.synth`), where the
ring of points left around the removed disc is the labelled defect.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from casl_core.errors import ConfigError
from casl_core.pseudo.norm_as import (
    CANDIDATE_PATCHES,
    N_PATCHES,
    random_rotation,
    split_patches,
)

#: Kept points within this distance (normalised units) of a removed point are labelled 1.
RIM_WIDTH = 0.03


@dataclass(frozen=True)
class MissingPatchSample:
    """One missing-patch pseudo-anomalous sample.

    Attributes
    ----------
    points:
        ``(M, 3)`` float32 rotated and normalised coordinates of the kept points, in the
        order of the input points (``M = N - size of the removed patch``).
    normals:
        ``(M, 3)`` float32 normals of the kept points after the rotation.
    labels:
        ``(M,)`` uint8, 1 for kept points within the rim width of the removed patch.
    kept:
        ``(M,)`` int64 indices of the kept points into the input.
    patch_ids:
        ``(N,)`` int32: the patch (0..63) of every input point.
    seeds:
        ``(64,)`` int64: the seed point of each patch.
    patch:
        Index of the removed patch (``< 32``).
    rotation:
        ``(3, 3)`` float64 rotation applied before normalising (``p_rot = R @ p``).
    """

    points: np.ndarray
    normals: np.ndarray
    labels: np.ndarray
    kept: np.ndarray
    patch_ids: np.ndarray
    seeds: np.ndarray
    patch: int
    rotation: np.ndarray


def _checked(points: np.ndarray, normals: np.ndarray, rim_width: float) -> tuple[np.ndarray, np.ndarray]:
    """The inputs as float64 arrays, after checking shapes, values and the rim width."""
    pts = np.asarray(points, dtype=np.float64)
    nrm = np.asarray(normals, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or nrm.shape != pts.shape:
        raise ConfigError(
            f"missing patch needs (N, 3) points and normals of the same shape, got {pts.shape} and {nrm.shape}"
        )
    if len(pts) < N_PATCHES:
        raise ConfigError(
            f"missing patch needs at least {N_PATCHES} points to make {N_PATCHES} patches, got {len(pts)}"
        )
    if not (np.isfinite(pts).all() and np.isfinite(nrm).all()):
        raise ConfigError("missing patch needs finite points and normals, got NaN or infinite values")
    if not (np.isfinite(rim_width) and rim_width > 0):
        raise ConfigError(f"missing patch rim width must be a finite number > 0, got {rim_width}")
    return pts, nrm


def rim_labels(kept_points: np.ndarray, removed_points: np.ndarray, rim_width: float) -> np.ndarray:
    """``(M,)`` uint8: 1 where a kept point is within ``rim_width`` of its nearest removed point."""
    if len(removed_points) == 0 or len(kept_points) == 0:
        return np.zeros(len(kept_points), dtype=np.uint8)
    distance, _ = cKDTree(removed_points).query(kept_points, k=1)
    return (distance <= rim_width).astype(np.uint8)


def missing_patch(
    points: np.ndarray, normals: np.ndarray, rng: np.random.Generator, *, rim_width: float = RIM_WIDTH
) -> MissingPatchSample:
    """Make one missing-patch sample from a normal cloud (see the module docstring).

    Parameters
    ----------
    points, normals:
        ``(N, 3)`` finite coordinates (any frame and scale) and their normals, N >= 64.
    rng:
        Source of every random choice, consumed in the order the module docstring gives;
        the same seed gives the same sample.
    rim_width:
        Labelling distance to the removed patch, in normalised units (:data:`RIM_WIDTH`).

    Returns
    -------
    MissingPatchSample
        The kept points, their normals and labels, and the choices made.

    Raises
    ------
    ConfigError
        On mismatched shapes, non-finite values, fewer than 64 points or a rim width <= 0.
    """
    from casl_core.nn.preprocess import normalize_points

    pts, nrm = _checked(points, normals, rim_width)
    rotation = random_rotation(rng)
    rotated, _ = normalize_points((pts @ rotation.T).astype(np.float32))
    rotated = np.asarray(rotated, dtype=np.float64)
    patch_ids, seeds = split_patches(rotated, rng, N_PATCHES)
    patch = int(rng.integers(CANDIDATE_PATCHES))
    removed = patch_ids == patch
    kept = np.flatnonzero(~removed).astype(np.int64)
    labels = rim_labels(rotated[kept], rotated[removed], rim_width)
    return MissingPatchSample(
        points=rotated[kept].astype(np.float32),
        normals=(nrm[kept] @ rotation.T).astype(np.float32),
        labels=labels,
        kept=kept,
        patch_ids=patch_ids,
        seeds=seeds,
        patch=patch,
        rotation=rotation,
    )
