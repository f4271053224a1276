"""Render the README screenshots of CASL in the GUI: the fine-tune dialog, curvature vs CASL, agreement.

Run under a display from the repository root, with a fine-tuned checkpoint of the demo family
(Help > Demo CASL model writes one; so does ``casl_gui.model_jobs.demo_model``)::

    xvfb-run -a -s "-screen 0 1600x1200x24" .venv/bin/python docs/img/make_screenshots.py CHECKPOINT
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_API", "pyside6")

import numpy as np  # noqa: E402 - after QT_API is set, so that pyvistaqt picks PySide6
from PySide6.QtCore import QSettings  # noqa: E402 - after QT_API is set, so that pyvistaqt picks PySide6
from PySide6.QtWidgets import QApplication  # noqa: E402 - after QT_API is set, so that pyvistaqt picks PySide6

HERE = Path(__file__).resolve().parent


def wait_for(app: QApplication, condition, timeout: float = 900.0) -> None:
    """Run the event loop until ``condition()`` holds."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("gave up waiting")
        app.processEvents()
        time.sleep(0.01)


def main(checkpoint: str) -> None:
    from casl_gui.colouring import AGREEMENT, BASELINE_SCORE
    from casl_gui.main_window import MainWindow
    from casl_gui.model_jobs import write_demo_parts

    app = QApplication.instance() or QApplication(sys.argv[:1])
    scratch = Path(tempfile.mkdtemp(prefix="casl-shots-"))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(scratch))
    window = MainWindow(QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "casl", "shots"))
    window.resize(1500, 950)
    window.show()
    window.open_demo()
    wait_for(app, lambda: window.state.scans and not window.runner.busy())
    window.casl.load_and_score(checkpoint)
    wait_for(app, lambda: not window.runner.busy())
    state = window.state
    scan = state.active_scan()
    state.set_field(BASELINE_SCORE)
    state.set_compare(True)
    defect = np.flatnonzero(scan.labels == 1)
    centre = scan.points[defect].mean(axis=0)
    state.set_pick(int(defect[np.argmin(np.linalg.norm(scan.points[defect] - centre, axis=1))]))
    window.fly_to_pick()
    wait_for(app, lambda: not window.runner.busy())
    window.save_screenshot(HERE / "compare_casl.png")
    state.set_compare(False)
    state.set_field(AGREEMENT)
    window.fly_to_pick()
    wait_for(app, lambda: not window.runner.busy())
    window.save_screenshot(HERE / "agreement.png")

    dialog = window.casl.show_finetune()
    dialog.resize(720, 620)
    write_demo_parts(scratch / "normal", count=4, n_points=4000)
    dialog.folder_edit.setText(str(scratch / "normal"))
    dialog.epochs_spin.setValue(12)
    dialog.missing_spin.setValue(0.25)
    dialog.device_combo.setCurrentIndex(dialog.device_combo.findData("cpu"))
    dialog.start()
    wait_for(app, lambda: len(dialog.plot.epoch_losses()) >= 5)
    dialog.grab().save(str(HERE / "finetune_dialog.png"))
    dialog.cancel()
    wait_for(app, lambda: not dialog.running())
    window.close()


if __name__ == "__main__":
    main(sys.argv[1])
