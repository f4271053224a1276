"""The demo tells the truth: inspected against its CAD model it shows the scorer of record,
its defect is the first listed region, and the default camera shows it.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from gui_helpers import LOAD_TIMEOUT_MS, menu_action, settled

from casl_core.demo import demo_scan
from casl_core.fields import DEVIATION

pytestmark = [pytest.mark.gui, pytest.mark.timeout(600)]


def test_the_demo_opens_on_its_defect(window, qtbot):
    start = time.monotonic()
    menu_action(window, "Help", "Open demo").trigger()
    qtbot.waitUntil(lambda: len(window.state.scans) == 1 and settled(window), timeout=LOAD_TIMEOUT_MS)
    menu_action(window, "Help", "Inspect the demo against its CAD model").trigger()
    qtbot.waitUntil(
        lambda: settled(window) and window.verdicts.calibration("deviation") is not None, timeout=2 * LOAD_TIMEOUT_MS
    )
    qtbot.waitUntil(lambda: settled(window), timeout=LOAD_TIMEOUT_MS)
    print(f"demo inspected in {time.monotonic() - start:.1f} s")
    labels = demo_scan(0).labels.astype(bool)
    scan = window.state.active_scan()
    assert window.state.field == DEVIATION
    line = window.status.verdict_label.text()
    assert line.startswith("FAIL (deviation, 1 % false alarms)"), line
    assert window.scan_dock.verdicts() == ["FAIL"]

    # the first listed region is the defect: its centre lies on the labelled defect
    rows = window.regions_dock.region_rows()
    assert rows, "regions are listed"
    centre = np.array([float(v) for v in rows[0][4].split(",")])
    defect_pts = scan.points[labels].astype(np.float64)
    radius = np.linalg.norm(defect_pts - defect_pts.mean(axis=0), axis=1).max()
    assert np.linalg.norm(centre - defect_pts.mean(axis=0)) < radius

    # the default camera shows it: the defect projects inside the view, drawn in the map's
    # out-of-tolerance colours (not the grey band, not the background)
    image = window.viewport.screenshot()
    widget = window.viewport.interaction_widget()
    ratio = image.shape[1] / widget.width()
    hits = 0
    for index in np.flatnonzero(labels)[::5]:
        pos = window.viewport.widget_position(int(index))
        x, y = round(pos.x() * ratio), round(pos.y() * ratio)
        assert 0 <= x < image.shape[1] and 0 <= y < image.shape[0]
        r, g, b = image[y, x].astype(int)
        hits += abs(r - b) > 60
    assert hits >= 0.3 * len(np.flatnonzero(labels)[::5]), "the defect is seen in colour from the default camera"
