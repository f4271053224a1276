"""The main window as a person uses it: open scans, see them coloured, recolour, click points."""

from __future__ import annotations

import numpy as np
import pytest
from gui_helpers import (
    EXPOSE_TIMEOUT_MS,
    background_mask,
    colour_map_mask,
    colour_mask,
    finalise_closed_widgets,
    wait_failed,
    wait_loaded,
)
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtTest import QTest

from casl_core.geometry import add_curvature
from casl_core.scan import Scan

pytestmark = [pytest.mark.gui, pytest.mark.timeout(120)]

PICK_RGB = (0, 229, 255)


def _bunny(scans_dir):
    return scans_dir / "common-3d-test-models" / "stanford-bunny.obj"


def _select(combo, text: str) -> None:
    row = combo.findText(text)
    assert row >= 0, f"{text!r} is not offered: {[combo.itemText(i) for i in range(combo.count())]}"
    combo.setCurrentIndex(row)


def _cloud_fraction(window) -> float:
    image = window.viewport.screenshot()
    return float((colour_map_mask(image, window.state.cmap) & ~background_mask(image)).mean())


def test_opening_a_file_shows_its_points_coloured_by_curvature(window, qtbot, scans_dir):
    window.open_paths([_bunny(scans_dir)])
    wait_loaded(qtbot, window, 1)
    assert window.scan_dock.names() == ["stanford-bunny (35,947 points)"]
    assert "35,947 points" in window.status.points_label.text()
    assert window.colouring_dock.field_combo.currentText() == "Curvature, scale 16"
    image = window.viewport.screenshot()
    cloud = colour_map_mask(image, window.state.cmap) & ~background_mask(image)
    assert cloud.mean() > 0.03, "few pixels carry colour-map colours: the cloud is not drawn"
    assert background_mask(image).mean() > 0.3


def test_choosing_another_field_recolours_the_points(window, qtbot, scans_dir):
    window.open_paths([_bunny(scans_dir)])
    wait_loaded(qtbot, window, 1)
    before = window.viewport.screenshot()
    _select(window.colouring_dock.field_combo, "Curvature, scale 256")
    after = window.viewport.screenshot()
    points = colour_map_mask(before, "viridis") & ~background_mask(before)
    changed = np.abs(before.astype(int) - after.astype(int)).sum(axis=2) > 30
    assert (changed & points).sum() > 0.3 * points.sum()
    assert window.state.field == "curvature_s256"


def test_recolouring_in_place_draws_the_new_field_not_the_old_values(window, qtbot, scans_dir):
    # curvature, then height: the same scan recoloured in place must draw the heights
    # (bottom and top of the bunny at the two ends of the map), not the curvature values
    window.open_paths([_bunny(scans_dir)])
    wait_loaded(qtbot, window, 1)
    _select(window.colouring_dock.field_combo, "Height (z)")
    image = window.viewport.screenshot().astype(int)
    cloud = colour_map_mask(image.astype(np.uint8), "viridis") & ~background_mask(image.astype(np.uint8))
    rows = np.flatnonzero(cloud.any(axis=1))
    top, bottom = rows[: max(1, len(rows) // 10)], rows[-max(1, len(rows) // 10) :]
    top_colour = image[top][cloud[top]].mean(axis=0)
    bottom_colour = image[bottom][cloud[bottom]].mean(axis=0)
    assert np.abs(top_colour - bottom_colour).sum() > 150, (top_colour, bottom_colour)


def test_choices_the_scan_lacks_are_greyed_out_with_the_reason(window, qtbot, scans_dir):
    window.open_paths([_bunny(scans_dir)])
    wait_loaded(qtbot, window, 1)
    combo = window.colouring_dock.field_combo
    score = combo.item_for("casl_score")
    assert not score.isEnabled()
    assert "CASL" in score.toolTip()
    assert not combo.item_for("<rgb>").isEnabled()
    assert not combo.item_for("<labels>").isEnabled()
    assert combo.item_for("curvature_s64").isEnabled()


def test_the_colour_range_is_set_per_field_and_shared_by_every_scan(window, qtbot, scans_dir):
    fandisk = scans_dir / "common-3d-test-models" / "fandisk.obj"
    window.open_paths([_bunny(scans_dir), fandisk])
    wait_loaded(qtbot, window, 2)
    dock = window.colouring_dock
    top = tuple(int(round(c)) for c in np.array([0.993, 0.906, 0.144]) * 255)  # viridis at 1.0
    bright_before = colour_mask(window.viewport.screenshot(), top, 25).sum()
    dock.threshold_spin.setValue(0.01)
    dock.half_width_spin.setValue(0.01)
    bright_after = colour_mask(window.viewport.screenshot(), top, 25).sum()
    assert bright_after > 2 * bright_before + 100, "a narrower range must saturate more points"
    window.scan_dock.select_row(0)
    assert window.state.active_scan().name == "stanford-bunny"
    assert dock.threshold_spin.value() == pytest.approx(0.01)
    assert dock.range_label.text().startswith("0 to 0.02")


def test_a_corrupt_file_shows_an_error_naming_it_and_the_app_stays_usable(window, qtbot, dialogs, scans_dir, tmp_path):
    broken = tmp_path / "broken.ply"
    broken.write_bytes(
        b"ply\nformat binary_little_endian 1.0\nelement vertex 1000\n"
        b"property float x\nproperty float y\nproperty float z\nend_header\n" + b"\x00" * 37
    )
    window.open_paths([broken])
    wait_failed(qtbot, dialogs)
    kind, title, text = dialogs.shown[0]
    assert kind == "critical"
    assert "broken.ply" in title and "broken.ply" in text
    assert not window.state.scans
    window.open_paths([_bunny(scans_dir)])
    wait_loaded(qtbot, window, 1)
    assert len(dialogs.shown) == 1
    assert _cloud_fraction(window) > 0.03


def _two_planes() -> tuple[Scan, int]:
    """A 15 x 15 grid on z = 0 in front of a dense grid on z = -0.3; returns the scan and a front point."""
    u = np.linspace(0.0, 1.0, 15)
    front = np.stack(np.meshgrid(u, u, indexing="ij"), -1).reshape(-1, 2)
    v = np.linspace(-0.5, 1.5, 120)
    back = np.stack(np.meshgrid(v, v, indexing="ij"), -1).reshape(-1, 2)
    pts = np.concatenate([np.c_[front, np.zeros(len(front))], np.c_[back, np.full(len(back), -0.3)]])
    return Scan(points=pts.astype(np.float32)), 7 * 15 + 7


def test_clicking_a_point_shows_it_in_the_inspector(window, qtbot):
    scan, target = _two_planes()
    window.open_scan(add_curvature(scan))
    viewport = window.viewport
    pos = viewport.widget_position(target)
    behind = [i for i in range(225, len(scan)) if (viewport.widget_position(i) - pos).manhattanLength() <= 3]
    assert behind, "the test needs back-plane points drawn right under the target"
    QTest.mouseClick(viewport.interaction_widget(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)
    qtbot.waitUntil(lambda: window.state.picked_index is not None, timeout=5000)
    assert window.state.picked_index == target
    inspector = window.inspector_dock
    assert inspector.index_label.text() == f"{target:,} of {len(scan):,}"
    x, y, z = scan.points[target]
    assert inspector.xyz_label.text() == f"{x:.6g}, {y:.6g}, {z:.6g}"
    assert len(inspector.plot.values()) == 3
    image = viewport.screenshot()
    near = image[max(pos.y() - 8, 0) : pos.y() + 9, max(pos.x() - 8, 0) : pos.x() + 9]
    assert colour_mask(near, PICK_RGB).sum() >= 10, "the pick is not marked where it was clicked"


def test_dragging_turns_the_view_without_picking(window, qtbot):
    scan, target = _two_planes()
    window.open_scan(add_curvature(scan))
    widget = window.viewport.interaction_widget()
    pos = window.viewport.widget_position(target)
    before = window.viewport.screenshot()
    QTest.mousePress(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)
    for step in range(1, 9):
        QTest.mouseMove(widget, pos + QPoint(10 * step, 4 * step))
    QTest.mouseRelease(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos + QPoint(80, 32))
    qtbot.wait(50)
    assert window.state.picked_index is None
    after = window.viewport.screenshot()
    assert (np.abs(before.astype(int) - after.astype(int)).sum(axis=2) > 30).mean() > 0.01


def test_compare_mode_shows_two_fields_and_marks_the_pick_in_both(window, qtbot, scans_dir):
    window.open_paths([_bunny(scans_dir)])
    wait_loaded(qtbot, window, 1)
    window.colouring_dock.compare_box.setChecked(True)
    assert window.viewport.compare
    _select(window.colouring_dock.second_combo, "Curvature, scale 256")
    target = int(np.argmax(window.state.active_scan().points[:, 1]))  # the tip of an ear
    window.state.set_pick(target)
    image = window.viewport.screenshot()
    half = image.shape[1] // 2
    for side in (image[:, :half], image[:, half:]):
        assert colour_map_mask(side, "viridis").mean() > 0.02
        assert colour_mask(side, PICK_RGB).sum() >= 10
    window.colouring_dock.compare_box.setChecked(False)
    assert not window.viewport.compare
    assert colour_mask(window.viewport.screenshot(), PICK_RGB).sum() >= 10


def test_dropping_a_folder_opens_its_scans_and_remembers_them(window, qtbot, settings, tmp_path):
    from casl_gui.main_window import recent_files

    rng = np.random.default_rng(3)
    for name in ("a.xyz", "b.xyz"):
        u, v = rng.random((2, 800))
        np.savetxt(tmp_path / name, np.c_[u, v, 0.1 * np.sin(6 * u)], fmt="%.6f")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path))])
    drop = QDropEvent(
        QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    window.dropEvent(drop)
    wait_loaded(qtbot, window, 2)
    assert sorted(window.scan_dock.names()) == ["a (800 points)", "b (800 points)"]
    assert sorted(recent_files(settings)) == sorted(str(tmp_path / n) for n in ("a.xyz", "b.xyz"))


def test_window_size_and_docks_come_back_next_time(qtbot, settings, dialogs):
    from casl_gui.main_window import MainWindow

    first = MainWindow(settings)
    first.show()
    qtbot.waitExposed(first, timeout=EXPOSE_TIMEOUT_MS)
    first.resize(1000, 700)
    first.inspector_dock.hide()
    qtbot.wait(20)
    first.close()
    first.deleteLater()
    del first
    finalise_closed_widgets()
    second = MainWindow(settings)
    qtbot.addWidget(second)
    second.show()
    qtbot.waitExposed(second, timeout=EXPOSE_TIMEOUT_MS)
    assert (second.width(), second.height()) == (1000, 700)
    assert not second.inspector_dock.isVisible()
    assert second.scan_dock.isVisible()
    second.close()
    second.deleteLater()
    del second
    finalise_closed_widgets()


def test_flying_to_a_hidden_defect_point_brings_it_in_front(window, qtbot):
    window.open_demo()
    wait_loaded(qtbot, window, 1)
    scan = window.state.active_scan()
    assert window.scan_dock.names() == [f"demo flange ({len(scan):,} points)"]
    defect = np.flatnonzero(scan.labels == 1)
    centre = scan.points[defect].mean(axis=0)
    target = int(defect[np.argmin(np.linalg.norm(scan.points[defect] - centre, axis=1))])
    window.state.set_pick(target)
    window.fly_to_pick()
    widget = window.viewport.interaction_widget()
    pos = window.viewport.widget_position(target)
    middle = QPoint(widget.width() // 2, widget.height() // 2)
    assert (pos - middle).manhattanLength() <= 2
    window.state.set_pick(None)
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)
    qtbot.waitUntil(lambda: window.state.picked_index is not None, timeout=5000)
    assert scan.labels[window.state.picked_index] == 1
    assert window.inspector_dock.truth_label.text() == "anomalous"


def test_any_float_field_such_as_a_casl_score_colours_the_cloud_and_shows_on_pick(window, qtbot, scans_dir):
    from casl_core.io import read_scan

    scan = add_curvature(read_scan(scans_dir / "common-3d-test-models" / "fandisk.obj"))
    score = (np.log(scan.fields["curvature_s64"] + 1e-4) + 4.0).astype(np.float32)
    window.open_scan(scan.with_fields(casl_score=score))
    combo = window.colouring_dock.field_combo
    assert combo.item_for("casl_score").isEnabled()
    _select(combo, "CASL score")
    assert window.colouring_dock.range_label.text().startswith("-4 to 4")
    assert _cloud_fraction(window) > 0.02
    window.state.set_pick(10)
    assert window.inspector_dock.score_label.text() == f"{score[10]:.4g}"


def test_the_status_bar_shows_a_running_job_and_its_cancel_button(window, qtbot, scans_dir):
    status = window.status
    assert status.cancel_button.isHidden()
    window.open_paths([_bunny(scans_dir)])
    assert status.cancel_button.isVisible() and status.progress_bar.isVisible()
    assert "stanford-bunny" in status.job_label.text() or status.job_label.text().startswith("Reading")
    wait_loaded(qtbot, window, 1)
    assert status.cancel_button.isHidden() and status.job_label.text() == "Ready"
    import torch

    expected = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    assert status.device_label.text() == f"Device: {expected}"


def test_the_cancel_button_stops_opening(window, qtbot, scans_dir):
    window.open_paths([_bunny(scans_dir)])
    QTest.mouseClick(window.status.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.runner.busy(), timeout=60000)
    assert window.state.scans == ()
    assert window.status.job_label.text() == "Ready"


def test_closing_while_a_job_runs_asks_and_cancels_cleanly(qtbot, settings, monkeypatch):
    import threading

    from PySide6.QtWidgets import QMessageBox

    from casl_core.progress import check_cancel
    from casl_gui.main_window import MainWindow

    win = MainWindow(settings)
    win.show()
    qtbot.waitExposed(win, timeout=EXPOSE_TIMEOUT_MS)
    started, stopped = threading.Event(), threading.Event()

    def slow_job(progress, cancel):
        started.set()
        try:
            while True:
                check_cancel(cancel)
                threading.Event().wait(0.01)
        finally:
            stopped.set()

    win.runner.submit("Long computation", slow_job, lambda _: None, lambda _: None)
    assert started.wait(10)
    asked = []
    answers = iter([QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes])

    def question(_parent, title, text, *args, **kwargs):
        asked.append(text)
        return next(answers)

    monkeypatch.setattr(QMessageBox, "question", question)
    win.close()
    assert len(asked) == 1 and "Long computation" in asked[0]
    assert win.isVisible() and not stopped.is_set()
    win.close()
    assert len(asked) == 2 and not win.isVisible()
    # close() cancelled the job and waited for it: it has already stopped
    assert stopped.is_set()
    win.deleteLater()
    del win
    finalise_closed_widgets()
