"""CASL in the main window: load a checkpoint, score open scans, compare with curvature, agreement."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from gui_helpers import colour_mask, wait_loaded
from PySide6.QtWidgets import QFileDialog

from casl_core.scorers.casl import infer_scan, load_model
from casl_gui.colouring import AGREEMENT, AGREEMENT_CLASSES, AGREEMENT_COLOURS, FieldScale, agreement_values

pytestmark = [pytest.mark.gui, pytest.mark.timeout(300)]


def _rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))


def _select(combo, text: str) -> None:
    row = combo.findText(text)
    assert row >= 0, f"{text!r} is not offered: {[combo.itemText(i) for i in range(combo.count())]}"
    combo.setCurrentIndex(row)


def _above_legend(image: np.ndarray) -> np.ndarray:
    """The view without its bottom fifth, where the legend of the categories is drawn."""
    return image[: int(image.shape[0] * 0.8)]


@pytest.fixture
def scored_demo(window, qtbot, dialogs, tiny_checkpoint, monkeypatch):
    """The demo part, opened, then scored with the tiny checkpoint chosen from the Model menu."""
    window.opener.demo_opened = None  # not the bundled demo model: the one chosen below
    window.open_demo()
    wait_loaded(qtbot, window, 1)
    assert not window.window_actions.score.isEnabled(), "no CASL model yet"
    assert not window.colouring_dock.field_combo.item_for("casl_score").isEnabled()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(tiny_checkpoint), ""))
    window.window_actions.load.trigger()
    assert window.window_actions.score.isEnabled()
    window.window_actions.score.trigger()
    assert window.runner.busy() and window.status.cancel_button.isVisible()
    qtbot.waitUntil(lambda: not window.runner.busy(), timeout=120_000)
    assert dialogs.shown == []
    return window.state.active_scan()


def test_scoring_adds_the_casl_score_of_the_model_and_shows_the_fingerprint(window, scored_demo, tiny_checkpoint):
    scan = scored_demo
    assert "casl_score" in scan.fields and "curvature_score" in scan.fields
    reference = infer_scan(load_model(tiny_checkpoint, "cpu"), scan).point_scores
    np.testing.assert_allclose(scan.fields["casl_score"], reference, rtol=1e-4, atol=1e-4)
    assert window.colouring_dock.field_combo.item_for("casl_score").isEnabled()
    digest = hashlib.sha256(tiny_checkpoint.read_bytes()).hexdigest()
    assert window.status.model_label.text() == f"Model: CASL small · {digest[:8]}"
    window.state.set_pick(123)
    assert window.inspector_dock.score_label.text() == f"{scan.fields['casl_score'][123]:.4g}"


def test_compare_mode_puts_curvature_left_and_casl_right(window, scored_demo):
    window.colouring_dock.compare_box.setChecked(True)
    assert window.colouring_dock.field_combo.currentText().startswith("Curvature")
    assert window.colouring_dock.second_combo.currentText() == "CASL score"
    image = window.viewport.screenshot()
    half = image.shape[1] // 2
    left, right = image[:, :half], image[:, half : 2 * half]
    assert (np.abs(left.astype(int) - right.astype(int)).sum(axis=2) > 40).mean() > 0.01, (
        "two different fields must colour the two views differently"
    )


def test_agreement_colours_each_point_by_which_scorers_flag_it(window, qtbot, scored_demo):
    scan = scored_demo
    state = window.state
    combo = window.colouring_dock.field_combo
    assert combo.item_for(AGREEMENT).isEnabled()
    casl = scan.fields["casl_score"]
    curv = scan.fields["curvature_score"]
    t_curv = float(np.quantile(curv, 0.9))
    t_casl = float(np.quantile(casl, 0.7))
    _select(combo, "Curvature score (baseline)")
    state.set_threshold(t_curv)
    _select(combo, "CASL score")
    state.set_threshold(t_casl)
    _select(combo, "Agreement (curvature vs CASL)")
    values = agreement_values(scan, t_curv, t_casl)
    expected = (curv >= t_curv).astype(int) + 2 * (casl >= t_casl).astype(int)
    np.testing.assert_array_equal(values, expected)
    shares = np.bincount(values, minlength=4) / len(values)
    image = _above_legend(window.viewport.screenshot())
    for cls, (name, colour) in enumerate(zip(AGREEMENT_CLASSES, AGREEMENT_COLOURS)):
        seen = colour_mask(image, _rgb(colour), 20).sum()
        if shares[cls] > 0.03:
            assert seen > 50, f"{name}: {shares[cls]:.1%} of the points but no pixel of its colour"
    assert not window.colouring_dock.threshold_spin.isEnabled(), "categories have no threshold of their own"
    state.set_scale("casl_score", FieldScale(float(casl.max()) + 1.0, 4.0))
    image = _above_legend(window.viewport.screenshot())
    for cls in (2, 3):  # nothing is above a CASL threshold over the largest score
        assert colour_mask(image, _rgb(AGREEMENT_COLOURS[cls]), 20).sum() < 10


def test_the_demo_casl_model_trains_in_the_background_then_scores_the_demo(window, qtbot, dialogs, tmp_path):
    from casl_core.train.options import FinetuneOptions

    window.open_demo()
    wait_loaded(qtbot, window, 1)
    window.casl.demo_model_path = tmp_path / "demo.safetensors"
    tiny = FinetuneOptions(epochs=1, batch_size=1, max_points=1000, val_samples=1, val_fraction=0.25, config="small")
    window.casl.make_demo_model(options=tiny)
    assert window.status.train_bar.isVisible() and window.status.train_cancel_button.isVisible()
    window.open_demo()  # opening goes on while the model trains
    qtbot.waitUntil(lambda: not window.casl.train_runner.busy(), timeout=180_000)
    qtbot.waitUntil(lambda: not window.runner.busy(), timeout=120_000)
    assert dialogs.shown == []
    assert window.casl.has_model and (tmp_path / "demo.safetensors").is_file()
    assert all("casl_score" in e.scan.fields for e in window.state.scans)
    assert window.status.train_bar.isHidden()


def test_the_demo_opens_scored_by_the_bundled_demo_model(window, qtbot, dialogs):
    from casl_core.bundled import DEMO_MODEL, bundled_file
    from casl_core.metrics import auroc

    window.open_demo()
    wait_loaded(qtbot, window, 1)
    qtbot.waitUntil(
        lambda: "casl_score" in window.state.active_scan().fields and not window.runner.busy(), timeout=120_000
    )
    assert dialogs.shown == []
    assert window.casl.has_model and window.casl.fingerprint.path == bundled_file(DEMO_MODEL)
    assert window.colouring_dock.field_combo.item_for("casl_score").isEnabled()
    scan = window.state.active_scan()
    # the fine-tuned demo model finds the demo's defect better than curvature does
    assert auroc(scan.labels, scan.fields["casl_score"]) > auroc(scan.labels, scan.fields["curvature_score"])
