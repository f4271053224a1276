"""How the GUI tells a person something went wrong, without leaving the app unusable."""

from __future__ import annotations

import sys
from collections.abc import Callable

from PySide6.QtWidgets import QMessageBox, QWidget

#: Receives ``(title, message)``; the window calls it for every user-facing error.
ErrorSink = Callable[[str, str], None]


def dialog_sink(parent: QWidget) -> ErrorSink:
    """Errors shown in a modal message box over ``parent``."""

    def show(title: str, message: str) -> None:
        QMessageBox.critical(parent, title, message)

    return show


def stderr_sink(collected: list[str]) -> ErrorSink:
    """Errors printed on one line to stderr and kept in ``collected`` (scripted runs)."""

    def show(title: str, message: str) -> None:
        line = f"casl-gui: {title}: {message}".replace("\n", " ")
        collected.append(line)
        print(line, file=sys.stderr)

    return show
