"""Threshold on a histogram, points greyed below it, regions listed, verdicts shown."""

from __future__ import annotations

import numpy as np
import pytest
from gui_helpers import background_mask, colour_mask, wait_loaded
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from casl_core.demo import demo_scan
from casl_core.geometry import add_curvature
from casl_core.inspection.regions import find_regions

pytestmark = [pytest.mark.gui, pytest.mark.timeout(120)]

GREY = (104, 108, 116)
SELECTION = (255, 43, 214)


def _wait_regions(qtbot, window) -> None:
    qtbot.waitUntil(
        lambda: not window.runner.busy() and not window.region_finder.busy() and not window.threshold_dock.pending(),
        timeout=30000,
    )


@pytest.fixture
def truth_scan():
    """The demo part with its ground truth copied into a float field named ``truth``."""
    scan = add_curvature(demo_scan(seed=1))
    return scan.with_fields(truth=scan.labels.astype(np.float32))


def _cloud_pixels(image: np.ndarray) -> np.ndarray:
    return ~background_mask(image)


def test_dragging_the_threshold_line_recolours_after_a_short_pause(window, qtbot):
    window.open_demo()
    wait_loaded(qtbot, window, 1)
    _wait_regions(qtbot, window)
    dock = window.threshold_dock
    scan = window.state.active_scan()
    assert dock.histogram_counts().sum() == len(scan)
    dock.grey_box.setChecked(True)
    image = window.viewport.screenshot()
    grey_before = (colour_mask(image, GREY, 12) & _cloud_pixels(image)).sum()
    plot = dock.plot
    start = QPoint(round(plot.x_of(plot.threshold)), plot.height() // 2)
    end = QPoint(round(plot.x_of(plot.threshold)) + plot.width() // 5, plot.height() // 2)
    QTest.mousePress(plot, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(plot, end)
    QTest.mouseRelease(plot, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
    dragged = plot.threshold
    field = window.state.field
    assert dragged > window.state.scale(field).threshold, "the state waits for the pause"
    assert dock.threshold_spin.value() == pytest.approx(dragged, abs=1e-5)
    qtbot.waitUntil(lambda: window.state.scale(field).threshold == pytest.approx(dragged), timeout=2000)
    _wait_regions(qtbot, window)
    assert window.colouring_dock.threshold_spin.value() == pytest.approx(dragged, abs=1e-4)
    image = window.viewport.screenshot()
    grey_after = (colour_mask(image, GREY, 12) & _cloud_pixels(image)).sum()
    assert grey_after > 1.1 * grey_before, "a higher threshold must grey out more points"
    values = scan.fields[field]
    below = float((values < dragged).mean())
    share = grey_after / _cloud_pixels(image).sum()
    assert abs(share - below) < 0.25, f"{share:.2f} of the cloud is grey, {below:.2f} of the points are below"


def test_regions_above_the_threshold_are_listed_but_an_uncalibrated_field_has_no_verdict(window, qtbot, truth_scan):
    window.open_scan(truth_scan, name="truth part")
    window.colouring_dock.field_combo.setCurrentIndex(window.colouring_dock.field_combo.findText("truth"))
    window.threshold_dock.threshold_spin.setValue(0.5)
    _wait_regions(qtbot, window)
    qtbot.waitUntil(lambda: not window.verdicts.busy(), timeout=30000)
    defect = np.flatnonzero(truth_scan.labels == 1)
    rows = window.regions_dock.region_rows()
    assert len(rows) == 1 and rows[0][1] == str(len(defect))
    assert window.regions_dock.source_label.text().startswith("Not calibrated")
    # no scorer's score and no calibration: never PASS or FAIL (DESIGN.md section 6)
    assert window.scan_dock.verdicts() == ["–"]
    for text in (window.status.verdict_label.text(), window.threshold_dock.verdict_label.text()):
        assert "PASS" not in text and "FAIL" not in text


def test_the_table_matches_the_core_and_a_row_click_flies_there(window, qtbot, truth_scan):
    window.open_scan(truth_scan, name="part")
    window.threshold_dock.threshold_spin.setValue(0.05)
    _wait_regions(qtbot, window)
    values = truth_scan.fields[window.state.field]
    expected = find_regions(truth_scan.points, values, 0.05, min_points=window.inspection.min_points)
    rows = window.regions_dock.region_rows()
    assert [int(r[1]) for r in rows] == [r.size for r in expected.regions]
    assert [float(r[2]) for r in rows] == pytest.approx([r.max_score for r in expected.regions], rel=1e-3)
    assert len(rows) >= 3
    row = 2
    target = expected.regions[row]
    table = window.regions_dock.region_table
    rect = table.visualItemRect(table.item(row, 1))
    QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())
    assert window.state.picked_index == target.centre_index
    widget = window.viewport.interaction_widget()
    pos = window.viewport.widget_position(target.centre_index)
    assert (pos - QPoint(widget.width() // 2, widget.height() // 2)).manhattanLength() <= 2
    np.testing.assert_array_equal(window.inspection.selection.indices, target.indices)
    assert colour_mask(window.viewport.screenshot(), SELECTION, 20).sum() >= 10


def test_every_open_scan_gets_a_verdict_in_the_list(window, qtbot, truth_scan, scans_dir):
    window.open_scan(truth_scan, name="part")
    window.open_paths([scans_dir / "common-3d-test-models" / "fandisk.obj"])
    wait_loaded(qtbot, window, 2)
    _wait_regions(qtbot, window)
    qtbot.waitUntil(lambda: not window.verdicts.busy() and window.scan_dock.verdicts()[1] != "–", timeout=60000)
    # the part has curvature scales but no scorer's score; fandisk has the curvature baseline's
    # score, which nothing calibrated: neither may read PASS or FAIL
    assert window.scan_dock.verdicts() == ["–", "not calibrated"]
