"""Selecting points (rectangle, sphere), marking them, and the sidecar that keeps the marks."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from gui_helpers import colour_mask, wait_loaded
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from casl_core.geometry import add_curvature
from casl_core.io import read_scan
from casl_core.scan import Scan

pytestmark = [pytest.mark.gui, pytest.mark.timeout(120)]

DEFECT = (255, 59, 48)


def _dense_planes() -> tuple[Scan, int]:
    """A dense 60 x 60 grid on z = 0 in front of a wider grid on z = -0.3; returns the scan and the front count."""
    u = np.linspace(0.0, 1.0, 60)
    front = np.stack(np.meshgrid(u, u, indexing="ij"), -1).reshape(-1, 2)
    v = np.linspace(-0.5, 1.5, 90)
    back = np.stack(np.meshgrid(v, v, indexing="ij"), -1).reshape(-1, 2)
    pts = np.concatenate([np.c_[front, np.zeros(len(front))], np.c_[back, np.full(len(back), -0.3)]])
    return Scan(points=pts.astype(np.float32)), len(front)


def _drag(widget, a: QPoint, b: QPoint) -> None:
    QTest.mousePress(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    for t in (0.25, 0.5, 0.75):
        QTest.mouseMove(widget, a + (b - a) * t)
    QTest.mouseRelease(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)


def test_a_rectangle_selects_the_visible_points_under_it_and_not_those_behind(window, qtbot):
    scan, n_front = _dense_planes()
    window.open_scan(add_curvature(scan))
    vp = window.viewport
    widget = vp.interaction_widget()
    inner = vp.widget_rect(np.array([20 * 60 + 20, 20 * 60 + 40, 40 * 60 + 20, 40 * 60 + 40]))
    with qtbot.waitActive(window):
        window.activateWindow()
    widget.setFocus()  # single-key shortcuts go to text fields when they have the focus
    QTest.keyClick(window.windowHandle(), Qt.Key.Key_R)
    assert window.rectangle_action.isChecked() and vp.rectangle_mode
    before = vp.screenshot()
    _drag(widget, inner.topLeft(), inner.bottomRight())
    sel = window.inspection.selection
    assert sel is not None and sel.kind == "rectangle"
    assert sel.indices.max() < n_front, "points of the back plane, hidden by the front one, were selected"
    xy = np.array([[vp.widget_position(int(i)).x(), vp.widget_position(int(i)).y()] for i in range(n_front)])
    inside = np.flatnonzero(
        (xy[:, 0] >= inner.left() + 1)
        & (xy[:, 0] <= inner.right() - 1)
        & (xy[:, 1] >= inner.top() + 1)
        & (xy[:, 1] <= inner.bottom() - 1)
    )
    assert set(inside.tolist()) <= set(sel.indices.tolist())
    assert len(sel.indices) <= len(inside) * 1.25
    # the camera did not turn: apart from the marks, the picture is the same
    after = vp.screenshot()
    changed = np.abs(before.astype(int) - after.astype(int)).sum(axis=2) > 30
    marks = colour_mask(after, (255, 43, 214), 20)
    assert (changed & ~marks).mean() < 0.01
    # a rectangle over the edge of the front plane also takes the back points seen beside it
    edge = vp.widget_rect(np.array([50 * 60 + 50, 50 * 60 + 59, 59 * 60 + 50, 59 * 60 + 59]))
    outside = QPoint(edge.right() + 40, edge.bottom())
    _drag(widget, edge.topLeft(), outside)
    sel = window.inspection.selection.indices
    assert (sel < n_front).any() and (sel >= n_front).any()
    QTest.keyClick(window.windowHandle(), Qt.Key.Key_R)
    assert not vp.rectangle_mode


def test_a_sphere_around_the_pick_selects_the_points_within_the_radius(window, qtbot, scans_dir):
    window.open_paths([scans_dir / "common-3d-test-models" / "fandisk.obj"])
    wait_loaded(qtbot, window, 1)
    scan = window.state.active_scan()
    dock = window.regions_dock
    assert not dock.sphere_button.isEnabled()
    window.state.set_pick(100)
    dock.radius_spin.setValue(0.5)
    QTest.mouseClick(dock.sphere_button, Qt.MouseButton.LeftButton)
    expected = np.flatnonzero(np.linalg.norm(scan.points_f64() - scan.points_f64()[100], axis=1) <= 0.5)
    np.testing.assert_array_equal(window.inspection.selection.indices, expected)
    assert dock.selection_label.text().startswith(f"{len(expected):,} points selected (sphere)")


def test_marking_a_selection_saves_a_sidecar_in_file_order_and_it_comes_back(
    window, qtbot, tmp_path, scans_dir, settings, dialogs
):
    rows = read_scan(scans_dir / "common-3d-test-models" / "fandisk.obj").points_f64()
    rows[::5] = np.nan  # the reader drops these rows: scan indices and file rows differ
    path = tmp_path / "holey.xyz"
    np.savetxt(path, rows, fmt="%.6f")
    window.open_paths([path])
    wait_loaded(qtbot, window, 1)
    scan = window.state.active_scan()
    window.state.set_pick(200)
    dock = window.regions_dock
    dock.radius_spin.setValue(0.4)
    QTest.mouseClick(dock.sphere_button, Qt.MouseButton.LeftButton)
    picked = window.inspection.selection.indices.copy()
    dock.note_edit.setText("dent on the fillet")
    QTest.mouseClick(dock.defect_button, Qt.MouseButton.LeftButton)
    assert window.inspection.selection is None
    assert dock.annotation_rows()[0][1:5] == ["defect", str(len(picked)), "sphere", "dent on the fillet"]
    side = tmp_path / "holey.xyz.casl-annotations.json"
    doc = json.loads(side.read_text())
    file_rows = np.array(doc["annotations"][0]["points"])
    np.testing.assert_allclose(rows[file_rows], scan.points_f64()[picked], atol=1e-5)
    assert colour_mask(window.viewport.screenshot(), DEFECT, 20).sum() >= 10
    out = tmp_path / "notes.csv"
    window.inspect.export(out)
    with out.open(newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [int(r["point"]) for r in table] == file_rows.tolist()
    window.close_active_scan()
    window.open_paths([path])
    wait_loaded(qtbot, window, 1)
    assert dock.annotation_rows()[0][1] == "defect"
    dock.annotation_table.selectRow(0)
    QTest.mouseClick(dock.delete_button, Qt.MouseButton.LeftButton)
    assert dock.annotation_rows() == []
    assert json.loads(side.read_text())["annotations"] == []
    assert dialogs.shown == []


def test_a_sidecar_for_another_file_is_refused_with_a_message(window, qtbot, tmp_path, dialogs):
    path = tmp_path / "small.xyz"
    np.savetxt(path, np.random.default_rng(0).random((300, 3)))
    (tmp_path / "small.xyz.casl-annotations.json").write_text(
        json.dumps(
            {
                "format": "casl-annotations",
                "version": 1,
                "scan": {"file": "small.xyz", "points_in_file": 999},
                "annotations": [],
            }
        )
    )
    window.open_paths([path])
    wait_loaded(qtbot, window, 1)
    assert any("999" in text and "small.xyz" in text for _, _, text in dialogs.shown)
    assert window.regions_dock.annotation_rows() == []


@pytest.mark.parametrize(
    "content",
    [
        b'{"format": "casl-annotations", "version": 1, "scan": {"file": "small.xyz", "points_in_file": 300}, '
        b'"annotations": [{"id": 1, "label": "defect", "created": "x", "points": [1180591620717411303424]}]}',
        b'{"format": "casl-annotations", "version": 1, "scan": {"file": "small.xyz", "points_in_file": 999}, '
        b'"annotations": [{"id": 1, "label": "defect", "created": "x", "points": [5, 6]}]}',
        b"[" * 200_000 + b"]" * 200_000,
        b'{"format": "casl-annotations", "version": 1, "scan": ',
        b'{"format": "casl-annotations", "version": 1, "scan": {"file": "small.xyz", "points_in_file": 300}, '
        b'"annotations": [{"id": 1e400, "label": "defect", "created": "x", "points": [5]}]}',
        b'{"format": "casl-annotations", "version": true, "scan": {"file": "small.xyz", '
        b'"points_in_file": 1000000000000000000}, "annotations": []}',
    ],
    ids=["index-2**70", "points-in-file-mismatch", "deep-nesting", "truncated-json", "id-1e400", "version-true-1e18"],
)
def test_an_unloadable_sidecar_is_moved_aside_unchanged_before_new_marks_are_saved(
    window, qtbot, tmp_path, dialogs, content
):
    path = tmp_path / "small.xyz"
    np.savetxt(path, np.random.default_rng(0).random((300, 3)))
    side = tmp_path / "small.xyz.casl-annotations.json"
    side.write_bytes(content)
    window.open_paths([path])
    wait_loaded(qtbot, window, 1)
    backups = list(tmp_path.glob("small.xyz.casl-annotations.json.bak-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == content
    assert any(str(backups[0]) in text for _, _, text in dialogs.shown), dialogs.shown
    assert window.regions_dock.annotation_rows() == []
    window.state.set_pick(10)
    window.regions_dock.radius_spin.setValue(0.3)
    QTest.mouseClick(window.regions_dock.sphere_button, Qt.MouseButton.LeftButton)
    picked = window.inspection.selection.indices.copy()
    QTest.mouseClick(window.regions_dock.defect_button, Qt.MouseButton.LeftButton)
    doc = json.loads(side.read_text())
    assert doc["scan"]["points_in_file"] == 300
    assert doc["annotations"][0]["points"] == sorted(picked.tolist())
    assert backups[0].read_bytes() == content
