"""The fine-tune dialog as a person uses it: start, watch the loss, cancel, resume, load the model."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from gui_helpers import EXPOSE_TIMEOUT_MS, colour_mask
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from casl_core.nn.checkpoint import load_checkpoint
from casl_core.synth.defects import DefectKind, synthesize_defect
from casl_core.synth.parts import make_part
from casl_core.train.options import FinetuneOptions
from casl_gui.dialogs.loss_plot import STEP_COLOUR
from casl_gui.model_jobs import resume_file

pytestmark = [pytest.mark.gui, pytest.mark.timeout(300)]

TRAIN_TIMEOUT_MS = 240_000


def _hex_rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))


def _fill(dialog, folder, out, epochs: int) -> None:
    dialog.folder_edit.setText(str(folder))
    dialog.epochs_spin.setValue(epochs)
    dialog.batch_spin.setValue(1)
    dialog.device_combo.setCurrentIndex(dialog.device_combo.findData("cpu"))
    dialog.out_edit.setText(str(out))


def _grab(widget) -> np.ndarray:
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    data = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return data[:, : image.width() * 3].reshape(image.height(), image.width(), 3)


def test_a_run_shows_its_loss_is_cancelled_then_resumed_and_its_model_loaded(
    window, qtbot, dialogs, normal_parts, tmp_path
):
    window.window_actions.finetune.trigger()
    dialog = window.casl.finetune_dialog
    qtbot.waitExposed(dialog, timeout=EXPOSE_TIMEOUT_MS)
    assert dialog.isVisible() and dialog.windowTitle() == "Fine-tune CASL"
    out = tmp_path / "nuts.safetensors"
    _fill(dialog, normal_parts, out, epochs=5)
    assert not dialog.resume_button.isEnabled(), "nothing to resume yet"
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert dialog.running() and dialog.cancel_button.isEnabled() and not dialog.start_button.isEnabled()
    qtbot.waitUntil(lambda: len(dialog.plot.epoch_losses()) >= 1, timeout=TRAIN_TIMEOUT_MS)
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: not dialog.running(), timeout=TRAIN_TIMEOUT_MS)
    moved = dialog.progress_bar.value()
    assert 0 < moved < 1000, "the bar moved and the run stopped before its end"
    assert "Cancelled" in dialog.status_label.text()
    assert dialog.start_button.isEnabled() and not dialog.cancel_button.isEnabled()
    assert resume_file(out).is_file() and dialog.resume_button.isEnabled()
    assert load_checkpoint(out).info.epoch < 5
    assert not dialog.load_button.isEnabled()
    steps_before = dialog.plot.step_count()
    assert steps_before >= 2
    curve = colour_mask(_grab(dialog.plot), _hex_rgb(STEP_COLOUR), 40).sum()
    assert curve > 20, "the loss curve is drawn"

    dialog.resume_button.click()
    qtbot.waitUntil(lambda: not dialog.running(), timeout=TRAIN_TIMEOUT_MS)
    assert dialog.status_label.text().startswith("Done: 5 epochs"), dialog.status_label.text()
    assert dialog.progress_bar.value() == 1000
    assert len(dialog.plot.epoch_losses()) == 5 and dialog.plot.step_count() > steps_before
    assert dialog.load_button.isEnabled()
    assert dialogs.shown == []

    dialog.load_button.click()
    assert window.casl.has_model
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert window.status.model_label.text() == f"Model: CASL small · {digest[:8]}"
    assert window.scorer.name == "casl"


def test_a_missing_folder_or_a_broken_scan_is_reported_and_the_dialog_stays_usable(
    window, qtbot, dialogs, normal_parts, tmp_path
):
    dialog = window.casl.show_finetune()
    _fill(dialog, tmp_path / "no-such-folder", tmp_path / "m.safetensors", epochs=1)
    dialog.start_button.click()
    assert dialogs.shown and dialogs.shown[-1][0] == "critical"
    assert "no-such-folder" in dialogs.shown[-1][2]
    assert dialog.start_button.isEnabled() and not dialog.running()

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.ply").write_bytes(
        b"ply\nformat binary_little_endian 1.0\nelement vertex 500\n"
        b"property float x\nproperty float y\nproperty float z\nend_header\n" + b"\0" * 12
    )
    _fill(dialog, broken, tmp_path / "m.safetensors", epochs=1)
    dialog.start_button.click()
    qtbot.waitUntil(lambda: len(dialogs.shown) >= 2 and not dialog.running(), timeout=60_000)
    kind, title, text = dialogs.shown[-1]
    assert kind == "critical" and title == "Fine-tuning failed" and "bad.ply" in text
    assert dialog.start_button.isEnabled() and dialog.status_label.text() == "Failed"
    window.open_scan(make_part("hex_nut", seed=1, n_points=500))
    assert len(window.state.scans) == 1, "the window still works"


def test_the_device_list_names_the_cpu_and_every_cuda_device(window):
    dialog = window.casl.show_finetune()
    specs = [dialog.device_combo.itemData(i) for i in range(dialog.device_combo.count())]
    cuda = [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    assert specs == ["auto", "cpu", *cuda]
    assert "threads" in dialog.device_combo.itemText(1)


@pytest.mark.parametrize(
    "spin, option, top", [("missing_spin", "missing_fraction", 1.0), ("dropout_spin", "point_dropout", 0.95)]
)
def test_the_sample_shares_reach_the_training_options(window, normal_parts, tmp_path, spin, option, top):
    dialog = window.casl.show_finetune()
    box = getattr(dialog, spin)
    assert box.value() == pytest.approx(getattr(FinetuneOptions(), option))
    _fill(dialog, normal_parts, tmp_path / "m.safetensors", epochs=1)
    box.setValue(0.4)
    assert getattr(dialog.request(False).options, option) == pytest.approx(0.4)
    box.setValue(1.7)  # clamped by the spin box to the valid range
    options = dialog.request(False).options
    assert getattr(options, option) == pytest.approx(top)
    options.check()


def test_annotated_open_scans_are_passed_as_labelled_samples(window, qtbot, normal_parts, tmp_path):
    scan = synthesize_defect(make_part("hex_nut", seed=7, n_points=1500), DefectKind.BULGE, np.random.default_rng(2))
    window.open_scan(scan, "annotated nut")
    defect = np.flatnonzero(scan.labels == 1)
    window.inspection.set_selection(defect, "rectangle")
    window.annotations.annotate("defect", "bulge")
    window.inspection.set_selection(np.arange(0, 300), "rectangle")
    window.annotations.annotate("normal")
    dialog = window.casl.show_finetune()
    _fill(dialog, normal_parts, tmp_path / "with-notes.safetensors", epochs=1)
    assert dialog.request(False).labelled == ()
    dialog.annotated_box.setChecked(True)
    labelled = dialog.request(False).labelled
    assert len(labelled) == 1
    labels = labelled[0][1]
    expected = np.full(len(scan), -1)
    expected[defect] = 1
    expected[:300] = 0  # the later annotation wins where they overlap
    np.testing.assert_array_equal(labels, expected)
    dialog.start_button.click()
    qtbot.waitUntil(lambda: not dialog.running(), timeout=TRAIN_TIMEOUT_MS)
    assert dialog.load_button.isEnabled(), dialog.status_label.text()
    assert load_checkpoint(tmp_path / "with-notes.safetensors").info.training["labelled_samples"] == 1
