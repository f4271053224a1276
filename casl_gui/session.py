"""One run of the application as the command line asked: what to open, colour, and capture."""

from __future__ import annotations

import argparse

from PySide6.QtCore import QObject, QSettings, QTimer, Signal

from casl_core.errors import CaslError
from casl_gui.dialogs.errors import stderr_sink
from casl_gui.main_window import MainWindow, recent_files
from casl_gui.model_jobs import warm_up_training_imports

_FIELD_ALIASES = {"rgb": "<rgb>", "labels": "<labels>", "truth": "<labels>"}


def field_key(name: str) -> str:
    """The colouring key for a command-line field name (``rgb`` and ``labels`` are special)."""
    return _FIELD_ALIASES.get(name.lower(), name)


class Session(QObject):
    """Builds the window for parsed arguments and, with ``--screenshot``, captures and quits.

    Attributes
    ----------
    window:
        The main window.
    exit_status:
        0 while nothing went wrong; 1 after an error in a scripted run.
    scripted:
        Whether it saves a screenshot or a report and quits.

    Signals
    -------
    finished(int):
        A scripted run is over (screenshot saved or given up), with its exit status.
    """

    finished = Signal(int)

    def __init__(self, args: argparse.Namespace, settings: QSettings) -> None:
        super().__init__()
        self._args = args
        self._errors: list[str] = []
        scripted = args.screenshot is not None or args.report is not None
        self.scripted = scripted
        self.window = MainWindow(settings, stderr_sink(self._errors) if scripted else None)
        self.window.ask_before_closing = not scripted
        self.exit_status = 0
        self._first_launch = not recent_files(settings)
        self._done = False
        self._picked = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._time_out)

    def start(self) -> None:
        """Show the window and start opening what was asked (the demo on a first launch)."""
        args = self._args
        w = self.window
        w.state.active_changed.connect(self._apply_fields)
        w.state.scan_updated.connect(self._apply_fields)
        w.runner.idle.connect(self._apply_fields)
        w.show()
        if args.compare:
            w.state.set_compare(True)
        if self.scripted:
            w.runner.idle.connect(self._capture_soon)
            self._timer.start(round(args.timeout * 1000))
        else:
            warm_up_training_imports()
        if args.files:
            w.open_paths(args.files)
        if args.demo or (not args.files and self._first_launch):
            w.open_demo()
        if self.scripted and not w.runner.busy():
            self._capture_soon()

    def running(self) -> bool:
        """Whether a scripted run has not finished yet."""
        return not self._done

    def _apply_fields(self) -> None:
        state = self.window.state
        if state.active_scan() is None:
            return
        if self._args.pick is not None and not self._picked:
            self._picked = True
            try:
                state.set_pick(self._args.pick)
                self.window.fly_to_pick()
            except CaslError as exc:
                self._report("Cannot pick", str(exc))
        try:
            if self._args.color:
                state.set_field(field_key(self._args.color))
            if self._args.right:
                state.set_second_field(field_key(self._args.right))
        except CaslError as exc:
            if not self.window.runner.busy():  # curvature may still be on its way
                self._report("Cannot colour", str(exc))

    def _report(self, title: str, message: str) -> None:
        self.exit_status = 1
        self.window.report_error(title, message)

    def _capture_soon(self) -> None:
        QTimer.singleShot(100, self._capture)

    def _capture(self) -> None:
        if self._done or self.window.runner.busy():
            return  # the next idle tries again
        self._done = True
        if self.window.state.active_scan() is None:
            if not self._errors:
                self._report("Nothing to show", "no scan was opened")
        else:
            try:
                if self._args.screenshot is not None:
                    self.window.save_screenshot(self._args.screenshot, self._args.screenshot_target)
            except CaslError as exc:
                self._report("Cannot save the screenshot", str(exc))
            try:
                if self._args.report is not None:
                    self.window.save_report(self._args.report)
            except CaslError as exc:
                self._report("Cannot write the report", str(exc))
        if self._errors:
            self.exit_status = 1
        self._quit()

    def _time_out(self) -> None:
        if not self._done:
            self._done = True
            self._report("Timed out", f"loading took longer than {self._args.timeout:g} s")
            self._quit()

    def _quit(self) -> None:
        self._timer.stop()
        self.window.close()
        self.finished.emit(self.exit_status)
