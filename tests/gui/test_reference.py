"""Model > Set reference: deviation scoring in the background, the aligned reference drawn faintly,
the alignment RMSE in the status bar, deviation beside CASL in compare mode, and the deviation
calibrated from the menu becoming the scorer of record.
"""

from __future__ import annotations

import numpy as np
import pytest
from gui_helpers import LOAD_TIMEOUT_MS, menu_action, settled, wait_loaded
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from casl_core.fields import DEVIATION
from casl_core.io import write_scan
from casl_core.synth.defects import synthesize_defect
from casl_core.synth.parts import make_part
from casl_core.synth.views import random_pose

pytestmark = [pytest.mark.gui, pytest.mark.timeout(600)]


@pytest.fixture
def flange_files(tmp_path):
    """A good flange (the reference), good flanges of the same part sampled afresh, and a flange
    with a bulge in another pose: ``(reference, good folder, defective scan, its labels)``.
    """
    reference = tmp_path / "good_flange.ply"
    write_scan(make_part("flange", seed=5, n_points=8000), reference)
    good = tmp_path / "good"
    good.mkdir()
    for k in range(2):
        write_scan(make_part("flange", seed=5, n_points=8000 + k + 1), good / f"good_{k}.ply")
    bulged = synthesize_defect(make_part("flange", seed=5, n_points=8100), "bulge", np.random.default_rng(2))
    posed = random_pose(bulged, np.random.default_rng(4)).scan
    scan_path = tmp_path / "bulged_flange.ply"
    write_scan(posed, scan_path)
    return reference, good, scan_path, posed.labels.astype(bool)


def test_set_reference_scores_deviation_draws_the_reference_and_calibrates(window, qtbot, flange_files, monkeypatch):
    reference, good, scan_path, defect = flange_files
    window.opener.demo_opened = None
    window.open_paths([scan_path])
    wait_loaded(qtbot, window, 1)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(reference), ""))
    menu_action(window, "Model", "Set reference…").trigger()
    qtbot.waitUntil(lambda: window.runner.busy(), timeout=5000)
    qtbot.waitUntil(lambda: settled(window) and DEVIATION in window.state.active_scan().fields, timeout=LOAD_TIMEOUT_MS)

    # coloured by signed deviation, the fit in the status bar and the dock
    assert window.state.field == DEVIATION
    assert window.colouring_dock.field_combo.currentText() == "Signed deviation"
    text = window.reference.rmse_label.text()
    assert text.startswith("Alignment RMSE ") and text.endswith("to good_flange.ply")
    rmse = float(text.split()[2])
    fit = window.reference.fit(window.state.active_key)
    assert rmse == pytest.approx(fit.rmse, rel=2e-3)  # three significant digits shown
    assert window.reference_dock.reference_label.text() == "good_flange.ply"
    # the reference, moved into the scan's frame, lies on the scan (the pose is undone)
    from scipy.spatial import cKDTree

    scan = window.state.active_scan()
    gaps = cKDTree(scan.points).query(fit.reference_points)[0]
    assert np.median(gaps) < 3 * rmse + 0.5

    # View > Show the reference toggles the faint cloud on screen
    shown = window.viewport.screenshot()
    assert window.viewport.overlay_points == len(fit.reference_points)
    window.show_reference_action.trigger()
    hidden = window.viewport.screenshot()
    assert window.viewport.overlay_points == 0 and not window.reference_dock.show_box.isChecked()
    assert (np.abs(shown.astype(int) - hidden.astype(int)).sum(axis=2) > 20).mean() > 0.002

    # calibrate the deviation on the good flanges: it becomes the scorer of record
    menu_action(window, "Model", "Calibrate on a folder of good scans…").trigger()
    dialog = window.batch.calibrate_dialog
    assert dialog.scorer_combo.currentText() == "Deviation from the reference"
    dialog.folder_edit.setText(str(good))
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.verdicts.calibration("deviation") is not None, timeout=5 * LOAD_TIMEOUT_MS)
    qtbot.waitUntil(lambda: settled(window), timeout=LOAD_TIMEOUT_MS)
    line = window.status.verdict_label.text()
    assert line.startswith("FAIL (deviation, 1 % false alarms)"), line
    rows = window.regions_dock.region_rows()
    assert rows and "scorer of record: deviation" in window.regions_dock.source_label.text()
    top = window.inspection.listed_regions(window.state.active_key, window.state.field)[0]
    assert defect[top.indices].mean() > 0.5, "the top region is the bulge"


def test_compare_mode_puts_deviation_beside_casl(window, qtbot, flange_files, tiny_checkpoint, monkeypatch):
    reference, _good, scan_path, _defect = flange_files
    window.opener.demo_opened = None
    window.open_paths([scan_path])
    wait_loaded(qtbot, window, 1)
    assert window.load_checkpoint(tiny_checkpoint)
    window.window_actions.score.trigger()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(reference), ""))
    menu_action(window, "Model", "Set reference…").trigger()
    qtbot.waitUntil(lambda: settled(window) and DEVIATION in window.state.active_scan().fields, timeout=LOAD_TIMEOUT_MS)
    window.compare_action.trigger()
    dock = window.colouring_dock
    assert dock.field_combo.currentText() == "Signed deviation"
    assert dock.second_combo.currentText() == "CASL score"
    image = window.viewport.screenshot()
    half = image.shape[1] // 2
    left, right = image[:, :half], image[:, half : 2 * half]
    assert (np.abs(left.astype(int) - right.astype(int)).sum(axis=2) > 40).mean() > 0.01
