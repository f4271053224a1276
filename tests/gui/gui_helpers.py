"""Helpers for GUI tests: waiting for background loads, reading pixels, recording dialogs."""

from __future__ import annotations

import gc
from dataclasses import dataclass, field

import numpy as np
from matplotlib import colormaps
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication, QMessageBox
from scipy.spatial import cKDTree

LOAD_TIMEOUT_MS = 60_000
#: How long a new window may take to appear: on a loaded two-core machine the first one, with
#: its OpenGL set-up, has taken longer than pytest-qt's default of 5 s.
EXPOSE_TIMEOUT_MS = 60_000


@dataclass
class DialogLog:
    """Message boxes that were asked for: ``(kind, title, text)`` each."""

    shown: list[tuple[str, str, str]] = field(default_factory=list)

    def recorder(self, kind: str):
        def record(_parent, title, text, *args, **kwargs):
            self.shown.append((kind, str(title), str(text)))
            return QMessageBox.StandardButton.Ok

        return record


def wait_loaded(qtbot, window, scans: int) -> None:
    """Wait until ``scans`` scans are open and no background job is left."""
    qtbot.waitUntil(lambda: len(window.state.scans) >= scans and not window.runner.busy(), timeout=LOAD_TIMEOUT_MS)


def wait_failed(qtbot, dialogs: DialogLog, count: int = 1) -> None:
    """Wait until ``count`` error dialogs were shown."""
    qtbot.waitUntil(lambda: len(dialogs.shown) >= count, timeout=LOAD_TIMEOUT_MS)


def colour_map_mask(image: np.ndarray, cmap: str, tolerance: float = 10.0) -> np.ndarray:
    """Pixels of an ``(H, W, 3)`` image whose colour is one of the colour map's (unlit points)."""
    lut = colormaps[cmap](np.linspace(0.0, 1.0, 256))[:, :3] * 255.0
    distance, _ = cKDTree(lut).query(image.reshape(-1, 3).astype(np.float64))
    return (distance <= tolerance).reshape(image.shape[:2])


def background_mask(image: np.ndarray, tolerance: float = 16.0) -> np.ndarray:
    """Pixels that look like the viewport's neutral background (grey, nearly unsaturated)."""
    img = image.astype(np.int16)
    spread = img.max(axis=2) - img.min(axis=2)
    return (spread <= tolerance) & (img.max(axis=2) < 90)


def colour_mask(image: np.ndarray, rgb: tuple[int, int, int], tolerance: float = 30.0) -> np.ndarray:
    """Pixels close to one colour."""
    d = np.sqrt(((image.astype(np.float32) - np.asarray(rgb, np.float32)) ** 2).sum(-1))
    return d <= tolerance


def finalise_closed_widgets() -> None:
    """Delete closed widgets and collect their Python wrappers now, while the display is known good.

    Left to the garbage collector, a closed window's 3D view would be freed at some
    allocation in a later test, where a fault could not be told from that test's own.
    """
    for _ in range(2):
        QApplication.processEvents()
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
        gc.collect()


def menu_action(window, menu_title: str, text: str):
    """The action ``menu_title > text`` of the window's menu bar (mnemonics ignored)."""
    menu_title, text = menu_title.replace("&", ""), text.replace("&", "")
    for menu in window.menuBar().actions():
        if menu.text().replace("&", "") == menu_title:
            for action in menu.menu().actions():
                if action.text().replace("&", "") == text:
                    return action
    raise AssertionError(f"no {menu_title} > {text}")


def settled(window) -> bool:
    """Whether the window has no job queued or running, and no verdict or region search pending."""
    return not window.runner.busy() and not window.verdicts.busy() and not window.region_finder.busy()
