"""What a person sees and takes away: histogram axes, each scan's own colouring, fly-to and
reset view, the batch table's CSV and scored rows, the report's name and framing."""

from __future__ import annotations

import base64
import csv
import io
import re

import numpy as np
import pytest
from gui_helpers import background_mask, menu_action, wait_loaded
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QFileDialog

from casl_core.demo import demo_scan
from casl_core.fields import CASL_SCORE
from casl_core.geometry import add_curvature
from casl_core.io import read_scan
from casl_core.synth.parts import make_part
from casl_gui.picking import project
from casl_gui.viewport_camera import view_geometry

pytestmark = [pytest.mark.gui, pytest.mark.timeout(240)]


def _settle(qtbot, window) -> None:
    qtbot.waitUntil(
        lambda: not window.jobs.busy() and not window.region_finder.busy() and not window.threshold_dock.pending(),
        timeout=60_000,
    )


def _share_in_view(window, points: np.ndarray) -> float:
    view = view_geometry(window.viewport.interaction_widget(), 0)
    xy, depth = project(points, view)
    x0, y0 = view.origin
    inside = (depth > 0) & (xy[:, 0] >= x0) & (xy[:, 0] < x0 + view.size[0])
    inside &= (xy[:, 1] >= y0) & (xy[:, 1] < y0 + view.size[1])
    return float(inside.mean())


@pytest.fixture
def truth_scan():
    """The demo part with its ground truth as a float field named ``truth``."""
    scan = add_curvature(demo_scan(seed=1))
    return scan.with_fields(truth=scan.labels.astype(np.float32))


def test_the_histogram_axis_holds_the_threshold_the_bulk_and_the_largest_score(window, qtbot):
    scan = make_part("hex_nut", seed=3, n_points=2000)
    rng = np.random.default_rng(0)
    score = rng.normal(-3.0, 1.0, len(scan)).astype(np.float32)
    score[:5] = 4.0  # a hot spot of 0.25 % of the points: beyond the 99.5th percentile
    window.open_scan(add_curvature(scan).with_fields(**{CASL_SCORE: score}), name="nut")
    combo = window.colouring_dock.field_combo
    combo.setCurrentIndex(combo.findText("CASL score"))
    assert window.state.field == CASL_SCORE
    lo, hi = window.threshold_dock.plot.axis_range()
    p_lo, p_hi = np.percentile(score, [0.5, 99.5])
    assert lo <= min(p_lo, 0.0) and hi >= max(p_hi, 4.0, 0.0)
    assert hi <= 4.0 + 0.1 * (4.0 - lo), "no empty stretch beyond the largest score"
    assert window.threshold_dock.histogram_counts().sum() == len(scan)


def test_opening_a_scan_keeps_the_colouring_and_verdict_of_the_others(window, qtbot, truth_scan, scans_dir):
    part = window.open_scan(truth_scan, name="part")
    combo = window.colouring_dock.field_combo
    combo.setCurrentIndex(combo.findText("truth"))
    window.threshold_dock.threshold_spin.setValue(0.5)
    window.threshold_dock.fail_spin.setValue(5)
    _settle(qtbot, window)
    before = window.scan_dock.verdicts()
    found = window.inspection.regions(part)
    assert found.field == "truth" and len(found.result.regions) >= 1
    # an uncalibrated field gives no PASS or FAIL (issue 11): the scan list says so
    assert before == ["–"]
    window.open_paths([scans_dir / "common-3d-test-models" / "fandisk.obj"])
    wait_loaded(qtbot, window, 2)
    _settle(qtbot, window)
    assert window.state.field != "truth", "fandisk has no truth field"
    assert window.inspection.regions(part).field == "truth", "the part keeps its own field"
    kept = window.inspection.regions(part).result.regions
    assert [(r.centre_index, len(r.indices)) for r in kept] == [
        (r.centre_index, len(r.indices)) for r in found.result.regions
    ], "and its regions"
    assert window.scan_dock.verdicts()[0] == before[0]
    window.scan_dock.select_row(0)
    assert window.state.field == "truth"


def test_a_region_fly_to_keeps_the_part_in_view_and_home_resets_the_view(window, qtbot, truth_scan):
    window.open_scan(truth_scan, name="part")
    window.threshold_dock.threshold_spin.setValue(0.05)
    _settle(qtbot, window)
    table = window.regions_dock.region_table
    assert table.rowCount() >= 2
    rect = table.visualItemRect(table.item(1, 1))
    QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())
    region = window.inspection.regions(window.state.active_key).result.regions[1]
    assert window.state.picked_index == region.centre_index
    assert _share_in_view(window, truth_scan.points) == 1.0, "the whole part stays in view"
    widget = window.viewport.interaction_widget()
    xy, _ = project(truth_scan.points[region.indices], view_geometry(widget, 0))
    extent = np.ptp(xy, axis=0).max()
    assert extent > 10, "the region is drawn larger than a speck"
    camera = widget.renderers[0].GetActiveCamera()
    assert abs(camera.GetDirectionOfProjection()[2]) < 0.999, "the view turned to face the region"
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    QTest.keyClick(window.windowHandle(), Qt.Key.Key_Home)
    direction = camera.GetDirectionOfProjection()
    assert direction[2] == pytest.approx(-1.0, abs=1e-6), "Home looks down the z axis again"
    assert _share_in_view(window, truth_scan.points) == 1.0
    image = window.viewport.screenshot()
    rows, cols = np.nonzero(~background_mask(image[: int(0.8 * image.shape[0])]))
    assert np.ptp(cols) > 0.4 * image.shape[1] or np.ptp(rows) > 0.4 * image.shape[0], "the part fills the view"
    assert window.window_actions.reset.shortcuts()[0].toString() == "Home"


def test_the_batch_table_exports_to_csv_and_a_row_opens_scored(
    window, qtbot, dialogs, normal_parts, tiny_checkpoint, tmp_path, monkeypatch
):
    assert window.load_checkpoint(tiny_checkpoint)
    dialog = window.batch.show_batch()
    dialog.folder_edit.setText(str(normal_parts))
    QTest.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.running(), timeout=120_000)
    assert len(dialog.rows()) == 3 and dialog.export_button.isEnabled()
    dialog.table.sortItems(2, Qt.SortOrder.DescendingOrder)
    out = tmp_path / "batch.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), ""))
    QTest.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    with open(out, newline="") as handle:
        table = list(csv.reader(handle))
    assert table[0][:5] == ["File", "Points", "Object score", "Largest region", "Verdict"]
    assert [r[:5] for r in table[1:]] == dialog.rows(), "the CSV is the table as shown"
    assert [r[5] for r in table[1:]] == [str(normal_parts / r[0]) for r in dialog.rows()]
    out.unlink()
    menu_action(window, "&File", "Export &batch table as CSV…").trigger()
    assert out.is_file() and out.read_text().count("\n") == 4

    first = dialog.rows()[0]
    rect = dialog.table.visualItemRect(dialog.table.item(0, 0))
    # a double click: the press and release of the first click, then the second
    viewport, pos = dialog.table.viewport(), rect.center()
    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)
    QTest.mouseDClick(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)
    qtbot.waitUntil(lambda: bool(window.state.scans or dialogs.shown), timeout=60_000)
    assert dialogs.shown == []
    wait_loaded(qtbot, window, 1)
    _settle(qtbot, window)
    scan = window.state.active_scan()
    assert scan.name == first[0].removesuffix(".ply")
    assert CASL_SCORE in scan.fields and window.state.field == CASL_SCORE, "the row opens scored by the batch's model"
    expected = window.scorer.score(read_scan(normal_parts / first[0]))
    np.testing.assert_allclose(scan.fields[CASL_SCORE], expected.point_scores, atol=1e-4)
    assert float(first[2]) == pytest.approx(expected.object_score, abs=2e-6)


def test_the_report_is_named_after_the_scan_and_framed_on_the_part(window, qtbot, truth_scan, tmp_path, monkeypatch):
    window.open_scan(truth_scan, name="left bracket #2")
    window.threshold_dock.threshold_spin.setValue(0.05)
    _settle(qtbot, window)
    asked = []

    def save_name(_parent, _title, default, _filter):
        asked.append(default)
        return str(tmp_path / "out.html"), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_name)
    menu_action(window, "&File", "Export &report…").trigger()
    assert asked == ["left-bracket-2-report.pdf"]
    html = (tmp_path / "out.html").read_text()
    found = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)
    views = np.asarray(Image.open(io.BytesIO(base64.b64decode(found[0]))).convert("RGB"))
    height, width = views.shape[:2]
    assert width / height < 2.5, "two rows: the whole part, then its top region"
    for top in (0, height // 2):
        row = views[top : top + height // 2, : width // 2]
        rows, cols = np.nonzero(~background_mask(row[: int(0.78 * row.shape[0])]))
        assert np.ptp(cols) > 0.45 * row.shape[1] or np.ptp(rows) > 0.45 * row.shape[0], "the part fills its view"
    assert not window.state.compare
