"""The CASL model in the window: loading a checkpoint, scoring open scans, fine-tuning, the demo model."""

from __future__ import annotations

import dataclasses
import os
from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QStandardPaths, Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from casl_core.annotations import scan_point_labels
from casl_core.errors import CaslError
from casl_core.fields import normalised_field
from casl_core.scan import Scan
from casl_core.scorers.curvature import CurvatureBaseline
from casl_gui import model_jobs
from casl_gui.colouring import CASL_SCORE
from casl_gui.dialogs.finetune import FinetuneDialog
from casl_gui.inspection import InspectionState
from casl_gui.job_registry import JobKind, JobRegistry
from casl_gui.state import AppState
from casl_gui.status_bar import StatusBar
from casl_gui.workers import JobRunner

#: File name of the demo model in the application's data folder.
DEMO_MODEL_NAME = "demo-casl-model.safetensors"


def default_demo_model_path() -> Path:
    """Where Help > Demo CASL model keeps its checkpoint (the application's data folder)."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".casl-inspector") / DEMO_MODEL_NAME


class CaslController(QObject):
    """Holds the scorer (the curvature baseline until a CASL checkpoint is loaded) and runs
    the model's jobs: scoring open scans on the window's runner, fine-tuning in its dialog,
    and the demo model on a training runner of its own (so scans still open meanwhile).

    Parameters
    ----------
    window:
        Parent of dialogs; its ``report_error(title, message)`` shows errors and its
        ``runner`` runs scoring jobs.

    Signals
    -------
    model_changed():
        A CASL checkpoint was loaded.
    """

    model_changed = Signal()

    def __init__(
        self,
        window: QWidget,
        state: AppState,
        inspection: InspectionState,
        runner: JobRunner,
        status: StatusBar,
        registry: JobRegistry,
    ) -> None:
        super().__init__(window)
        self._window = window
        self._state = state
        self._inspection = inspection
        self._runner = runner
        self._status = status
        self.scorer = CurvatureBaseline()
        self.fingerprint: model_jobs.ModelFingerprint | None = None
        self._registry = registry
        self.train_runner = JobRunner(self, registry=registry, kind=JobKind.TRAINING)
        self.finetune_dialog: FinetuneDialog | None = None
        self.demo_model_path = default_demo_model_path()

    # -- the model ---------------------------------------------------------------------

    @property
    def has_model(self) -> bool:
        """Whether a CASL checkpoint is loaded."""
        return self.fingerprint is not None

    def choose_checkpoint(self) -> None:
        """Ask for a fine-tuned CASL checkpoint and load it."""
        path, _ = QFileDialog.getOpenFileName(self._window, "CASL checkpoint", "", "safetensors (*.safetensors)")
        if path:
            self.load_checkpoint(path)

    def load_checkpoint(self, path: str | os.PathLike[str], *, rescore: bool = True) -> bool:
        """Use a fine-tuned checkpoint as the scorer; errors go to a dialog. True when loaded.

        The previous model's scores are taken off every open scan at once (they must never
        show under the new model's name); with ``rescore``, the scans that had them are
        scored again with the new model in the background.
        """
        try:
            from casl_core.scorers.casl import CaslScorer

            scorer = CaslScorer(path, device="auto")
            fingerprint = model_jobs.model_fingerprint(path)
        except (CaslError, OSError) as exc:
            self._window.report_error("Cannot load the checkpoint", str(exc))
            return False
        self.scorer, self.fingerprint = scorer, fingerprint
        cleared = self._clear_scores()
        self._status.show_model(f"CASL {fingerprint.short}", str(fingerprint.path))
        self.model_changed.emit()
        if cleared and rescore:
            self.score_open_scans()
        return True

    def _clear_scores(self) -> bool:
        """Drop the CASL score (and its calibrated twin) from every open scan; True if any had one."""
        stale = (CASL_SCORE, normalised_field(CASL_SCORE))
        cleared = False
        for entry in self._state.scans:
            if any(name in entry.scan.fields for name in stale):
                kept = {n: v for n, v in entry.scan.fields.items() if n not in stale}
                self._state.replace_scan(entry.key, dataclasses.replace(entry.scan, fields=kept))
                cleared = True
        return cleared

    def score_open_scans(self) -> None:
        """Add the CASL score to every open scan in the background (progress and cancel in the status bar)."""
        if not self.has_model:
            self._window.report_error(
                "No CASL model",
                "load a fine-tuned checkpoint first (Model > Load CASL "
                "checkpoint…), or fine-tune one (Tools > Fine-tune CASL…)",
            )
            return
        scans = [(e.key, e.scan) for e in self._state.scans]
        if not scans:
            return
        self._runner.submit(
            "Scoring with CASL",
            partial(model_jobs.score_scans, self.scorer, scans),
            partial(self._scored, self.scorer),
            partial(self._window.report_error, "CASL scoring failed"),
        )

    def _scored(self, scorer, scored: dict[int, Scan]) -> None:
        if scorer is not self.scorer:
            return  # another model was loaded meanwhile: these scores are not its
        open_now = {e.key: e.scan for e in self._state.scans}
        for key, result in scored.items():
            current = open_now.get(key)
            if current is not None and len(current) == len(result):
                # the scan may have gained curvature since it was handed to the job: keep its fields
                self._state.replace_scan(key, current.with_fields(**{CASL_SCORE: result.fields[CASL_SCORE]}))

    def score_demo_with_bundled_model(self) -> None:
        """With no model loaded yet, load the bundled demo model (if shipped) and score the open scans."""
        from casl_core.bundled import DEMO_MODEL, bundled_file

        path = bundled_file(DEMO_MODEL)
        if path is not None and not self.has_model:
            self.load_and_score(path)

    def load_and_score(self, path: str | os.PathLike[str]) -> None:
        """Load a checkpoint and, when it loads, score the open scans with it."""
        if self.load_checkpoint(path, rescore=False):
            self.score_open_scans()

    # -- fine-tuning -------------------------------------------------------------------

    def annotated_scans(self) -> list[tuple[Scan, np.ndarray]]:
        """``(scan, labels)`` of every open scan with at least one annotated point."""
        out = []
        for entry in self._state.scans:
            notes = self._inspection.annotations(entry.key)
            if notes is None or not notes.annotations:
                continue
            try:
                labels = scan_point_labels(notes, entry.scan)
            except CaslError as exc:
                self._window.report_error(f"Annotations of {entry.name} left out", str(exc))
                continue
            if (labels >= 0).any():
                out.append((entry.scan, labels))
        return out

    def show_finetune(self) -> FinetuneDialog:
        """Show the fine-tune dialog (one per window; a run goes on while it is hidden)."""
        if self.finetune_dialog is None:
            self.finetune_dialog = FinetuneDialog(
                self.annotated_scans, self._window.report_error, self._window, registry=self._registry
            )
            self.finetune_dialog.load_requested.connect(self.load_and_score)
        self.finetune_dialog.show()
        self.finetune_dialog.raise_()
        return self.finetune_dialog

    def make_demo_model(self, options=model_jobs.DEMO_OPTIONS) -> None:
        """Help > Demo CASL model: load the demo model, fine-tuning it first (in the background) if needed.

        When it is ready, it is loaded and the open scans are scored.
        """
        out = self.demo_model_path
        if out.is_file():
            self.load_and_score(out)
            return
        if self.train_runner.busy():
            return
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._window.report_error("Cannot make the demo model", f"{out.parent}: {exc}")
            return
        self.train_runner.submit(
            "Fine-tuning the demo CASL model",
            partial(model_jobs.demo_model, out, options=options),
            self.load_and_score,
            partial(self._window.report_error, "Demo model failed"),
        )

    def shutdown(self) -> None:
        """Stop training jobs and wait for them (the window is closing)."""
        if self.finetune_dialog is not None:
            self.finetune_dialog.shutdown()
            self.finetune_dialog.close()
        self.train_runner.shutdown()
