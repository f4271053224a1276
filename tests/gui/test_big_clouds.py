"""Big clouds: a subsample is drawn while the camera moves and first, then the full cloud."""

from __future__ import annotations

import numpy as np
import pytest
from gui_helpers import background_mask, colour_map_mask

import casl_gui.viewport as viewport_module
from casl_core.scan import Scan

pytestmark = [pytest.mark.gui, pytest.mark.timeout(120)]


def _sheet(n: int) -> Scan:
    rng = np.random.default_rng(0)
    u, v = rng.random((2, n))
    return Scan(points=np.c_[u, v, 0.05 * np.sin(8 * u)].astype(np.float32))


def _coloured(window) -> int:
    image = window.viewport.screenshot()
    return int((colour_map_mask(image, "viridis") & ~background_mask(image)).sum())


def test_the_subsample_stands_in_while_the_camera_moves(window, qtbot, monkeypatch):
    monkeypatch.setattr(viewport_module, "LOD_POINTS", 20_000)
    monkeypatch.setattr(viewport_module, "LOD_SAMPLE", 1_500)
    window.open_scan(_sheet(60_000))
    vp = window.viewport
    qtbot.waitUntil(lambda: not vp.drawing_subsample, timeout=5000)  # the full cloud follows the first frame
    full = _coloured(window)
    iren = vp.interaction_widget().iren.interactor
    iren.InvokeEvent("StartInteractionEvent")
    assert vp.drawing_subsample
    moving = _coloured(window)
    iren.InvokeEvent("EndInteractionEvent")
    assert not vp.drawing_subsample
    assert moving < 0.5 * full, f"{moving} coloured pixels while moving, {full} at rest"
    assert _coloured(window) == pytest.approx(full, rel=0.02)


def test_a_small_cloud_has_no_subsample(window, qtbot):
    window.open_scan(_sheet(5_000))
    iren = window.viewport.interaction_widget().iren.interactor
    iren.InvokeEvent("StartInteractionEvent")
    assert not window.viewport.drawing_subsample
    iren.InvokeEvent("EndInteractionEvent")
