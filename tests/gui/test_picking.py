"""Click-to-point geometry, checked against VTK's own world-to-display transform."""

from __future__ import annotations

import math

import numpy as np
import pytest
import pyvista as pv

from casl_gui.picking import ViewGeometry, pick_point, project

pytestmark = pytest.mark.gui


def _matrix(m) -> np.ndarray:
    return np.array([[m.GetElement(i, j) for j in range(4)] for i in range(4)])


def _geometry(plotter: pv.Plotter) -> ViewGeometry:
    ren = plotter.renderer
    cam = ren.GetActiveCamera()
    width, height = plotter.window_size
    pixel = 2.0 * math.tan(math.radians(cam.GetViewAngle()) / 2.0) / height
    clip = _matrix(cam.GetCompositeProjectionTransformMatrix(ren.GetTiledAspectRatio(), -1, 1))
    return ViewGeometry(clip, _matrix(cam.GetViewTransformMatrix()), (0.0, 0.0), (width, height), pixel, False)


@pytest.fixture
def plotter():
    pl = pv.Plotter(off_screen=True, window_size=(640, 480))
    yield pl
    pl.close()


def test_projection_matches_vtk_world_to_display(plotter):
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(200, 3))
    plotter.add_points(pts)
    plotter.camera.azimuth = 30
    plotter.camera.elevation = 20
    plotter.render()
    xy, depth = project(pts, _geometry(plotter))
    ren = plotter.renderer
    expected = []
    for p in pts:
        ren.SetWorldPoint(*p, 1.0)
        ren.WorldToDisplay()
        expected.append(ren.GetDisplayPoint()[:2])
    np.testing.assert_allclose(xy, np.array(expected), atol=1e-3)
    distance = np.linalg.norm(pts - np.array(plotter.camera.position), axis=1)
    assert np.all(depth <= distance + 1e-5) and np.all(depth > 0)


def test_a_click_picks_the_front_point_not_the_one_behind_it(plotter):
    front = np.array([[0.0, 0.0, 0.0], [0.05, 0.0, 0.0]])
    cam_dir = np.array([0.0, 0.0, 1.0])
    behind = front[0] - 0.5 * cam_dir + np.array([0.001, 0.0, 0.0])  # nearer the click ray
    pts = np.vstack([front, behind, [[1.0, 1.0, 0.0], [-1.0, -1.0, 0.0]]])
    plotter.add_points(pts)
    plotter.view_xy()
    plotter.render()
    view = _geometry(plotter)
    xy, _ = project(pts, view)
    click = (float(xy[2, 0]), float(xy[2, 1]))  # exactly over the back point
    assert np.hypot(*(xy[0] - xy[2])) < 2.0, "the back point must be drawn under the front one"
    assert pick_point(pts, view, click, radius_px=4.0) == 0


def test_a_click_far_from_every_point_picks_nothing(plotter):
    pts = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    plotter.add_points(pts)
    plotter.render()
    view = _geometry(plotter)
    xy, _ = project(pts, view)
    far = (float(xy[:, 0].max() + 50), float(xy[:, 1].max() + 50))
    assert pick_point(pts, view, far, radius_px=4.0) is None
    assert pick_point(np.zeros((0, 3)), view, far, radius_px=4.0) is None
