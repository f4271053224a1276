"""Where the viewport's cameras look: projection geometry for picking, the view under a pixel,
turning a camera to face a point, and the viewport's camera commands (:class:`ViewportCamera`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from casl_core.scan import Scan
from casl_gui.picking import ViewGeometry, project


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


def reset_camera(renderers) -> None:
    """Look at the whole part down the z axis (y up), as a newly shown scan is seen, in every (linked) view."""
    camera = renderers[0].GetActiveCamera()
    camera.SetFocalPoint(0.0, 0.0, 0.0)
    camera.SetPosition(0.0, 0.0, 1.0)
    camera.SetViewUp(0.0, 1.0, 0.0)
    for ren in renderers:
        ren.ResetCamera()


def _narrowest_half_angle(renderers) -> float:
    """Half the smaller of the vertical and horizontal view angles over the views, in radians."""
    camera = renderers[0].GetActiveCamera()
    half = math.radians(camera.GetViewAngle()) / 2.0
    aspect = min(ren.GetTiledAspectRatio() for ren in renderers)
    return min(half, math.atan(math.tan(half) * aspect)) if aspect > 0 else half


def face_region(renderers, scan: Scan, index: int, margin: float = 1.08) -> bool:
    """Face point ``index`` (a region's centre) from outside the part, centred, as close as the
    whole part stays in view: the camera stands just outside the cone that holds the sphere
    around the point reaching the part's farthest point.

    Returns False (camera unchanged) when no direction exists.
    """
    point = scan.points[index].astype(np.float64)
    reach = float(np.sqrt(((scan.points.astype(np.float64) - point) ** 2).sum(axis=1).max()))
    if reach == 0:
        return face_point(renderers, scan, index, None)
    distance = margin * reach / math.sin(_narrowest_half_angle(renderers))
    return face_point(renderers, scan, index, distance)


class CameraPose(NamedTuple):
    """Where a camera stands: its position, focal point and up direction (world coordinates)."""

    position: tuple[float, float, float]
    focal_point: tuple[float, float, float]
    view_up: tuple[float, float, float]


def camera_pose(renderers) -> CameraPose:
    """The pose of the (linked) camera of ``renderers``."""
    camera = renderers[0].GetActiveCamera()
    return CameraPose(camera.GetPosition(), camera.GetFocalPoint(), camera.GetViewUp())


def set_camera_pose(renderers, pose: CameraPose) -> None:
    """Put the (linked) camera at ``pose``."""
    camera = renderers[0].GetActiveCamera()
    camera.SetPosition(*pose.position)
    camera.SetFocalPoint(*pose.focal_point)
    camera.SetViewUp(*pose.view_up)
    for ren in renderers:
        ren.ResetCameraClippingRange()


def fill_view(plotter, points: np.ndarray, share: float = 0.8, max_points: int = 20_000) -> None:
    """Move the (linked) camera along its line of sight until ``points`` fill ``share`` of the
    tighter side of the first view around its centre (the focal point stays in the middle).
    """
    pts = points if len(points) <= max_points else points[:: len(points) // max_points + 1]
    for _ in range(2):  # perspective: a second step corrects the first
        view = view_geometry(plotter, 0)
        xy, depth = project(pts, view)
        if (depth <= 0).any():
            return
        centre = np.asarray(view.origin) + np.asarray(view.size) / 2.0
        reach = np.abs(xy - centre).max(axis=0)
        if not (reach > 0).all():
            return
        factor = float(min(share * view.size[0] / 2.0 / reach[0], share * view.size[1] / 2.0 / reach[1]))
        camera = plotter.renderers[0].GetActiveCamera()
        camera.Dolly(min(max(factor, 0.2), 20.0))
        for ren in plotter.renderers:
            ren.ResetCameraClippingRange()


class ViewportCamera:
    """Camera moves of the viewport; mixed into :class:`~casl_gui.viewport.Viewport`, which
    owns the plotter (``_require``, ``_require_point``) and the shown scan.
    """

    _scan: Scan | None

    def reset_view(self) -> None:
        """Frame the whole shown part from the default direction (looking down the z axis)."""
        plotter = self._require()
        if self._scan is not None:
            reset_camera(plotter.renderers)
            fill_view(plotter, self._scan.points, share=0.7)
            plotter.render()

    def fly_to_region(self, index: int) -> None:
        """Face point ``index`` (a region's centre) from outside, as close as keeps the whole part in view.

        Raises
        ------
        ConfigError
            If no scan is shown or the index is out of range.
        """
        plotter = self._require_point(index)
        if face_region(plotter.renderers, self._scan, index):
            fill_view(plotter, self._scan.points, share=0.85)
            plotter.render()

    def fly_to(self, index: int, distance: float | None = None) -> None:
        """Turn the camera to face point ``index`` from outside the part.

        The viewing direction is the point's normal turned away from the scan's centre (or
        the line from the centre when the scan has no normals); the camera stays as far
        from its focal point as it was unless ``distance`` is given.

        Raises
        ------
        ConfigError
            If no scan is shown or the index is out of range.
        """
        plotter = self._require_point(index)
        if face_point(plotter.renderers, self._scan, index, distance):
            plotter.render()

    def camera(self) -> CameraPose:
        """Where the (linked) camera stands, to put it back with :meth:`set_camera`."""
        return camera_pose(self._require().renderers)

    def set_camera(self, pose: CameraPose) -> None:
        """Put the camera back where :meth:`camera` found it, and render."""
        plotter = self._require()
        set_camera_pose(plotter.renderers, pose)
        plotter.render()
