"""Batch inspection of a folder, and HTML/PDF reports (from the window and the command line)."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess

import numpy as np
import pytest
from gui_helpers import background_mask, colour_map_mask, wait_loaded
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from casl_core.io import read_scan
from casl_core.scorers.curvature import CurvatureBaseline
from casl_gui.app import main

pytestmark = [pytest.mark.gui, pytest.mark.timeout(180)]

MODELS = ("fandisk", "beetle", "rocker-arm")


@pytest.fixture
def folder(tmp_path, scans_dir):
    """Three real parts as XYZ files and one broken file."""
    for name in MODELS:
        scan = read_scan(scans_dir / "common-3d-test-models" / f"{name}.obj")
        np.savetxt(tmp_path / f"{name}.xyz", scan.points_f64(), fmt="%.6f")
    (tmp_path / "broken.pcd").write_text("VERSION .7\nFIELDS x y z\nPOINTS 10\nDATA ascii\n1 2\n")
    return tmp_path


def _wait_batch(qtbot, dialog) -> None:
    qtbot.waitUntil(lambda: not dialog.running(), timeout=120_000)


@pytest.mark.shared_scans
def test_a_folder_is_scored_into_a_sortable_table_and_a_row_opens(window, qtbot, folder):
    dialog = window.batch.show_batch()
    dialog.folder_edit.setText(str(folder))
    QTest.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    assert not dialog.run_button.isEnabled() and dialog.cancel_button.isEnabled()
    _wait_batch(qtbot, dialog)
    rows = dialog.rows()
    assert sorted(r[0] for r in rows) == sorted(f"{m}.xyz" for m in MODELS)
    assert "broken.pcd" in dialog.errors_label.text()
    assert dialog.progress.value() == dialog.progress.maximum() == 4
    for row in rows:
        expected = CurvatureBaseline().score(read_scan(folder / row[0]))
        assert float(row[2]) == pytest.approx(expected.object_score, rel=1e-4)
        assert int(row[1]) == len(expected.scan)
        assert row[4] == "not calibrated", "nothing is calibrated: no PASS or FAIL"
    dialog.table.sortItems(2, Qt.SortOrder.DescendingOrder)
    scores = [float(r[2]) for r in dialog.rows()]
    assert scores == sorted(scores, reverse=True)
    dialog.table.sortItems(1, Qt.SortOrder.AscendingOrder)
    counts = [int(r[1]) for r in dialog.rows()]
    assert counts == sorted(counts), "points sort as numbers, not text"
    first = dialog.rows()[0][0]
    dialog.table.cellDoubleClicked.emit(0, 0)
    wait_loaded(qtbot, window, 1)
    assert window.state.active_scan().name == first.removesuffix(".xyz")


@pytest.mark.shared_scans
def test_cancel_stops_a_batch_before_every_file_is_done(window, qtbot, folder):
    dialog = window.batch.show_batch()
    dialog.run_folder(folder)
    QTest.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    _wait_batch(qtbot, dialog)
    assert len(dialog.rows()) < 3
    assert dialog.run_button.isEnabled()


def _embedded_images(html: str) -> list[np.ndarray]:
    found = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(b))).convert("RGB")) for b in found]


def test_an_html_report_holds_both_views_settings_metrics_regions_and_annotations(window, qtbot, tmp_path):
    window.open_demo()
    wait_loaded(qtbot, window, 1)
    qtbot.waitUntil(lambda: not window.region_finder.busy() and not window.runner.busy(), timeout=30000)
    scan = window.state.active_scan()
    window.inspection.set_selection(np.flatnonzero(scan.labels == 1), "region")
    window.inspect.mark("defect", "the dent")
    out = tmp_path / "report.html"
    window.save_report(out)
    assert not window.state.compare, "compare mode is put back after the shot"
    text = out.read_text()
    # the demo is scored by the bundled demo model: the report names it by its hash
    assert window.casl.has_model and window.casl.fingerprint.sha256[:8] in text
    for words in (
        "Inspection report: demo flange",
        "Curvature scales",
        "Point AUROC",
        "Regions above the threshold",
        "the dent",
    ):
        assert words in text
    from casl_core.metrics import auroc

    expected = auroc(scan.labels, scan.fields["curvature_s16"])
    assert f"{expected:.4f}" in text
    n_regions = len(window.inspection.regions(window.state.active_key).result.regions)
    assert text.count("<tr>") >= n_regions
    views, histogram = _embedded_images(text)
    half = views.shape[1] // 2
    for side in (views[:, :half], views[:, half:]):
        assert (colour_map_mask(side, "viridis") & ~background_mask(side)).mean() > 0.005
    assert histogram.shape[0] >= 90


def test_the_command_writes_a_pdf_report_and_exits(qapp, settings, tmp_path, scans_dir):
    out = tmp_path / "fandisk.pdf"
    bunny = scans_dir / "common-3d-test-models" / "fandisk.obj"
    assert main([str(bunny), "--report", str(out)]) == 0
    data = out.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 20_000
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (Debian package poppler-utils) is not installed: the PDF's text is not checked")
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout
    assert "Inspection report: fandisk" in text
    assert "6,475" in text and "curvature baseline" in text
    assert "no ground-truth labels" in text
    # the curvature baseline is not calibrated: the report says so instead of PASS or FAIL
    assert "not calibrated (curvature)" in text and not re.search(r"(PASS|FAIL) \(", text)


def test_a_report_with_an_unknown_suffix_is_refused(qapp, settings, tmp_path, capsys, scans_dir):
    beetle = scans_dir / "common-3d-test-models" / "beetle.obj"
    assert main([str(beetle), "--report", str(tmp_path / "r.docx")]) == 1
    err = capsys.readouterr().err
    assert "r.docx" in err and ".pdf" in err
    assert not (tmp_path / "r.docx").exists()
