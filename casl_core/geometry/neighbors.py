"""k-nearest-neighbour search on the CPU (scipy's cKDTree, all cores).

The neighbour lists always include the query point itself when it belongs to the searched
set (at distance 0), so "k neighbours" means the point and its ``k - 1`` nearest others.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy.spatial import cKDTree

#: Bytes of working memory allowed per chunk of points, so that a large cloud at a large
#: k never holds all its neighbour lists and their moments at once.
CHUNK_BYTES = 64 * 2**20

#: Bytes a single (point, neighbour) pair costs in the moment computation (index,
#: distance, float64 coordinates and products, running sums, temporaries).
BYTES_PER_NEIGHBOUR = 200


class KnnIndex:
    """A k-d tree over a fixed set of points, queried chunk by chunk.

    Parameters
    ----------
    points:
        ``(M, 3)`` float64 coordinates to search among.
    weights:
        Optional ``(M,)`` int64 multiplicities: each indexed position stands for that many
        coincident points (see :mod:`casl_core.geometry.degenerate`); ``None`` means 1 each.
    """

    def __init__(self, points: np.ndarray, weights: np.ndarray | None = None) -> None:
        self.points = points
        self.weights = weights
        #: Number of points the index stands for (``M`` without weights).
        self.total = len(points) if weights is None else int(weights.sum())
        self._tree = cKDTree(points, leafsize=32, balanced_tree=False, compact_nodes=True)

    def __len__(self) -> int:
        return len(self.points)

    def query(self, queries: np.ndarray, k: int, workers: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """The ``min(k, M)`` nearest indexed points of each query, nearest first.

        ``workers`` is passed to scipy (``-1``: all cores); the curvature pass runs one
        query per thread and keeps the default of 1.

        Returns
        -------
        tuple
            ``(distances, indices)``, float64 and int64 arrays of shape ``(Q, min(k, M))``.
        """
        k = min(int(k), len(self.points))
        dist, idx = self._tree.query(queries, k=k, workers=workers)
        if k == 1:
            dist, idx = dist[:, None], idx[:, None]
        return dist, idx.astype(np.int64, copy=False)


def chunk_rows(n: int, k: int, budget: int = CHUNK_BYTES) -> Iterator[slice]:
    """Slices of ``range(n)`` sized so that ``rows * k`` neighbour pairs fit ``budget``."""
    rows = max(4096, budget // (max(k, 1) * BYTES_PER_NEIGHBOUR))
    for start in range(0, n, rows):
        yield slice(start, min(n, start + rows))


def spatial_order(points: np.ndarray) -> np.ndarray:
    """A permutation of ``points`` that keeps nearby points close in memory (k-d tree leaves).

    Querying and gathering in this order is several times faster than in a shuffled order.
    """
    return cKDTree(points, leafsize=16, balanced_tree=False, compact_nodes=False).indices
