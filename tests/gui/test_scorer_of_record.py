"""One scorer of record: the verdict, the regions and the scan list follow the calibrated scorer,
whatever field is on show; uncalibrated scores read "not calibrated", a foreign part "out of distribution".
"""

from __future__ import annotations

import numpy as np
import pytest
from gui_helpers import LOAD_TIMEOUT_MS, menu_action, settled, wait_loaded
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from casl_core.fields import CURVATURE_SCORE
from casl_core.inspection.verdict import scan_verdict
from casl_core.io import read_scan, write_scan
from casl_core.scan import Scan
from casl_core.scorers.calibration import calibrate
from casl_core.scorers.calibration_io import read_calibration, write_calibration
from casl_core.scorers.curvature import CurvatureBaseline
from casl_core.synth.defects import synthesize_defect
from casl_core.synth.parts import make_part

pytestmark = [pytest.mark.gui, pytest.mark.timeout(300)]


@pytest.fixture
def cracked_nut(tmp_path):
    """A hex nut of another size than the good ones, with a crack, written as PLY."""
    scan = synthesize_defect(make_part("hex_nut", seed=7, n_points=2000), "crack", np.random.default_rng(3))
    path = tmp_path / "cracked_nut.ply"
    write_scan(scan, path)
    return path


def test_calibrating_from_the_menu_makes_curvature_the_scorer_of_record(window, qtbot, normal_parts, cracked_nut):
    window.open_paths([cracked_nut])
    wait_loaded(qtbot, window, 1)
    qtbot.waitUntil(
        lambda: settled(window) and window.inspection.record(window.state.active_key) is not None, timeout=30000
    )
    assert window.status.verdict_label.text() == "not calibrated (curvature)"
    assert window.scan_dock.verdicts() == ["not calibrated"]
    assert "PASS" not in window.threshold_dock.verdict_label.text()
    assert "FAIL" not in window.threshold_dock.verdict_label.text()

    menu_action(window, "Model", "Calibrate on a folder of good scans…").trigger()
    dialog = window.batch.calibrate_dialog
    assert dialog.isVisible() and dialog.scorer_combo.currentText() == "Curvature baseline"
    dialog.folder_edit.setText(str(normal_parts))
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert window.runner.busy() and not dialog.start_button.isEnabled()
    qtbot.waitUntil(lambda: window.verdicts.calibration("curvature") is not None, timeout=LOAD_TIMEOUT_MS)
    qtbot.waitUntil(lambda: settled(window), timeout=LOAD_TIMEOUT_MS)
    assert dialog.status_label.text().startswith("Applied. curvature: point threshold")

    cal = window.verdicts.calibration("curvature")
    expected = calibrate(CurvatureBaseline(), sorted(normal_parts.glob("*.ply")))
    assert cal.point_threshold == pytest.approx(expected.point_threshold, rel=1e-5)
    scan = window.state.active_scan()
    truth = scan_verdict(scan, {"curvature": cal})
    line = window.status.verdict_label.text()
    assert line == truth.text and line.startswith(("PASS", "FAIL"))
    assert "(curvature, 1 % false alarms)" in line
    assert window.scan_dock.verdicts() == [truth.status.value]

    # the regions and the verdict stay with the scorer of record whatever colours the view
    rows_before = window.regions_dock.region_rows()
    assert [int(r[1]) for r in rows_before] == [r.size for r in truth.regions]
    assert "scorer of record: curvature" in window.regions_dock.source_label.text()
    combo = window.colouring_dock.field_combo
    combo.setCurrentIndex(combo.findText("Height (z)"))
    qtbot.waitUntil(lambda: settled(window), timeout=30000)
    assert window.state.field == "<height>"
    assert window.status.verdict_label.text() == line
    assert window.regions_dock.region_rows() == rows_before
    if truth.regions:
        window.regions_dock.region_table.cellClicked.emit(0, 0)
        assert window.state.picked_index == truth.regions[0].centre_index

    # Tools > Batch inspection gives the scorer of record's verdicts too
    dialog = window.batch.show_batch()
    dialog.folder_edit.setText(str(cracked_nut.parent))
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.running(), timeout=LOAD_TIMEOUT_MS)
    (row,) = dialog.rows()
    scored = CurvatureBaseline().score(read_scan(cracked_nut)).scan
    batch_truth = scan_verdict(scored, {"curvature": cal})
    assert row[4] == batch_truth.status.value
    assert float(row[2]) == pytest.approx(batch_truth.object_score, rel=1e-4)


def test_a_part_unlike_the_calibration_data_is_out_of_distribution(window, qtbot, tmp_path, monkeypatch):
    # A perfectly flat plate: its curvature is nearly zero everywhere, so a hex nut is far outside it.
    rng = np.random.default_rng(0)
    xy = rng.uniform(0.0, 40.0, size=(3000, 2))
    plate = Scan(points=np.column_stack([xy, np.zeros(len(xy))]).astype(np.float32))
    cal_path = tmp_path / "plate.json"
    write_calibration(cal_path, calibrate(CurvatureBaseline(), [plate], copies=0))
    window.open_scan(CurvatureBaseline().score(make_part("hex_nut", seed=2, n_points=2000)).scan, name="nut")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(cal_path), ""))
    menu_action(window, "Model", "Load calibration…").trigger()
    qtbot.waitUntil(lambda: window.verdicts.calibration("curvature") is not None, timeout=10000)
    qtbot.waitUntil(
        lambda: settled(window) and window.inspection.record(window.state.active_key) is not None, timeout=30000
    )
    scan = window.state.active_scan()
    share = float((scan.fields[CURVATURE_SCORE] >= read_calibration(cal_path).point_threshold).mean())
    assert share > 0.3
    assert window.status.verdict_label.text().startswith("OUT OF DISTRIBUTION (curvature")
    assert window.scan_dock.verdicts() == ["out of distribution"]
    assert window.regions_dock.region_rows() == []
