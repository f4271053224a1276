"""The status bar: compute device, point count, the running work and training, each with a cancel button.

It follows the window's :class:`~casl_gui.job_registry.JobRegistry` (:meth:`StatusBar.follow`),
so a training run shows here whichever runner started it, also while its dialog is closed.
"""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QToolButton, QWidget

from casl_core.progress import Progress
from casl_gui.job_registry import JobEntry, JobKind, JobRegistry


def device_description() -> str:
    """``"CPU"``, or the name of the first CUDA device torch sees."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return "CPU"


class StatusBar(QStatusBar):
    """Shows the device, the active scan's point count and the progress of the running job.

    The ``cancel_button`` is shown only while a job runs; the window connects it.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job_label = QLabel("")
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(180)
        self.progress_bar.setTextVisible(True)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.points_label = QLabel("No scan")
        self.verdict_label = QLabel("")
        self.device_label = QLabel(f"Device: {device_description()}")
        self.model_label = QLabel("Model: curvature baseline")
        self.model_label.setToolTip("The scorer of batches and reports; load a CASL checkpoint from the Model menu")
        self.train_label = QLabel("")
        self.train_bar = QProgressBar()
        self.train_bar.setMaximumWidth(140)
        self.train_cancel_button = QToolButton()
        self.train_cancel_button.setText("Stop training")
        self.addWidget(self.job_label, 1)
        for w in (
            self.train_label,
            self.train_bar,
            self.train_cancel_button,
            self.progress_bar,
            self.cancel_button,
            self.verdict_label,
            self.points_label,
            self.model_label,
            self.device_label,
        ):
            self.addPermanentWidget(w)
        self.job_idle()
        self.training_idle()
        self._registry: JobRegistry | None = None

    def follow(self, registry: JobRegistry) -> None:
        """Show the jobs of ``registry`` from now on; the cancel buttons cancel through it."""
        self._registry = registry
        registry.changed.connect(self._jobs_changed)
        registry.progressed.connect(self._job_progressed)
        self.cancel_button.clicked.connect(lambda: self._cancel(JobKind.WORK))
        self.train_cancel_button.clicked.connect(lambda: self._cancel(JobKind.TRAINING))
        self._jobs_changed()

    def _cancel(self, kind: JobKind) -> None:
        if self._registry is not None:
            self._registry.cancel(kind)
        (self.cancel_button if kind is JobKind.WORK else self.train_cancel_button).setEnabled(False)

    def _jobs_changed(self) -> None:
        registry = self._registry
        if registry is None:
            return
        work, training = registry.entries(JobKind.WORK), registry.entries(JobKind.TRAINING)
        if work:
            if self.cancel_button.isHidden():
                self.job_started(work[0].title)
            else:
                self.job_label.setText(work[0].title)
        else:
            self.job_idle()
        if training:
            if self.train_label.isHidden():
                self.training_started(f"Training: {training[0].title}")
        else:
            self.training_idle()

    def _job_progressed(self, entry: JobEntry) -> None:
        registry = self._registry
        if registry is None or entry.progress is None:
            return
        if entry.kind is JobKind.TRAINING:
            if registry.entries(JobKind.TRAINING)[:1] == [entry]:
                self.training_progress(entry.progress)
        elif registry.entries(JobKind.WORK)[:1] == [entry]:
            self.job_progress(entry.progress)

    def job_started(self, title: str) -> None:
        """A job started: show its title and a busy bar."""
        self.job_label.setText(title)
        self.progress_bar.setRange(0, 0)
        self.progress_bar.show()
        self.cancel_button.show()
        self.cancel_button.setEnabled(True)

    def job_progress(self, progress: Progress) -> None:
        """Show a progress report of the running job."""
        if progress.total > 0:
            self.progress_bar.setRange(0, 1000)
            self.progress_bar.setValue(round(progress.fraction * 1000))
            self.progress_bar.setFormat(f"{progress.stage} %p%")
        else:
            self.progress_bar.setRange(0, 0)
        if progress.message:
            self.job_label.setText(progress.message)

    def job_idle(self) -> None:
        """No job runs: hide the bar and the cancel button."""
        self.job_label.setText("Ready")
        self.progress_bar.hide()
        self.cancel_button.hide()

    def show_points(self, count: int | None) -> None:
        """Show the active scan's point count (None: no scan)."""
        self.points_label.setText("No scan" if count is None else f"{count:,} points")

    def show_verdict(self, text: str, passed: bool | None) -> None:
        """Show the active scan's verdict (``passed`` None: unknown, shown plain)."""
        colour = {True: "#1f9d55", False: "#e3342f"}.get(passed)
        self.verdict_label.setText(text)
        self.verdict_label.setStyleSheet("" if colour is None else f"color: {colour}; font-weight: bold;")

    def show_model(self, text: str, tooltip: str = "") -> None:
        """Show the scorer in use (``"CASL small · 1a2b3c4d"``)."""
        self.model_label.setText(f"Model: {text}")
        if tooltip:
            self.model_label.setToolTip(tooltip)

    def training_started(self, title: str) -> None:
        """A background training job started."""
        self.train_label.setText(title)
        self.train_bar.setRange(0, 0)
        for w in (self.train_label, self.train_bar, self.train_cancel_button):
            w.show()
        self.train_cancel_button.setEnabled(True)

    def training_progress(self, progress: Progress) -> None:
        """Show a training job's progress (a plain :class:`Progress`); busy while it prepares its data."""
        if progress.total > 0 and progress.stage not in ("prepare", "note"):
            self.train_bar.setRange(0, progress.total)
            self.train_bar.setValue(progress.done)
        elif progress.stage == "prepare":
            self.train_bar.setRange(0, 0)
        if progress.message:
            self.train_label.setText(f"Training: {progress.message}")

    def training_idle(self) -> None:
        """No training job runs."""
        for w in (self.train_label, self.train_bar, self.train_cancel_button):
            w.hide()
