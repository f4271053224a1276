"""Fixtures for GUI tests: a display check, private settings, captured dialogs, a main window.

These tests render with VTK, so they need an X display with OpenGL (``xvfb-run -a -s
"-screen 0 1600x1200x24"``); ``QT_QPA_PLATFORM=offscreen`` cannot render the 3D view.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_API", "pyside6")

from pathlib import Path  # noqa: E402 - after QT_API is set, so that pyvistaqt picks PySide6

import pytest  # noqa: E402 - after QT_API is set, so that pyvistaqt picks PySide6
from gui_helpers import EXPOSE_TIMEOUT_MS, DialogLog, finalise_closed_widgets  # noqa: E402 - after QT_API is set, so that pyvistaqt picks PySide6
from PySide6.QtCore import QSettings  # noqa: E402 - after QT_API is set, so that pyvistaqt picks PySide6
from PySide6.QtWidgets import QMessageBox  # noqa: E402 - after QT_API is set, so that pyvistaqt picks PySide6

_HERE = Path(__file__).resolve().parent


def _no_display_reason() -> str:
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        return "QT_QPA_PLATFORM=offscreen cannot render the 3D view: run the GUI tests under xvfb-run"
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display: run the GUI tests under xvfb-run -a -s '-screen 0 1600x1200x24'"
    return ""


def pytest_collection_modifyitems(config, items):
    """Skip the tests of this folder, saying why, when there is no display to render on."""
    reason = _no_display_reason()
    if reason:
        for item in items:
            if _HERE in Path(item.path).resolve().parents:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def settings(tmp_path, qapp):
    """The application's settings store, redirected to a temporary folder."""
    from casl_gui.app import make_settings

    folder = tmp_path / "settings"
    folder.mkdir()
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    store = make_settings()
    if not store.fileName().startswith(str(folder)):
        pytest.fail(f"settings would be written to {store.fileName()}, not the test folder")
    yield store


@pytest.fixture
def dialogs(monkeypatch) -> DialogLog:
    """Message boxes are recorded instead of shown (they would block the test)."""
    log = DialogLog()
    for kind in ("critical", "warning", "information", "question"):
        monkeypatch.setattr(QMessageBox, kind, log.recorder(kind))
    return log


@pytest.fixture
def window(qtbot, settings, dialogs):
    """A shown main window with no scan; closed (and its 3D view finalised) afterwards."""
    from casl_gui.main_window import MainWindow

    win = MainWindow(settings)
    try:
        win.resize(1200, 800)
        win.show()
        qtbot.waitExposed(win, timeout=EXPOSE_TIMEOUT_MS)
        yield win
    finally:
        # also when the window never appeared: a half-set-up 3D view left behind would
        # crash a later test
        win.close()
        win.deleteLater()
        finalise_closed_widgets()


@pytest.fixture(scope="session")
def normal_parts(tmp_path_factory):
    """A folder of three normal procedural hex nuts (2,000 points each), written as PLY."""
    from casl_core.io import write_scan
    from casl_core.synth.parts import make_part

    folder = tmp_path_factory.mktemp("normal_parts")
    for seed in range(3):
        write_scan(make_part("hex_nut", seed=seed, n_points=2000), folder / f"nut_{seed}.ply")
    return folder


@pytest.fixture(scope="session")
def tiny_checkpoint(normal_parts, tmp_path_factory):
    """A CASL checkpoint fine-tuned for one epoch on :func:`normal_parts` (seconds on a CPU)."""
    from casl_core.train.finetune import FinetuneOptions, finetune

    out = tmp_path_factory.mktemp("tiny_model") / "tiny.safetensors"
    options = FinetuneOptions(epochs=1, batch_size=1, max_points=None, val_samples=1, config="small")
    return finetune([normal_parts], out, options=options, device="cpu", use_bundled=False).checkpoint
