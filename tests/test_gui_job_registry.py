"""The window's job registry is plain Python: it runs and is tested without Qt or a display."""

from __future__ import annotations

from casl_core.progress import Progress
from casl_gui.job_registry import JobKind, JobRegistry


def test_the_registry_lists_cancels_and_reports_every_runners_jobs_without_qt():
    registry = JobRegistry()
    changes: list[list[str]] = []
    reports: list[str] = []
    registry.changed.connect(lambda: changes.append(registry.titles()))
    registry.progressed.connect(lambda entry: reports.append(f"{entry.title}: {entry.progress.message}"))
    cancelled: list[str] = []
    opening = registry.add("Opening bunny.ply", JobKind.WORK, lambda: cancelled.append("open"))
    training = registry.add("Fine-tuning CASL", JobKind.TRAINING, lambda: cancelled.append("train"))
    assert registry.titles() == ["Opening bunny.ply", "Fine-tuning CASL"]
    assert registry.titles(JobKind.TRAINING) == ["Fine-tuning CASL"] and registry.busy(JobKind.WORK)
    registry.report(training, Progress("training", 10, 1000, "epoch 1/30"))
    assert reports == ["Fine-tuning CASL: epoch 1/30"]
    registry.cancel(JobKind.TRAINING)
    assert cancelled == ["train"]
    registry.cancel()
    assert cancelled == ["train", "open", "train"]
    registry.remove(opening)
    registry.remove(opening)  # a second removal changes nothing
    registry.remove(training)
    assert changes == [
        ["Opening bunny.ply"],
        ["Opening bunny.ply", "Fine-tuning CASL"],
        ["Fine-tuning CASL"],
        [],
    ]
    assert not registry.busy()


def test_the_registry_module_imports_no_qt():
    import subprocess
    import sys

    code = (
        "import sys, casl_gui.job_registry, casl_gui.events; print(any(m.startswith('PySide6') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
