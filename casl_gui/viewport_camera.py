"""Where the viewport's cameras look: projection geometry for picking, the view under a pixel,
and turning a camera to face a point.
"""

from __future__ import annotations

import math

import numpy as np

from casl_core.scan import Scan
from casl_gui.picking import ViewGeometry


def _matrix(vtk_matrix) -> np.ndarray:
    return np.array([[vtk_matrix.GetElement(i, j) for j in range(4)] for i in range(4)])


def view_geometry(plotter, col: int) -> ViewGeometry:
    """The projection of view ``col`` of a pyvista plotter, for :mod:`casl_gui.picking`."""
    ren = plotter.renderers[col]
    cam = ren.GetActiveCamera()
    width, height = plotter.render_window.GetSize()
    x0, y0, x1, y1 = ren.GetViewport()
    size = ((x1 - x0) * width, (y1 - y0) * height)
    clip = _matrix(cam.GetCompositeProjectionTransformMatrix(ren.GetTiledAspectRatio(), -1, 1))
    if cam.GetParallelProjection():
        pixel = 2.0 * cam.GetParallelScale() / size[1]
    else:
        pixel = 2.0 * math.tan(math.radians(cam.GetViewAngle()) / 2.0) / size[1]
    return ViewGeometry(
        clip,
        _matrix(cam.GetViewTransformMatrix()),
        (x0 * width, y0 * height),
        size,
        pixel,
        bool(cam.GetParallelProjection()),
    )


def view_at(plotter, x: float, y: float) -> int | None:
    """The view holding display pixel ``(x, y)`` (VTK display coordinates), or None."""
    width, height = plotter.render_window.GetSize()
    for col, ren in enumerate(plotter.renderers):
        x0, y0, x1, y1 = ren.GetViewport()
        if x0 * width <= x < x1 * width and y0 * height <= y < y1 * height:
            return col
    return None


def face_point(renderers, scan: Scan, index: int, distance: float | None) -> bool:
    """Turn the (linked) camera to face point ``index`` of ``scan`` from outside the part.

    The viewing direction is the point's normal turned away from the scan's centre (or the
    line from the centre without normals); the camera keeps its distance unless
    ``distance`` is given. Returns False (camera unchanged) when no direction exists.
    """
    point = scan.points[index].astype(np.float64)
    outward = point - scan.points.mean(axis=0)
    direction = outward if scan.normals is None else scan.normals[index].astype(np.float64)
    if np.dot(direction, outward) < 0:
        direction = -direction
    norm = np.linalg.norm(direction)
    if norm == 0:
        return False
    camera = renderers[0].GetActiveCamera()
    distance = camera.GetDistance() if distance is None else float(distance)
    camera.SetFocalPoint(*point)
    camera.SetPosition(*(point + direction / norm * distance))
    camera.OrthogonalizeViewUp()
    for ren in renderers:
        ren.ResetCameraClippingRange()
    return True
