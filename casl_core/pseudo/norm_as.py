"""Norm-AS pseudo-anomalies: a normal scan with one patch pushed along its surface normal.

The recipe of the CASL base code, used to fine-tune the model on normal scans only:

1. rotate the cloud by random angles about z, then y, then x (each uniform in [0, 2 pi));
2. normalise it (:func:`casl_core.nn.normalize_points`: unit sphere around the centroid);
3. split it into 64 patches: for each patch in turn, a random seed among the points not yet
   assigned, and the patch takes the seed's nearest unassigned points (the patch sizes are
   ``N // 64`` or one more, so the 64 patches cover every point exactly once);
4. pick one of the first 32 patches uniformly;
5. move each point ``p`` of that patch to ``p + n * r * D * s`` where ``n`` is the point's unit
   normal, ``d`` its distance to the patch centre (the mean of the patch's points),
   ``r = 1 - (d - min d) / (max d - min d)`` (1 at the centre, 0 at the rim),
   ``D ~ U(0.06, 0.12)`` (in normalised units) and ``s = +1 or -1`` (bump or dent) drawn
   once per sample;
6. label the patch's points anomalous (1) and every other point normal (0).

Normals: the base code takes the component-wise absolute value of the normal. Here the
signed normal is used (:data:`NORMAL_MODE`), so the displacement really is along the
surface; because estimated normals have no consistent sign, the patch's normals are first
oriented to agree with the normal of the point nearest the patch centre, so the whole
patch moves to one side of the surface.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from casl_core.errors import ConfigError

#: How the displacement direction is taken from the normal (see the module docstring).
NORMAL_MODE = "signed"
#: Patches the cloud is split into.
N_PATCHES = 64
#: The displaced patch is one of the first this many patches.
CANDIDATE_PATCHES = 32
#: Range of the displacement depth ``D`` in normalised units.
DEPTH_RANGE = (0.06, 0.12)


@dataclass(frozen=True)
class NormAsSample:
    """One pseudo-anomalous sample.

    Attributes
    ----------
    points:
        ``(N, 3)`` float32: rotated, normalised, then displaced coordinates, in the order
        of the input points.
    normals:
        ``(N, 3)`` float32 unit normals after the rotation (the patch's oriented as used).
    labels:
        ``(N,)`` uint8, 1 for the displaced patch's points.
    patch_ids:
        ``(N,)`` int32: the patch (0..63) of every point, in the order patches were grown.
    seeds:
        ``(64,)`` int64: the seed point of each patch.
    patch:
        Index of the displaced patch (``< 32``).
    depth:
        ``D``, the displacement at the patch centre.
    sign:
        ``+1`` (outwards along the normal) or ``-1``.
    rotation:
        ``(3, 3)`` float64 rotation applied before normalising (``p_rot = R @ p``).
    displacement:
        ``(N, 3)`` float32 vectors added to the normalised points (zero off the patch).
    """

    points: np.ndarray
    normals: np.ndarray
    labels: np.ndarray
    patch_ids: np.ndarray
    seeds: np.ndarray
    patch: int
    depth: float
    sign: int
    rotation: np.ndarray
    displacement: np.ndarray


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """``Rx @ Ry @ Rz`` for three angles uniform in [0, 2 pi): rotate about z, then y, then x."""
    az, ay, ax = rng.uniform(0.0, 2.0 * np.pi, size=3)
    cz, sz, cy, sy, cx, sx = np.cos(az), np.sin(az), np.cos(ay), np.sin(ay), np.cos(ax), np.sin(ax)
    rz = np.array([[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]])
    ry = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]])
    return rx @ ry @ rz


def split_patches(
    points: np.ndarray, rng: np.random.Generator, n_patches: int = N_PATCHES
) -> tuple[np.ndarray, np.ndarray]:
    """Split a cloud into ``n_patches`` patches grown from random seeds.

    Patch ``i`` takes a random seed among the unassigned points and the ``size_i - 1``
    unassigned points nearest to it, where the sizes are ``len(points) // n_patches`` plus
    one for the first ``len(points) % n_patches`` patches.

    Returns
    -------
    (patch_ids, seeds)
        ``(N,)`` int32 patch index of every point and ``(n_patches,)`` int64 seed indices.

    Raises
    ------
    ConfigError
        If the cloud has fewer points than patches.
    """
    pts = np.asarray(points, dtype=np.float64)
    n = len(pts)
    if n < n_patches:
        raise ConfigError(f"Norm-AS needs at least {n_patches} points to make {n_patches} patches, got {n}")
    sizes = np.full(n_patches, n // n_patches)
    sizes[: n % n_patches] += 1
    patch_ids = np.full(n, -1, dtype=np.int32)
    remaining = np.arange(n)
    seeds = np.empty(n_patches, dtype=np.int64)
    for i, size in enumerate(sizes):
        seed = remaining[rng.integers(len(remaining))]
        seeds[i] = seed
        dist = np.einsum("ij,ij->i", pts[remaining] - pts[seed], pts[remaining] - pts[seed])
        dist[remaining == seed] = -1.0  # the seed always belongs to its own patch
        take = np.argpartition(dist, size - 1)[:size] if size < len(remaining) else np.arange(len(remaining))
        patch_ids[remaining[take]] = i
        keep = np.ones(len(remaining), dtype=bool)
        keep[take] = False
        remaining = remaining[keep]
    return patch_ids, seeds


def displace_patch(
    points: np.ndarray, normals: np.ndarray, members: np.ndarray, depth: float, sign: int
) -> tuple[np.ndarray, np.ndarray]:
    """Displacements ``n * r * depth * sign`` for the ``members`` of one patch.

    Returns
    -------
    (displacement, oriented_normals)
        ``(len(members), 3)`` vectors and the unit normals they follow (oriented to the normal
        of the member nearest the patch centre).
    """
    p = np.asarray(points, dtype=np.float64)[members]
    nrm = np.asarray(normals, dtype=np.float64)[members]
    length = np.linalg.norm(nrm, axis=1, keepdims=True)
    nrm = np.divide(nrm, length, out=np.zeros_like(nrm), where=length > 0)
    d = np.linalg.norm(p - p.mean(axis=0), axis=1)
    span = d.max() - d.min()
    r = 1.0 - (d - d.min()) / span if span > 0 else np.ones_like(d)
    reference = nrm[np.argmin(d)]
    nrm = np.where((nrm @ reference)[:, None] < 0, -nrm, nrm)
    return nrm * (r * depth * sign)[:, None], nrm


def norm_as(
    points: np.ndarray,
    normals: np.ndarray,
    rng: np.random.Generator,
    *,
    rotate: bool = True,
    n_patches: int = N_PATCHES,
    candidates: int = CANDIDATE_PATCHES,
    depth_range: tuple[float, float] = DEPTH_RANGE,
) -> NormAsSample:
    """Make one Norm-AS pseudo-anomalous sample from a normal cloud (see the module docstring).

    Parameters
    ----------
    points, normals:
        ``(N, 3)`` coordinates (any frame and scale) and their normals.
    rng:
        Source of every random choice; the same seed gives the same sample.
    rotate:
        Apply the random rotation (step 1); ``False`` keeps the cloud's orientation.
    n_patches, candidates, depth_range:
        The recipe's constants (64, 32, (0.06, 0.12)).

    Raises
    ------
    ConfigError
        On mismatched shapes, too few points or inconsistent constants.
    """
    from casl_core.nn.preprocess import normalize_points

    pts = np.asarray(points, dtype=np.float64)
    nrm = np.asarray(normals, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or nrm.shape != pts.shape:
        raise ConfigError(f"Norm-AS needs (N, 3) points and normals of the same shape, got {pts.shape} and {nrm.shape}")
    if not 1 <= candidates <= n_patches:
        raise ConfigError(f"candidate patches must be in [1, {n_patches}], got {candidates}")
    if not 0 < depth_range[0] <= depth_range[1]:
        raise ConfigError(f"depth range must satisfy 0 < low <= high, got {depth_range}")
    rotation = random_rotation(rng) if rotate else np.eye(3)
    rotated, _ = normalize_points((pts @ rotation.T).astype(np.float32))
    rotated = np.asarray(rotated, dtype=np.float64)
    nrm = nrm @ rotation.T
    patch_ids, seeds = split_patches(rotated, rng, n_patches)
    patch = int(rng.integers(candidates))
    depth = float(rng.uniform(depth_range[0], depth_range[1]))
    sign = int(rng.choice(np.array([-1, 1])))
    members = np.flatnonzero(patch_ids == patch)
    moved, oriented = displace_patch(rotated, nrm, members, depth, sign)
    displacement = np.zeros_like(rotated)
    displacement[members] = moved
    nrm[members] = oriented
    labels = np.zeros(len(pts), dtype=np.uint8)
    labels[members] = 1
    return NormAsSample(
        points=(rotated + displacement).astype(np.float32),
        normals=nrm.astype(np.float32),
        labels=labels,
        patch_ids=patch_ids,
        seeds=seeds,
        patch=patch,
        depth=depth,
        sign=sign,
        rotation=rotation,
        displacement=displacement.astype(np.float32),
    )
