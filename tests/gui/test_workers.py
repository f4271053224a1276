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


def test_a_job_that_ends_after_shutdown_reaches_nobody(qtbot, qapp):
    # a window closing with a job that does not stop in time: its callbacks, which belong to
    # widgets about to be deleted, must never run, and the registry must forget the job
    release, started = threading.Event(), threading.Event()

    def stubborn(progress, cancel):
        started.set()
        release.wait(10)  # ignores cancel, as a long native call would
        progress(0.5)
        return "late"

    runner = JobRunner()
    out = Outcome()
    finished = []
    runner.submit("stubborn", stubborn, out.ok, out.failed, lambda: finished.append(True))
    assert started.wait(10)
    assert runner.registry.titles() == ["stubborn"]
    assert runner.shutdown(timeout_ms=50) is False  # it did not stop in time
    assert runner.registry.titles() == [] and not runner.busy()
    release.set()
    runner._pool.waitForDone(10000)
    qtbot.wait(100)  # deliver whatever the job emitted
    assert out.results == [] and out.errors == [] and finished == []


def test_a_job_of_a_deleted_runner_reaches_nobody(qtbot, qapp):
    from PySide6.QtCore import QObject

    release, started = threading.Event(), threading.Event()
    owner = QObject()
    runner = JobRunner(owner)
    out = Outcome()

    def slow(progress, cancel):
        started.set()
        release.wait(10)
        return "late"

    runner.submit("slow", slow, out.ok, out.failed)
    assert started.wait(10)
    pool = runner._pool
    pool.setParent(None)  # keep the pool (and its thread) while the runner goes
    owner.deleteLater()
    qtbot.wait(50)
    release.set()
    pool.waitForDone(10000)
    qtbot.wait(100)
    assert out.results == [] and out.errors == []
