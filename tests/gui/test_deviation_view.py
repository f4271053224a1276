"""Signed deviation in the view: a diverging map with a grey tolerance band, and its controls."""

from __future__ import annotations

import numpy as np
import pytest
from gui_helpers import background_mask, colour_mask, wait_loaded

from casl_core.fields import DEVIATION
from casl_core.io import read_scan, write_scan
from casl_core.scan import Scan

pytestmark = [pytest.mark.gui, pytest.mark.timeout(180)]

GREY = (104, 108, 116)


def _reddish(image: np.ndarray) -> np.ndarray:
    img = image.astype(int)
    return img[..., 0] > img[..., 2] + 60


def _bluish(image: np.ndarray) -> np.ndarray:
    img = image.astype(int)
    return img[..., 2] > img[..., 0] + 60


@pytest.fixture
def plate_with_bump_and_dent(tmp_path):
    """A 60 mm plate with a 2 mm bump and a 2 mm dent; its deviation from the flat plate z = 0
    (the reference) is its height, written as ``scalar_deviation`` the way ``casl deviation`` does.
    """
    rng = np.random.default_rng(1)
    xy = rng.uniform(-30.0, 30.0, size=(20000, 2))
    bump = 2.0 * np.exp(-((xy[:, 0] - 12) ** 2 + xy[:, 1] ** 2) / 18.0)
    dent = -2.0 * np.exp(-((xy[:, 0] + 12) ** 2 + xy[:, 1] ** 2) / 18.0)
    z = bump + dent + rng.normal(scale=0.01, size=len(xy))
    scan = Scan(points=np.column_stack([xy, z]).astype(np.float32)).with_fields(**{DEVIATION: z.astype(np.float32)})
    path = tmp_path / "plate_deviation.ply"
    write_scan(scan, path)
    assert DEVIATION in read_scan(path).fields
    return path


def test_signed_deviation_is_grey_within_the_tolerance_red_above_blue_below(window, qtbot, plate_with_bump_and_dent):
    window.open_paths([plate_with_bump_and_dent])
    wait_loaded(qtbot, window, 1)
    combo = window.colouring_dock.field_combo
    combo.setCurrentIndex(combo.findText("Signed deviation"))
    assert window.state.field == DEVIATION
    dock = window.reference_dock
    assert dock.tolerance_spin.isEnabled()
    dock.range_spin.setValue(2.0)
    dock.tolerance_spin.setValue(0.5)
    qtbot.waitUntil(lambda: not window.runner.busy(), timeout=30000)
    image = window.viewport.screenshot()
    body = image[: int(image.shape[0] * 0.8)]  # above the colour bar
    cloud = ~background_mask(body)
    values = read_scan(plate_with_bump_and_dent).fields[DEVIATION]
    grey_share = (colour_mask(body, GREY, 12) & cloud).sum() / cloud.sum()
    within = float((np.abs(values) <= 0.5).mean())
    assert abs(grey_share - within) < 0.15, f"{grey_share:.2f} of the cloud is grey, {within:.2f} within tolerance"
    red, blue = (_reddish(body) & cloud).sum(), (_bluish(body) & cloud).sum()
    assert red > 0.01 * cloud.sum() and blue > 0.01 * cloud.sum()
    # a tolerance wider than the bump and the dent: everything is within it, all grey
    dock.range_spin.setValue(5.0)
    dock.tolerance_spin.setValue(2.5)
    image = window.viewport.screenshot()[: body.shape[0]]
    cloud = ~background_mask(image)
    assert (_reddish(image) & cloud).sum() == 0 and (_bluish(image) & cloud).sum() == 0
    drawn = window.reference.style_spec(window.state.colour_spec(window.state.active_scan(), DEVIATION))
    assert drawn.grey_band == pytest.approx((-2.5, 2.5)) and drawn.clim == pytest.approx((-5.0, 5.0))
