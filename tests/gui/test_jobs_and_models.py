"""Models and background jobs as a person meets them: loading another checkpoint, Quit during a
fine-tune started from its dialog, the training indicator, and what a finished run says."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
from gui_helpers import EXPOSE_TIMEOUT_MS, LOAD_TIMEOUT_MS, menu_action
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QFileDialog, QMessageBox

from casl_core.fields import CASL_SCORE
from casl_core.geometry import add_curvature
from casl_core.nn.checkpoint import load_checkpoint
from casl_core.synth.parts import make_part

pytestmark = [pytest.mark.gui, pytest.mark.timeout(300)]

TRAIN_TIMEOUT_MS = 240_000


def _idle(window) -> bool:
    return not window.jobs.busy() and not window.region_finder.busy()


def test_loading_another_checkpoint_takes_the_old_scores_off_then_rescores(
    window, qtbot, dialogs, tiny_checkpoint, tmp_path, monkeypatch
):
    window.open_scan(add_curvature(make_part("hex_nut", seed=5, n_points=2000)), name="nut")
    assert window.load_checkpoint(tiny_checkpoint)
    window.window_actions.score.trigger()
    qtbot.waitUntil(lambda: CASL_SCORE in window.state.active_scan().fields and _idle(window), timeout=LOAD_TIMEOUT_MS)
    window.state.set_field(CASL_SCORE)
    old = window.state.active_scan().fields[CASL_SCORE]
    other = tmp_path / "other.safetensors"
    shutil.copy(tiny_checkpoint, other)
    shutil.copy(tiny_checkpoint.with_suffix(".json"), other.with_suffix(".json"))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(other), ""))
    window.window_actions.load.trigger()
    # at once: the old model's scores are gone, never shown under the new model's name
    assert window.casl.fingerprint.path == other
    assert CASL_SCORE not in window.state.active_scan().fields
    assert not window.colouring_dock.field_combo.item_for(CASL_SCORE).isEnabled()
    assert window.state.field != CASL_SCORE
    # then the scan is scored again by the new model, and shown by it again
    qtbot.waitUntil(lambda: CASL_SCORE in window.state.active_scan().fields and _idle(window), timeout=LOAD_TIMEOUT_MS)
    new = window.state.active_scan().fields[CASL_SCORE]
    assert new is not old
    np.testing.assert_allclose(new, old, atol=1e-4)  # the same weights under another path
    assert window.state.field == CASL_SCORE
    assert dialogs.shown == []


def _start_long_finetune(window, qtbot, folder, out):
    window.window_actions.finetune.trigger()
    dialog = window.casl.finetune_dialog
    qtbot.waitExposed(dialog, timeout=EXPOSE_TIMEOUT_MS)
    dialog.folder_edit.setText(str(folder))
    dialog.epochs_spin.setValue(500)
    dialog.batch_spin.setValue(1)
    dialog.device_combo.setCurrentIndex(dialog.device_combo.findData("cpu"))
    dialog.out_edit.setText(str(out))
    QTest.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert dialog.running()
    return dialog


def test_quit_during_a_dialog_fine_tune_asks_and_the_status_bar_shows_the_hidden_run(
    window, qtbot, dialogs, normal_parts, tmp_path, monkeypatch
):
    dialog = _start_long_finetune(window, qtbot, normal_parts, tmp_path / "long.safetensors")
    dialog.close()
    assert not dialog.isVisible() and dialog.running(), "closing the dialog leaves the run going"
    status = window.status
    assert status.train_label.isVisible() and status.train_bar.isVisible()
    assert status.train_label.text().startswith("Training:")
    assert status.train_cancel_button.isVisible() and status.train_cancel_button.isEnabled()
    assert "Fine-tuning CASL" in window.running_jobs()

    asked = []

    def answer_no(_parent, title, text, *args, **kwargs):
        asked.append((title, text))
        return QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "question", answer_no)
    menu_action(window, "&File", "&Quit").trigger()
    assert asked and "Fine-tuning CASL" in asked[0][1], "Quit asks about the dialog's run"
    assert window.isVisible() and dialog.running(), "answering No keeps the window and the run"

    QTest.mouseClick(status.train_cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.running(), timeout=TRAIN_TIMEOUT_MS)
    assert status.train_label.isHidden() and status.train_bar.isHidden()
    assert window.running_jobs() == []


def test_a_finished_run_says_which_epoch_its_checkpoint_keeps(window, qtbot, dialogs, normal_parts, tmp_path):
    window.window_actions.finetune.trigger()
    dialog = window.casl.finetune_dialog
    qtbot.waitExposed(dialog, timeout=EXPOSE_TIMEOUT_MS)
    out = tmp_path / "short.safetensors"
    dialog.folder_edit.setText(str(normal_parts))
    dialog.epochs_spin.setValue(3)
    dialog.batch_spin.setValue(1)
    dialog.device_combo.setCurrentIndex(dialog.device_combo.findData("cpu"))
    dialog.out_edit.setText(str(out))
    QTest.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert window.status.train_label.isVisible(), "the status bar shows a run while its dialog is open too"
    qtbot.waitUntil(lambda: not dialog.running(), timeout=TRAIN_TIMEOUT_MS)
    text = dialog.status_label.text()
    match = re.match(
        r"Done: 3 epochs; checkpoint kept from epoch (\d+), (the best on held-out pseudo-anomalies|the last)", text
    )
    assert match, text
    assert int(match.group(1)) == load_checkpoint(out).info.epoch
    assert dialogs.shown == []
    assert window.status.train_label.isHidden()
