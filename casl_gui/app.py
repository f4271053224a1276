"""The ``casl-gui`` entry point: arguments, QApplication, settings, scripted screenshots.

``casl-gui [FILES...] [--demo] [--color FIELD] [--compare] [--right FIELD] [--pick INDEX]
[--screenshot OUT.png] [--report OUT.html|OUT.pdf]`` opens the files (and folders), waits for
reading, curvature and regions to finish, and with ``--screenshot`` saves the window (or the
3D view), with ``--report`` writes an inspection report of the scan on show, and exits: 0 on
success, 1 with a one-line message on stderr when a file could not be opened, a field or
point is unknown, or the image or report could not be written.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

#: QSettings organisation and application names (the user's settings live under them).
ORGANISATION = "CASL Inspector"
APPLICATION = "casl-gui"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line (``argv`` without the program name)."""
    parser = argparse.ArgumentParser(
        prog="casl-gui", description="CASL Inspector: look at 3D scans coloured by curvature and CASL score."
    )
    parser.add_argument("files", nargs="*", help="scan files or folders of scans to open")
    parser.add_argument("--demo", action="store_true", help="open the built-in demo part")
    parser.add_argument(
        "--color",
        "--colour",
        dest="color",
        metavar="FIELD",
        help="field to colour by: rgb, labels, casl_score, curvature_s16, ...",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="two linked views: FIELD on the left, CASL score (or --right) on the right",
    )
    parser.add_argument("--right", metavar="FIELD", help="field of the right view in compare mode")
    parser.add_argument(
        "--pick", type=int, metavar="INDEX", help="pick this point of the first scan and turn the camera to face it"
    )
    parser.add_argument(
        "--screenshot", metavar="OUT.png", help="save a screenshot once everything is loaded, then exit"
    )
    parser.add_argument(
        "--report",
        metavar="OUT.html|OUT.pdf",
        help="write an inspection report (HTML or PDF) once everything is loaded, then exit",
    )
    parser.add_argument(
        "--screenshot-target",
        choices=("window", "viewport"),
        default="window",
        help="what --screenshot captures (default: the whole window)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="with --screenshot: give up after this long (default 600)",
    )
    return parser.parse_args(argv)


def make_settings():
    """The user's settings store (QSettings under :data:`ORGANISATION`/:data:`APPLICATION`)."""
    from PySide6.QtCore import QSettings

    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANISATION, APPLICATION)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the application; returns the process exit status."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("QT_API", "pyside6")
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    from casl_gui.bindings import MISCOUNT_WARNING, void_calls_lose_references
    from casl_gui.session import Session

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "casl-gui"])
    if void_calls_lose_references():
        import PySide6

        print(MISCOUNT_WARNING.format(version=PySide6.__version__), file=sys.stderr)
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    session = Session(args, make_settings())
    if not session.scripted:
        session.start()
        return app.exec()
    # A local loop, not app.exec()/exit(): exit() would also end every later event loop.
    loop = QEventLoop()
    session.finished.connect(loop.exit)
    session.start()
    if session.running():
        loop.exec()
    return session.exit_status


if __name__ == "__main__":
    sys.exit(main())
