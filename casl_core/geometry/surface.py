"""Distances to a reference surface: oriented normals, signed point-to-plane and point-to-triangle.

A reference is either a point cloud with normals (a good scan) or a triangle mesh (a CAD
model). The signed distance of a point is positive outside the reference (material
added) and negative inside (material missing):

- to a cloud: the mean over the ``k`` nearest reference points ``q`` of ``(p - q) . n_q``;
- to a mesh: the exact Euclidean distance to the closest triangle, signed by the side of
  that triangle's plane the point lies on.

Normals of a scan reference are estimated by local PCA and oriented consistently by
propagation over a minimum spanning tree of the neighbour graph (the classic approach of
Hoppe et al.), starting from the point farthest from the centroid, whose outward normal
points away from it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order, minimum_spanning_tree
from scipy.spatial import cKDTree

from casl_core.errors import ConfigError

#: Points the normal orientation is propagated over; larger clouds get the orientation of
#: their nearest oriented point.
ORIENT_POINTS = 20000


def pca_normals(points: np.ndarray, k: int = 16, threads: int = 1) -> np.ndarray:
    """Unoriented unit normals by local PCA over ``k`` neighbours (small_gicp, in parallel)."""
    import small_gicp

    pts = np.ascontiguousarray(points, dtype=np.float64)
    cloud = small_gicp.PointCloud(pts)
    tree = small_gicp.KdTree(cloud, num_threads=threads)
    small_gicp.estimate_normals(cloud, tree, num_neighbors=min(k, len(pts)), num_threads=threads)
    normals = np.asarray(cloud.normals())[:, :3].copy()
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    bad = length[:, 0] < 1e-9
    normals[bad] = (0.0, 0.0, 1.0)
    normals[~bad] /= length[~bad]
    return normals


def orient_normals(points: np.ndarray, normals: np.ndarray, k: int = 10, seed: int = 0) -> np.ndarray:
    """Flip normals so neighbouring normals agree and the outermost point's faces outward.

    Parameters
    ----------
    points, normals:
        ``(N, 3)`` coordinates and unit normals (any signs).
    k:
        Neighbours linked in the graph.

    Returns
    -------
    numpy.ndarray
        ``(N, 3)`` float64 normals, each equal to the input or its negative.
    """
    pts = np.asarray(points, dtype=np.float64)
    nrm = np.asarray(normals, dtype=np.float64).copy()
    if len(pts) > ORIENT_POINTS:
        pick = np.sort(np.random.default_rng(seed).choice(len(pts), ORIENT_POINTS, replace=False))
        oriented = orient_normals(pts[pick], nrm[pick], k)
        _, near = cKDTree(pts[pick]).query(pts)
        flip = np.einsum("ij,ij->i", nrm, oriented[near]) < 0
        nrm[flip] *= -1
        return nrm
    k = min(k, len(pts) - 1)
    if k < 1:
        return nrm
    _, nb = cKDTree(pts).query(pts, k + 1)
    rows = np.repeat(np.arange(len(pts)), k)
    cols = nb[:, 1:].ravel()
    weight = 1.0 - np.abs(np.einsum("ij,ij->i", nrm[rows], nrm[cols])) + 1e-6
    graph = coo_matrix((weight, (rows, cols)), shape=(len(pts), len(pts))).tocsr()
    tree = minimum_spanning_tree(graph + graph.T)
    centre = pts.mean(axis=0)
    sign = np.zeros(len(pts))
    # each connected piece starts from its point farthest from the centroid
    reach = np.linalg.norm(pts - centre, axis=1)
    for root in np.argsort(-reach):
        if sign[root] != 0:
            continue
        order, parent = breadth_first_order(tree, int(root), directed=False)
        sign[root] = 1.0 if nrm[root] @ (pts[root] - centre) >= 0 else -1.0
        agree = np.sign(np.einsum("ij,ij->i", nrm[order[1:]], nrm[parent[order[1:]]]))
        agree[agree == 0] = 1.0
        for node, a in zip(order[1:].tolist(), agree.tolist()):
            sign[node] = sign[parent[node]] * a
    return nrm * sign[:, None]


def signed_plane_distance(
    points: np.ndarray, ref_points: np.ndarray, ref_normals: np.ndarray, tree: cKDTree | None = None, k: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """Signed point-to-plane distance to a cloud with oriented normals.

    Returns
    -------
    (signed, nearest)
        ``(N,)`` mean of ``(p - q) . n_q`` over the ``k`` nearest reference points, and
        ``(N,)`` the Euclidean distance to the nearest reference point.
    """
    tree = cKDTree(ref_points) if tree is None else tree
    k = min(k, len(ref_points))
    dist, idx = tree.query(points, k, workers=-1)
    if k == 1:
        dist, idx = dist[:, None], idx[:, None]
    offsets = points[:, None, :] - ref_points[idx]
    signed = np.einsum("nkj,nkj->nk", offsets, ref_normals[idx]).mean(axis=1)
    return signed, dist[:, 0]


class TriangleMesh(NamedTuple):
    """Triangles ``(F, 3, 3)`` with unit outward normals ``(F, 3)``."""

    triangles: np.ndarray
    normals: np.ndarray


def triangle_mesh(vertices: np.ndarray, faces: np.ndarray) -> TriangleMesh:
    """Triangles of a mesh with face normals, flipped outward when the mesh encloses negative volume.

    Raises
    ------
    ConfigError
        If no triangle has a non-zero area.
    """
    tri = np.asarray(vertices, dtype=np.float64)[np.asarray(faces)]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area2 = np.linalg.norm(cross, axis=1)
    keep = area2 > 1e-12 * max(float(area2.max(initial=0.0)), 1e-300)
    if not keep.any():
        raise ConfigError("the mesh has no triangle of non-zero area")
    tri, cross, area2 = tri[keep], cross[keep], area2[keep]
    normals = cross / area2[:, None]
    centre = tri.reshape(-1, 3).mean(axis=0)
    volume = np.einsum("ij,ij->i", tri[:, 0] - centre, cross).sum()
    if volume < 0:
        normals = -normals
    return TriangleMesh(tri, normals)


def closest_on_triangles(points: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """The closest point of each triangle ``tri[i]`` to ``points[i]`` (both ``(N, 3)``/``(N, 3, 3)``).

    Region tests of the point against the triangle's vertices, edges and face
    (Ericson, Real-Time Collision Detection, 5.1.5), vectorised.
    """
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    ab, ac, ap = b - a, c - a, points - a
    d1, d2 = _dot(ab, ap), _dot(ac, ap)
    bp, cp = points - b, points - c
    d3, d4, d5, d6 = _dot(ab, bp), _dot(ac, bp), _dot(ab, cp), _dot(ac, cp)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = va + vb + vc
        v, w = vb / denom, vc / denom
        out = a + ab * v[:, None] + ac * w[:, None]  # inside the face
        t_ab = d1 / (d1 - d3)
        t_ac = d2 / (d2 - d6)
        t_bc = (d4 - d3) / ((d4 - d3) + (d5 - d6))
    # Ericson's order of tests: the first region that holds wins, so apply them last-first
    cases = [
        ((d1 <= 0) & (d2 <= 0), a),
        ((d3 >= 0) & (d4 <= d3), b),
        ((vc <= 0) & (d1 >= 0) & (d3 <= 0), a + ab * t_ab[:, None]),
        ((d6 >= 0) & (d5 <= d6), c),
        ((vb <= 0) & (d2 >= 0) & (d6 <= 0), a + ac * t_ac[:, None]),
        ((va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0), b + (c - b) * t_bc[:, None]),
    ]
    for mask, value in reversed(cases):
        out = np.where(mask[:, None], value, out)
    return out


def _dot(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", u, v)


class MeshIndex(NamedTuple):
    """A mesh with a k-d tree over its triangle centroids, for repeated distance queries."""

    mesh: TriangleMesh
    centroids: cKDTree
    reach: float  # largest distance from a triangle's centroid to its corners


def mesh_index(mesh: TriangleMesh, max_triangles: int = 2_000_000) -> MeshIndex:
    """Index a mesh for :func:`signed_mesh_distance`.

    Triangles much larger than the typical one (long slivers of a CAD model's caps) are
    split in four at their edge midpoints until none reaches more than twice the median
    centroid-to-corner distance (or ``max_triangles`` would be passed). The pieces tile
    each triangle exactly and keep its normal, so distances are unchanged, while the small
    reach lets almost every point be answered from its nearest centroids.
    """
    tris, normals = mesh
    target = 2.0 * float(np.median(_reach(tris)))
    for _ in range(12):
        big = _reach(tris) > target
        if not big.any() or len(tris) + 3 * int(big.sum()) > max_triangles:
            break
        tris, normals = (
            np.concatenate([tris[~big], _split4(tris[big])]),
            np.concatenate([normals[~big], np.repeat(normals[big], 4, axis=0)]),
        )
    centroids = tris.mean(axis=1)
    return MeshIndex(TriangleMesh(tris, normals), cKDTree(centroids), float(_reach(tris).max()))


def _reach(tris: np.ndarray) -> np.ndarray:
    """Each triangle's largest centroid-to-corner distance."""
    return np.linalg.norm(tris - tris.mean(axis=1)[:, None], axis=2).max(axis=1)


def _split4(tris: np.ndarray) -> np.ndarray:
    """Each triangle as four, cut at its edge midpoints (same plane, same area in all)."""
    a, b, c = tris[:, 0], tris[:, 1], tris[:, 2]
    ab, bc, ca = (a + b) / 2, (b + c) / 2, (c + a) / 2
    return np.stack(
        [np.stack(t, axis=1) for t in ((a, ab, ca), (ab, b, bc), (ca, bc, c), (ab, bc, ca))], axis=1
    ).reshape(-1, 3, 3)


def signed_mesh_distance(points: np.ndarray, index: MeshIndex, k: int = 16) -> np.ndarray:
    """Exact signed distance of each point to the closest triangle of a mesh.

    The closest triangle is searched among the ``k`` nearest triangle centroids. A point
    whose answer could be beaten by a triangle farther out (its distance exceeds the last
    centroid distance less the largest centroid-to-corner reach) is searched again among
    four times as many centroids, all such points at once, until none is unsure or every
    triangle was tried; so the result equals a search over all triangles.
    """
    pts = np.asarray(points, dtype=np.float64)
    tris, normals = index.mesh
    n_tris = len(tris)
    k = min(k, n_tris)
    best = np.full(len(pts), np.inf)
    face = np.zeros(len(pts), dtype=np.int64)
    todo = np.arange(len(pts))
    while len(todo):
        cdist, cidx = index.centroids.query(pts[todo], k, workers=-1)
        if k == 1:
            cdist, cidx = cdist[:, None], cidx[:, None]
        d, f = _best_of(pts[todo], tris, cidx)
        better = d < best[todo]
        best[todo[better]], face[todo[better]] = d[better], f[better]
        if k >= n_tris:
            break
        todo = todo[best[todo] > cdist[:, -1] - index.reach]
        k = min(4 * k, n_tris)
    closest = closest_on_triangles(pts, tris[face])
    side = np.einsum("ij,ij->i", pts - closest, normals[face])
    return np.where(side < 0, -best, best)


#: Point-triangle pairs measured at once (bounds the memory of :func:`_best_of` to ~0.5 GB).
_PAIRS_PER_CHUNK = 2_000_000


def _best_of(pts: np.ndarray, tris: np.ndarray, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance to the closest of the candidate triangles ``cand`` ``(N, k)`` and its index."""
    n, k = cand.shape
    dist_out = np.empty(n)
    face_out = np.empty(n, dtype=np.int64)
    step = max(1, _PAIRS_PER_CHUNK // max(k, 1))
    for start in range(0, n, step):
        part = slice(start, min(start + step, n))
        c = cand[part]
        rep = np.repeat(pts[part], k, axis=0)
        closest = closest_on_triangles(rep, tris[c.ravel()])
        dist = np.linalg.norm(rep - closest, axis=1).reshape(len(c), k)
        pick = dist.argmin(axis=1)
        rows = np.arange(len(c))
        dist_out[part], face_out[part] = dist[rows, pick], c[rows, pick]
    return dist_out, face_out
