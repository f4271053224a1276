"""Which point a click lands on: pure numpy, given the camera's matrices.

A person clicking a point cloud means the point drawn under the cursor, the one nearest
the camera there. VTK's ``vtkPointPicker`` takes the point nearest the pick ray, which on
a dense closed surface can be one on the far side; and the hardware picker returns NaN
under Mesa. So the viewport projects the points itself and calls :func:`pick_point`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from casl_core.errors import ConfigError


class ViewGeometry(NamedTuple):
    """How world points reach the screen in one renderer.

    Attributes
    ----------
    world_to_clip:
        ``(4, 4)`` matrix from world to clip coordinates (the camera's composite
        projection transform for the renderer's aspect ratio).
    world_to_eye:
        ``(4, 4)`` view matrix (world to camera coordinates; the camera looks down -z).
    origin:
        ``(x, y)`` display pixel of the renderer's lower-left corner.
    size:
        ``(width, height)`` of the renderer in display pixels.
    pixel_world:
        World length of one pixel at unit distance from the camera (perspective), or
        at any distance (parallel projection, then ``parallel`` is True).
    parallel:
        Whether the camera uses parallel projection.
    """

    world_to_clip: np.ndarray
    world_to_eye: np.ndarray
    origin: tuple[float, float]
    size: tuple[float, float]
    pixel_world: float
    parallel: bool


def project(points: np.ndarray, view: ViewGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Display pixel positions ``(N, 2)`` and camera distances ``(N,)`` of world points.

    Computed in float32 (a tenth of a pixel is plenty for picking); points behind the
    camera get a distance <= 0.

    Raises
    ------
    ConfigError
        If ``points`` is not ``(N, 3)``.
    """
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ConfigError(f"points to project must have shape (N, 3), got {pts.shape}")
    pts = pts.astype(np.float32, copy=False)
    m = np.asarray(view.world_to_clip, dtype=np.float64)
    rows = m[[0, 1, 3], :]
    xyw = pts @ rows[:, :3].T.astype(np.float32)
    xyw += rows[:, 3].astype(np.float32)
    w = xyw[:, 2]
    w[np.abs(w) < 1e-12] = 1e-12
    xy = xyw[:, :2] / w[:, None]
    xy[:, 0] = view.origin[0] + (xy[:, 0] + 1.0) * (0.5 * view.size[0])
    xy[:, 1] = view.origin[1] + (xy[:, 1] + 1.0) * (0.5 * view.size[1])
    e = np.asarray(view.world_to_eye, dtype=np.float64)
    depth = -(pts @ e[2, :3].astype(np.float32) + np.float32(e[2, 3]))
    return xy, depth


def pick_point(points: np.ndarray, view: ViewGeometry, click: tuple[float, float], radius_px: float) -> int | None:
    """The index of the point a click at display pixel ``click`` lands on, or None.

    Candidates are the points in front of the camera drawn within ``radius_px`` of the
    click. The front-most candidate sets the visible surface; among the candidates no
    deeper than that surface plus the world size of ``radius_px`` there, the one nearest
    the click on screen wins.
    """
    if len(points) == 0:
        return None
    xy, depth = project(points, view)
    d2 = (xy[:, 0] - click[0]) ** 2 + (xy[:, 1] - click[1]) ** 2
    near = np.flatnonzero((d2 <= radius_px * radius_px) & (depth > 0))
    if len(near) == 0:
        return None
    front = depth[near].min()
    per_pixel = view.pixel_world if view.parallel else view.pixel_world * front
    slab = near[depth[near] <= front + max(radius_px, 1.0) * per_pixel]
    return int(slab[np.argmin(d2[slab])])


def select_rectangle(
    points: np.ndarray, view: ViewGeometry, rect: tuple[float, float, float, float], cell_px: float
) -> np.ndarray:
    """Indices of the points drawn inside a display rectangle and not hidden behind others.

    ``rect`` is ``(x0, y0, x1, y1)`` in display pixels (any corner order). The rectangle is
    cut into cells of ``cell_px`` pixels (the drawn point size); in each cell the front-most
    point sets the visible surface, and points deeper than it by more than twice the world
    size of a cell there are hidden. Returns sorted int64 indices.
    """
    if len(points) == 0:
        return np.zeros(0, dtype=np.int64)
    x0, x1 = sorted((rect[0], rect[2]))
    y0, y1 = sorted((rect[1], rect[3]))
    xy, depth = project(points, view)
    inside = np.flatnonzero((xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1) & (depth > 0))
    if len(inside) == 0:
        return inside.astype(np.int64)
    cell = max(float(cell_px), 1.0)
    cx = ((xy[inside, 0] - x0) // cell).astype(np.int64)
    cy = ((xy[inside, 1] - y0) // cell).astype(np.int64)
    key = cx * (int((y1 - y0) // cell) + 2) + cy
    d = depth[inside]
    front = np.full(int(key.max()) + 1, np.inf, dtype=np.float32)
    np.minimum.at(front, key, d)
    per_pixel = view.pixel_world if view.parallel else view.pixel_world * front[key]
    visible = d <= front[key] + 2.0 * cell * per_pixel
    return np.sort(inside[visible]).astype(np.int64)


def select_sphere(points: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    """Sorted int64 indices of the points within ``radius`` of ``centre``.

    Raises
    ------
    ConfigError
        If ``radius`` is not a positive finite number or ``centre`` is not three numbers.
    """
    c = np.asarray(centre, dtype=np.float64).ravel()
    if c.shape != (3,):
        raise ConfigError(f"a sphere centre needs three coordinates, got shape {np.shape(centre)}")
    if not (np.isfinite(radius) and radius > 0):
        raise ConfigError(f"sphere radius must be a positive number, got {radius}")
    diff = np.asarray(points, dtype=np.float32) - c.astype(np.float32)
    return np.flatnonzero(np.einsum("ij,ij->i", diff, diff) <= np.float32(radius) ** 2).astype(np.int64)
