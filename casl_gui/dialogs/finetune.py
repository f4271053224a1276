"""The fine-tune dialog: train CASL on a folder of normal scans with a live loss curve.

Start runs :func:`casl_gui.model_jobs.run_finetune` on the dialog's own worker (the main
window stays free to open and score scans); Cancel stops at the next step, keeping the
last finished epoch's checkpoint and resumable state; Resume continues from that state.
When a run ends, "Load and re-score" hands the new checkpoint to the window.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from casl_core.errors import ConfigError
from casl_core.train.options import DEFAULT_FINETUNE_EPOCHS, FinetuneOptions
from casl_gui import model_jobs
from casl_gui.dialogs.errors import ErrorSink, dialog_sink
from casl_gui.dialogs.finetune_form import (
    done_text,
    eta_text,
    holds_scans,
    output_problem,
    path_exists,
    resume_exists,
    shown_text,
)
from casl_gui.dialogs.loss_plot import LossPlot
from casl_gui.job_registry import JobKind, JobRegistry
from casl_gui.workers import JobRunner

#: Returns the annotated open scans as ``(scan, labels)`` pairs.
LabelledSource = Callable[[], list]


def _path_row(edit: QLineEdit, button_text: str, on_click) -> QWidget:
    """A line edit with a button beside it (the row is disabled as a whole while training)."""
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    button = QPushButton(button_text, row)
    button.clicked.connect(on_click)
    layout.addWidget(edit, 1)
    layout.addWidget(button)
    return row


class FinetuneDialog(QDialog):
    """Fine-tunes CASL on normal scans in the background and shows the loss as it falls.

    Parameters
    ----------
    labelled:
        Called at start, when "also use annotated scans" is ticked, for the annotated open
        scans as ``(scan, labels)`` pairs.
    errors:
        Where a failed run is reported (a message box by default).
    registry:
        The window's job registry, where a run is listed (so Quit asks about it and the
        status bar shows it while the dialog is closed); a private one when None.

    Signals
    -------
    load_requested(str):
        The person asked to load the finished checkpoint (its path) and re-score.
    """

    load_requested = Signal(str)

    def __init__(
        self,
        labelled: LabelledSource,
        errors: ErrorSink | None = None,
        parent: QWidget | None = None,
        registry: JobRegistry | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fine-tune CASL")
        self.setObjectName("FinetuneDialog")
        self._labelled = labelled
        self._errors = errors or dialog_sink(self)
        self.runner = JobRunner(self, registry=registry, kind=JobKind.TRAINING, as_progress=model_jobs.as_progress)
        self._result_path: str | None = None
        self._build_form()
        self._build_run_area()
        self._set_running(False)

    # -- layout ------------------------------------------------------------------------

    def _share_spin(self, top: float, value: float, tip: str) -> QDoubleSpinBox:
        """A spin box for a share in ``[0, top]`` in steps of 0.05."""
        spin = QDoubleSpinBox(self)
        spin.setDecimals(2)
        spin.setRange(0.0, top)
        spin.setSingleStep(0.05)
        spin.setValue(value)
        spin.setToolTip(tip)
        return spin

    def _build_form(self) -> None:
        self.folder_edit = QLineEdit(self)
        self.folder_edit.setPlaceholderText("Folder of normal (defect-free) scans")
        self.folder_edit.textChanged.connect(self._folder_changed)
        self.init_edit = QLineEdit(self)
        bundled = model_jobs.bundled_model()
        self.init_edit.setPlaceholderText(
            "Bundled pretrained model" if bundled else "None installed: training starts from scratch"
        )
        self.epochs_spin = QSpinBox(self)
        self.epochs_spin.setRange(1, 100_000)
        self.epochs_spin.setValue(DEFAULT_FINETUNE_EPOCHS)
        self.lr_spin = QDoubleSpinBox(self)
        self.lr_spin.setDecimals(6)
        self.lr_spin.setRange(1e-6, 1.0)
        self.lr_spin.setSingleStep(1e-4)
        self.lr_spin.setValue(FinetuneOptions().lr)
        self.batch_spin = QSpinBox(self)
        self.batch_spin.setRange(1, 256)
        self.batch_spin.setValue(FinetuneOptions().batch_size)
        self.missing_spin = self._share_spin(
            1.0,
            FinetuneOptions().missing_fraction,
            "Share of pseudo-anomalies that remove a patch (a hole) instead of "
            "pushing it along its normal (Norm-AS); 0 is the paper's recipe",
        )
        self.dropout_spin = self._share_spin(
            0.95,
            FinetuneOptions().point_dropout,
            "Each training sample drops a random share of its points, up to this "
            "much, so the model sees other samplings of the same surface; 0 is "
            "the paper's recipe",
        )
        self.device_combo = QComboBox(self)
        for choice in model_jobs.device_choices():
            self.device_combo.addItem(choice.text, choice.spec)
        self.out_edit = QLineEdit(self)
        self.out_edit.setPlaceholderText("Where the fine-tuned checkpoint goes (.safetensors)")
        self.out_edit.textChanged.connect(lambda _t: self._set_running(self.runner.busy()))
        self.out_edit.textEdited.connect(lambda _t: self.out_edit.setProperty("defaulted", False))
        self.annotated_box = QCheckBox("Also use annotated scans (defects and normals marked in open scans)", self)
        form = QFormLayout()
        rows = (
            _path_row(self.folder_edit, "Browse…", self._choose_folder),
            _path_row(self.init_edit, "Browse…", self._choose_init),
            _path_row(self.out_edit, "Save as…", self._choose_out),
        )
        form.addRow("Normal scans", rows[0])
        form.addRow("Base checkpoint", rows[1])
        form.addRow("Epochs", self.epochs_spin)
        form.addRow("Learning rate", self.lr_spin)
        form.addRow("Batch size", self.batch_spin)
        form.addRow("Missing-patch share", self.missing_spin)
        form.addRow("Point dropout", self.dropout_spin)
        form.addRow("Device", self.device_combo)
        form.addRow("Output", rows[2])
        form.addRow("", self.annotated_box)
        self._form_widgets = (
            *rows,
            self.epochs_spin,
            self.lr_spin,
            self.batch_spin,
            self.missing_spin,
            self.dropout_spin,
            self.device_combo,
            self.annotated_box,
        )
        self._layout = QVBoxLayout(self)
        self._layout.addLayout(form)

    def _build_run_area(self) -> None:
        self.plot = LossPlot(self)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(0)
        self.status_label = QLabel("Idle", self)
        self.status_label.setWordWrap(True)
        self.eta_label = QLabel("", self)
        buttons = QDialogButtonBox(self)
        self.start_button = buttons.addButton("Start", QDialogButtonBox.ButtonRole.ActionRole)
        self.resume_button = buttons.addButton("Resume", QDialogButtonBox.ButtonRole.ActionRole)
        self.cancel_button = buttons.addButton("Cancel training", QDialogButtonBox.ButtonRole.ActionRole)
        self.load_button = buttons.addButton("Load and re-score", QDialogButtonBox.ButtonRole.ActionRole)
        self.close_button = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.start_button.clicked.connect(lambda: self.start(resume=False))
        self.resume_button.clicked.connect(lambda: self.start(resume=True))
        self.cancel_button.clicked.connect(self.cancel)
        self.load_button.clicked.connect(self._load)
        self.close_button.clicked.connect(self.close)
        self.load_button.setEnabled(False)
        status = QHBoxLayout()
        status.addWidget(self.status_label, 1)
        status.addWidget(self.eta_label)
        for widget in (self.plot, self.progress_bar):
            self._layout.addWidget(widget)
        self._layout.addLayout(status)
        self._layout.addWidget(buttons)

    # -- choosing paths ------------------------------------------------------------------

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of normal scans", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    def _choose_init(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Base checkpoint", "", "safetensors (*.safetensors)")
        if path:
            self.init_edit.setText(path)

    def _choose_out(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Fine-tuned checkpoint", self.out_edit.text(), "safetensors (*.safetensors)"
        )
        if path:
            self.out_edit.setText(path if path.endswith(".safetensors") else path + ".safetensors")

    def _folder_changed(self, text: str) -> None:
        folder = Path(text)
        if text and (not self.out_edit.text() or self.out_edit.property("defaulted")):
            self.out_edit.setText(str(folder.parent / f"{folder.name}-casl.safetensors"))
            self.out_edit.setProperty("defaulted", True)

    # -- running -----------------------------------------------------------------------

    def request(self, resume: bool) -> model_jobs.FinetuneRequest:
        """The run the form describes.

        Raises
        ------
        ConfigError
            If the folder, the base checkpoint or the output's folder does not exist.
        """
        folder = Path(self.folder_edit.text().strip())
        if not self.folder_edit.text().strip() or not path_exists(folder, "dir"):
            raise ConfigError(f"{shown_text(self.folder_edit.text())}: the folder of normal scans does not exist")
        if not holds_scans(folder):
            raise ConfigError(
                f"{shown_text(self.folder_edit.text())}: no scan file directly inside this folder "
                "(or its train/ folder)"
            )
        init_text = self.init_edit.text().strip()
        if init_text and not path_exists(Path(init_text), "file"):
            raise ConfigError(f"{shown_text(init_text)}: base checkpoint not found")
        problem = output_problem(self.out_edit.text())
        if problem:
            raise ConfigError(f"{shown_text(self.out_edit.text())}: {problem}")
        out = Path(self.out_edit.text().strip())
        options = FinetuneOptions(
            epochs=self.epochs_spin.value(),
            lr=self.lr_spin.value(),
            batch_size=self.batch_spin.value(),
            missing_fraction=self.missing_spin.value(),
            point_dropout=self.dropout_spin.value(),
        )
        labelled = tuple(self._labelled()) if self.annotated_box.isChecked() else ()
        return model_jobs.FinetuneRequest(
            folder,
            out,
            Path(init_text) if init_text else None,
            options,
            self.device_combo.currentData(),
            resume,
            labelled,
        )

    def start(self, resume: bool = False) -> None:
        """Start (or, with ``resume``, continue) the run the form describes; errors go to a dialog."""
        if self.runner.busy():
            return
        try:
            request = self.request(resume)
        except ConfigError as exc:
            self._errors("Cannot start fine-tuning", str(exc))
            return
        if not resume:
            self.plot.clear(request.options.epochs)
        self.plot.set_epochs(request.options.epochs)
        self._result_path = None
        self.load_button.setEnabled(False)
        self.progress_bar.setValue(0)
        self.status_label.setText("Resuming…" if resume else "Preparing the scans…")
        job = self.runner.submit(
            "Fine-tuning CASL",
            partial(model_jobs.run_finetune, request),
            self._succeeded,
            self._failed,
            lambda: self._set_running(False),
        )
        job.signals.progress.connect(self._progress)
        job.signals.cancelled.connect(self._cancelled)
        self._set_running(True)

    def cancel(self) -> None:
        """Stop the run at its next step (the last finished epoch stays saved)."""
        self.runner.cancel_all()
        self.cancel_button.setEnabled(False)
        self.status_label.setText("Cancelling after the current step…")

    def running(self) -> bool:
        """Whether a run is in progress."""
        return self.runner.busy()

    def _set_running(self, running: bool) -> None:
        for widget in self._form_widgets:
            widget.setEnabled(not running)
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.resume_button.setEnabled(not running and resume_exists(self.out_edit.text()))

    def _progress(self, report) -> None:
        if report.phase == "prepare":
            self.status_label.setText(f"Preparing scans: {report.step}/{report.steps}")
            return
        if report.phase == "note":
            self.status_label.setText(report.message)
            return
        self.progress_bar.setValue(round(1000 * model_jobs.train_fraction(report)))
        if report.phase == "epoch":
            self.plot.add_epoch(report.epoch, report.loss)
            metric = report.losses.get("val_point_auroc")
            extra = "" if metric is None else f", validation AUROC {metric:.3f}"
            self.status_label.setText(f"Epoch {report.epoch}/{report.epochs} done: loss {report.loss:.4f}{extra}")
            return
        self.plot.add_step(report.epoch - 1 + report.step / max(1, report.steps), report.loss)
        self.status_label.setText(
            f"Epoch {report.epoch}/{report.epochs}, step {report.step}/{report.steps}: "
            f"loss {report.loss:.4f}, {report.throughput:,.0f} points/s"
        )
        self.eta_label.setText(eta_text(report.eta_s))

    def _succeeded(self, result) -> None:
        self._result_path = str(result.checkpoint)
        self.status_label.setText(done_text(result))
        self.eta_label.setText("")
        self.progress_bar.setValue(1000)
        self.load_button.setEnabled(True)

    def _failed(self, message: str) -> None:
        self.status_label.setText("Failed")
        self.eta_label.setText("")
        self._errors("Fine-tuning failed", message)

    def _cancelled(self) -> None:
        saved = resume_exists(self.out_edit.text())
        self.status_label.setText(
            "Cancelled; Resume continues from the last finished epoch"
            if saved
            else "Cancelled before the first epoch finished; nothing was saved"
        )
        self.eta_label.setText("")

    def _load(self) -> None:
        if self._result_path is not None:
            self.load_requested.emit(self._result_path)

    def shutdown(self) -> None:
        """Stop any run and wait for it (the window calls this when it closes; closing the dialog
        itself only hides it, and a run goes on).
        """
        self.runner.shutdown()
