"""Opening scans in the background: files, folders, the demo, and the recent-files list."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, QSettings
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from casl_core.fields import CURVATURE_SCORE
from casl_core.scan import Scan
from casl_gui import jobs
from casl_gui.state import AppState
from casl_gui.workers import JobRunner

_RECENT_KEY = "recent/files"
_MAX_RECENT = 10


def recent_files(settings: QSettings) -> list[str]:
    """The recently opened scan paths stored in ``settings``, newest first."""
    value = settings.value(_RECENT_KEY, [])
    if isinstance(value, str):
        value = [value] if value else []
    return [str(v) for v in (value or [])]


class ScanOpener(QObject):
    """Reads scans on the runner, shows each at once, then adds its curvature in the background.

    Parameters
    ----------
    window:
        Parent of file dialogs; its ``report_error(title, message)`` shows failures.
    alive:
        Returns False once the window is closing (late results are then dropped).
    """

    def __init__(
        self, window: QWidget, state: AppState, runner: JobRunner, settings: QSettings, alive: Callable[[], bool]
    ) -> None:
        super().__init__(window)
        self._window = window
        self._state = state
        self._runner = runner
        self._settings = settings
        self._alive = alive
        #: Called (no argument) once the demo part is shown.
        self.demo_opened: Callable[[], None] | None = None

    def open_paths(self, paths: list[str | os.PathLike[str]]) -> None:
        """Open scan files, and the scan files directly inside folders, in the background."""
        for path in paths:
            p = Path(path)
            if p.is_dir():
                found = jobs.scans_in_folder(p)
                if not found:
                    self._window.report_error("Nothing to open", f"{p}: no scan file in this folder")
                for f in found:
                    self._open_file(f)
            else:
                self._open_file(p)

    def _open_file(self, path: Path) -> None:
        self._runner.submit(
            f"Opening {path.name}",
            partial(jobs.read_only, path),
            partial(self._loaded, str(path)),
            partial(self._failed, str(path)),
        )

    def open_demo(self) -> None:
        """Open the procedural demo part in the background."""
        self._runner.submit("Making the demo part", jobs.open_demo, self._demo_loaded, partial(self._failed, "demo"))

    def _demo_loaded(self, scan: Scan) -> None:
        if self._alive():
            self.add_then_curvature(scan, "demo flange")
            if self.demo_opened is not None:
                self.demo_opened()

    def add_then_curvature(self, scan: Scan, name: str | None = None, field: str | None = None) -> int:
        """Show a scan at once (coloured by ``field``, else by what it has), then add its curvature
        in the background.
        """
        key = self._state.add_scan(scan, name, field)
        if not jobs.has_curvature(scan) or CURVATURE_SCORE not in scan.fields:
            title = f"Curvature of {self._state.entry(key).name}"
            self._runner.submit(
                title,
                partial(jobs.add_curvature_job, scan),
                partial(self._curvature_done, key),
                partial(self._failed, scan.metadata.source or "demo"),
            )
        return key

    def open_scored(self, path: str | os.PathLike[str], scorer) -> None:
        """Open a scan file scored by ``scorer`` and coloured by that score (a batch row)."""
        from casl_core.fields import score_field

        p = Path(path)
        self._runner.submit(
            f"Opening {p.name} scored by {scorer.name}",
            partial(jobs.read_and_score, p, scorer),
            lambda scan: self._alive() and self.add_then_curvature(scan, field=score_field(scorer.name)),
            partial(self._failed, str(p)),
        )

    def _curvature_done(self, key: int, scan: Scan) -> None:
        if not self._alive() or key not in {e.key for e in self._state.scans}:
            return
        current = self._state.entry(key).scan
        # keep what arrived meanwhile (a CASL score) next to the new curvature fields
        extra = {n: v for n, v in current.fields.items() if n not in scan.fields}
        self._state.replace_scan(key, scan.with_fields(**extra) if extra else scan)

    def _loaded(self, path: str, scan: Scan) -> None:
        if not self._alive():
            return
        self.add_then_curvature(scan)
        self._remember(path)

    def _failed(self, path: str, message: str) -> None:
        name = "the demo" if path == "demo" else os.path.basename(path)
        self._window.report_error(f"Cannot open {name}", message)

    # -- recent files and dialogs ------------------------------------------------------

    def _remember(self, path: str) -> None:
        full = os.path.abspath(path)
        files = [full] + [f for f in recent_files(self._settings) if f != full]
        self._settings.setValue(_RECENT_KEY, files[:_MAX_RECENT])

    def fill_recent(self, menu: QMenu) -> None:
        """Fill a menu with the recent files (or a disabled "(none)")."""
        menu.clear()
        for path in recent_files(self._settings):
            action = menu.addAction(path)
            action.triggered.connect(partial(self.open_paths, [path]))
        if menu.isEmpty():
            menu.addAction("(none)").setEnabled(False)

    def choose_files(self) -> None:
        """Ask for scan files and open them."""
        patterns = " ".join(f"*{s}" for s in jobs.scan_suffixes())
        paths, _ = QFileDialog.getOpenFileNames(self._window, "Open scans", "", f"Scans ({patterns});;All files (*)")
        self.open_paths(paths)

    def choose_folder(self) -> None:
        """Ask for a folder and open the scans in it."""
        folder = QFileDialog.getExistingDirectory(self._window, "Open a folder of scans")
        if folder:
            self.open_paths([folder])
