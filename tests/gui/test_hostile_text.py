"""Any text in any field of any dialog gives a clear message or nothing, never a traceback."""

from __future__ import annotations

import sys

import pytest
from gui_helpers import EXPOSE_TIMEOUT_MS
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

pytestmark = [pytest.mark.gui, pytest.mark.timeout(300), pytest.mark.qt_no_exception_capture]


def hostile_texts(tmp_path) -> dict[str, str]:
    """Texts a person may type or paste into a path field."""
    folder = tmp_path / "a folder"
    folder.mkdir(exist_ok=True)
    return {
        "root": "/",
        "empty": "",
        "parent": "..",
        "directory": str(folder),
        "missing folder": str(tmp_path / "no such folder" / "out.safetensors"),
        "very long": "x" * 5000,
        "newline": "first line\nsecond.safetensors",
        "spaces": "   ",
    }


@pytest.fixture
def uncaught(monkeypatch):
    """Exceptions that reach ``sys.excepthook`` (a traceback the person would see), recorded."""
    seen: list[str] = []
    monkeypatch.setattr(sys, "excepthook", lambda kind, value, tb: seen.append(f"{kind.__name__}: {value}"))
    return seen


def _click(qtbot, button) -> None:
    if button.isEnabled():
        QTest.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.wait(10)


def test_every_fine_tune_field_takes_any_text(window, qtbot, dialogs, uncaught, normal_parts, tmp_path):
    window.window_actions.finetune.trigger()
    dialog = window.casl.finetune_dialog
    qtbot.waitExposed(dialog, timeout=EXPOSE_TIMEOUT_MS)
    dialog.epochs_spin.setValue(1)
    dialog.device_combo.setCurrentIndex(dialog.device_combo.findData("cpu"))
    valid = {
        dialog.folder_edit: str(normal_parts),
        dialog.init_edit: "",
        dialog.out_edit: str(tmp_path / "ok.safetensors"),
    }
    for field in valid:
        for name, text in hostile_texts(tmp_path).items():
            for other, good in valid.items():
                other.setText(good)
            field.clear()
            if len(text) < 100 and "\n" not in text:
                QTest.keyClicks(field, text)  # typed as a person would
            else:
                field.setText(text)  # pasted
            _click(qtbot, dialog.resume_button)
            _click(qtbot, dialog.start_button)
            if dialog.running():  # the text was valid (an empty base checkpoint: the bundled one)
                _click(qtbot, dialog.cancel_button)
                qtbot.waitUntil(lambda: not dialog.running(), timeout=240_000)
            assert uncaught == [], f"{field.placeholderText()!r} = {name}: {uncaught}"
    for _kind, title, message in dialogs.shown:
        assert "Traceback" not in message and len(message) < 400, (title, message)
        assert "\n" not in message, "the message quotes the text on one line"
    messages = " ".join(m for _k, _t, m in dialogs.shown)
    for words in (
        "does not exist",
        "base checkpoint not found",
        "must be a file, not a folder",
        "folder does not exist",
    ):
        assert words in messages


def test_the_batch_folder_field_takes_any_text(window, qtbot, dialogs, uncaught, tmp_path):
    dialog = window.batch.show_batch()
    qtbot.waitExposed(dialog, timeout=EXPOSE_TIMEOUT_MS)
    for name, text in hostile_texts(tmp_path).items():
        dialog.folder_edit.setText(text)
        _click(qtbot, dialog.run_button)
        qtbot.waitUntil(lambda: not dialog.running(), timeout=60_000)
        assert uncaught == [], f"{name}: {uncaught}"
        assert dialog.errors_label.text(), f"{name}: the batch says why nothing ran"
        assert len(dialog.errors_label.text()) < 400
    _click(qtbot, dialog.export_button)
    assert uncaught == []


def test_the_annotation_note_takes_any_text(window, qtbot, uncaught):
    from casl_core.geometry import add_curvature
    from casl_core.synth.parts import make_part

    window.open_scan(add_curvature(make_part("hex_nut", seed=2, n_points=1500)), name="nut")
    dock = window.regions_dock
    for text in ("", "/", "x" * 5000, "line\nbreak", "\x00", ".."):
        window.inspection.set_selection([1, 2, 3], "rectangle")
        dock.note_edit.setText(text)
        QTest.mouseClick(dock.defect_button, Qt.MouseButton.LeftButton)
        assert uncaught == [], f"{text[:20]!r}: {uncaught}"
    assert len(window.inspection.annotations(window.state.active_key).annotations) == 6
