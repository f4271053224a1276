"""Background jobs: results, errors and progress reach the main thread; cancel stops core work."""

from __future__ import annotations

import threading
from functools import partial

import numpy as np
import pytest
from PySide6.QtCore import QCoreApplication, QThread

from casl_core.io import read_scan
from casl_gui import jobs
from casl_gui.workers import JobRunner

pytestmark = [pytest.mark.gui, pytest.mark.timeout(120)]


class Outcome:
    def __init__(self) -> None:
        self.results: list = []
        self.errors: list[str] = []
        self.progress_threads: set[bool] = set()
        self.slot_on_main: list[bool] = []

    def ok(self, value) -> None:
        self.slot_on_main.append(QThread.currentThread() is QCoreApplication.instance().thread())
        self.results.append(value)

    def failed(self, message: str) -> None:
        self.slot_on_main.append(QThread.currentThread() is QCoreApplication.instance().thread())
        self.errors.append(message)


def _read_with_curvature(path, progress, cancel):
    # what the window does with a file: read it, then add curvature (two jobs, run here as one)
    return jobs.add_curvature_job(jobs.read_only(path, progress, cancel), progress, cancel)


def test_opening_runs_off_the_main_thread_and_reports_on_it(qtbot, qapp, scans_dir):
    path = scans_dir / "common-3d-test-models" / "fandisk.obj"
    runner = JobRunner()
    out = Outcome()
    seen = []
    runner.progress.connect(lambda p: seen.append((p.stage, QThread.currentThread() is qapp.thread())))
    worker_thread = []

    def open_and_note(progress, cancel):
        worker_thread.append(threading.current_thread() is not threading.main_thread())
        return _read_with_curvature(path, progress, cancel)

    with qtbot.waitSignal(runner.idle, timeout=60000):
        runner.submit("open", open_and_note, out.ok, out.failed)
    assert worker_thread == [True]
    assert out.errors == [] and len(out.results) == 1 and out.slot_on_main == [True]
    scan = out.results[0]
    reference = read_scan(path)
    np.testing.assert_array_equal(scan.points, reference.points)
    assert {"curvature_s16", "curvature_s64", "curvature_s256"} <= set(scan.fields)
    assert seen and all(on_main for _, on_main in seen)
    runner.shutdown()


def test_a_bad_file_fails_with_a_message_naming_it(qtbot, tmp_path):
    bad = tmp_path / "empty.pcd"
    bad.write_text("this is not a point cloud\n")
    runner = JobRunner()
    out = Outcome()
    with qtbot.waitSignal(runner.idle, timeout=60000):
        runner.submit("open", partial(_read_with_curvature, bad), out.ok, out.failed)
    assert out.results == []
    assert len(out.errors) == 1 and "empty.pcd" in out.errors[0]
    runner.shutdown()


def test_cancel_stops_curvature_and_nothing_is_delivered(qtbot, scans_dir):
    scan = read_scan(scans_dir / "common-3d-test-models" / "stanford-bunny.obj")
    runner = JobRunner()
    out = Outcome()
    started = threading.Event()
    release = threading.Event()

    def slow_curvature(progress, cancel):
        started.set()
        release.wait(10)
        return jobs.with_curvature(scan, progress, cancel)

    job = runner.submit("curvature", slow_curvature, out.ok, out.failed)
    assert started.wait(10)
    cancelled = []
    job.signals.cancelled.connect(lambda: cancelled.append(True))
    job.cancel()
    release.set()
    qtbot.waitUntil(lambda: not runner.busy(), timeout=60000)
    assert cancelled == [True]
    assert out.results == [] and out.errors == []
    runner.shutdown()
