"""The demo in the window: once the demo flange is on show, it is inspected as a real part would be.

Its exact CAD model becomes the reference (deviation scoring in the background), the
deviation is calibrated on good flanges of the same part, and that calibration is applied,
so the demo opens on the scorer of record (coloured by signed deviation) with its defect
region listed first. The bundled CASL model, when shipped, scores the demo too (for
compare mode), but without a calibration it cannot decide the verdict.
"""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import QObject

from casl_core.demo import DEMO_REFERENCE, calibrate_demo, demo_reference
from casl_gui.reference_controller import ReferenceController
from casl_gui.verdict_controller import VerdictController
from casl_gui.workers import JobRunner


class DemoController(QObject):
    """Sets the demo's CAD reference and calibrates the deviation on good flanges when the demo opens."""

    def __init__(
        self, reference: ReferenceController, verdicts: VerdictController, runner: JobRunner, report_error, parent=None
    ) -> None:
        super().__init__(parent)
        self._reference = reference
        self._verdicts = verdicts
        self._runner = runner
        self._report_error = report_error
        self._seed: int | None = None
        reference.scorer_ready.connect(self._scorer_ready)

    def inspect(self, seed: int = 0) -> None:
        """Use the demo flange's CAD model as the reference; calibration follows when the scorer is ready."""
        self._seed = seed
        self._reference.set_reference([demo_reference(seed)], DEMO_REFERENCE)

    def _scorer_ready(self, scorer) -> None:
        if self._seed is None or self._reference.name != DEMO_REFERENCE:
            return
        seed, self._seed = self._seed, None
        self._runner.submit(
            "Calibrating the deviation on good demo flanges",
            partial(_calibrate, scorer, seed),
            self._verdicts.set_calibration,
            partial(self._report_error, "Cannot calibrate the demo"),
        )


def _calibrate(scorer, seed: int, progress, cancel):
    return calibrate_demo(scorer, seed, progress=progress, cancel=cancel)
