"""Run core functions off the main thread, reporting progress and results through Qt signals.

A :class:`Job` wraps a core call ``fn(progress, cancel)``; its :class:`JobSignals` object
is created on the main thread, so every signal it emits from the pool thread is queued to
main-thread slots, where widgets and VTK may be touched. :class:`JobRunner` owns the
thread pool, the jobs in flight and their cancellation, and lists each job in the window's
:class:`~casl_gui.job_registry.JobRegistry`.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from casl_core.errors import Cancelled, CaslError
from casl_core.progress import CancelFn, Progress, ProgressFn
from casl_gui.job_registry import JobEntry, JobKind, JobRegistry

#: A core call taking ``(progress, cancel)`` and returning its result.
JobFn = Callable[[ProgressFn, CancelFn], Any]
#: A job with what :meth:`JobRunner.submit` was told to call: on success, on failure, at the end.
_Callbacks = tuple["Job", Callable[[Any], None], Callable[[str], None], Callable[[], None] | None]


class JobSignals(QObject):
    """Signals of one job; emitted from the worker thread, delivered on the main thread.

    ``progress(Progress)``, ``succeeded(object)`` with the result, ``failed(str)`` with a
    one-line message, ``cancelled()``; ``finished()`` always comes last.
    """

    progress = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    finished = Signal()


class Job(QRunnable):
    """One core call to run on a :class:`QThreadPool`.

    Parameters
    ----------
    title:
        What the job does, for the status bar (``"Opening bunny.obj"``).
    fn:
        The call, given a progress callback and a cancel callable.
    """

    def __init__(self, title: str, fn: JobFn) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.title = title
        self.signals = JobSignals()
        self._fn = fn
        self._stop = threading.Event()

    def cancel(self) -> None:
        """Ask the job to stop at its next cancellation check."""
        self._stop.set()

    def run(self) -> None:
        """Run the call on the pool thread and emit the outcome."""
        signals = self.signals
        try:
            result = self._fn(signals.progress.emit, self._stop.is_set)
        except Cancelled:
            signals.cancelled.emit()
        except CaslError as exc:
            signals.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - any crash in a job must reach the user, not kill the thread
            traceback.print_exc()
            signals.failed.emit(f"{type(exc).__name__}: {exc}")
        else:
            if self._stop.is_set():
                signals.cancelled.emit()
            else:
                signals.succeeded.emit(result)
        signals.finished.emit()


class JobRunner(QObject):
    """Starts jobs one after another on a private pool and tracks them.

    Signals: ``started(str)`` with the job title, ``progress(object)`` with a
    :class:`~casl_core.progress.Progress`, ``idle()`` when no job is left.

    Parameters
    ----------
    registry:
        Where every job is listed while queued or running (the window's one registry); a
        private one when None.
    kind:
        How the registry files this runner's jobs.
    as_progress:
        Turns a job's own progress reports into a :class:`~casl_core.progress.Progress`
        for the registry (training jobs report richer records).
    """

    started = Signal(str)
    progress = Signal(object)
    idle = Signal()

    def __init__(
        self,
        parent: QObject | None = None,
        max_threads: int = 1,
        registry: JobRegistry | None = None,
        kind: JobKind = JobKind.WORK,
        as_progress: Callable[[Any], Progress] | None = None,
    ) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._jobs: list[Job] = []
        self._entries: dict[int, JobEntry] = {}
        self._callbacks: dict[int, _Callbacks] = {}
        self._shut_down = False
        self.registry = registry if registry is not None else JobRegistry()
        self._kind = kind
        self._as_progress = as_progress

    def submit(
        self,
        title: str,
        fn: JobFn,
        on_success: Callable[[Any], None],
        on_failure: Callable[[str], None],
        on_finished: Callable[[], None] | None = None,
    ) -> Job:
        """Queue ``fn``; ``on_success(result)`` or ``on_failure(message)`` run on the main thread.

        ``on_finished()`` runs last in every case (success, failure or cancel). None of them
        runs after :meth:`shutdown`, or once the runner is gone: a job that ends after its
        window closed reaches nobody (a plain callable has no Qt receiver to outlive).
        Connect to the returned job's signals only what may be missed: a job can finish
        before ``submit`` returns.
        """
        job = Job(title, fn)
        entry = self.registry.add(title, self._kind, job.cancel)
        self._jobs.append(job)
        self._entries[id(job)] = entry
        self._callbacks[id(job.signals)] = (job, on_success, on_failure, on_finished)
        # bound methods of this runner: Qt drops the deliveries once the runner is destroyed
        job.signals.succeeded.connect(self._succeeded)
        job.signals.failed.connect(self._failed)
        job.signals.progress.connect(self._progressed)
        job.signals.finished.connect(self._finished)
        if len(self._jobs) == 1:
            self.started.emit(title)
        self._pool.start(job)
        return job

    def _callbacks_of_sender(self) -> _Callbacks | None:
        """``(job, on_success, on_failure, on_finished)`` of the job whose signal is being delivered."""
        if self._shut_down:
            return None
        return self._callbacks.get(id(self.sender()))

    def _succeeded(self, result: Any) -> None:
        found = self._callbacks_of_sender()
        if found is not None:
            found[1](result)

    def _failed(self, message: str) -> None:
        found = self._callbacks_of_sender()
        if found is not None:
            found[2](message)

    def _progressed(self, report: Any) -> None:
        found = self._callbacks_of_sender()
        if found is None:
            return
        self.progress.emit(report)
        entry = self._entries.get(id(found[0]))
        converted = self._as_progress(report) if self._as_progress is not None else report
        if entry is not None and isinstance(converted, Progress):
            self.registry.report(entry, converted)

    def _finished(self) -> None:
        found = self._callbacks_of_sender()
        if found is None:
            return
        job, _, _, on_finished = found
        if on_finished is not None:
            on_finished()
        del self._callbacks[id(job.signals)]
        if job in self._jobs:
            self._jobs.remove(job)
        entry = self._entries.pop(id(job), None)
        if entry is not None:
            self.registry.remove(entry)
        # The connections hold the callbacks (and through them their owners): drop them.
        job.signals.deleteLater()
        if self._jobs:
            self.started.emit(self._jobs[0].title)
        else:
            self.idle.emit()

    def busy(self) -> bool:
        """Whether a job is queued or running."""
        return bool(self._jobs)

    def titles(self) -> list[str]:
        """Titles of the queued and running jobs, oldest first."""
        return [job.title for job in self._jobs]

    def cancel_all(self) -> None:
        """Ask every queued or running job to stop."""
        for job in self._jobs:
            job.cancel()

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Cancel everything and wait for the pool; True if it emptied in time.

        After this, no job's callback runs (their owners are going away with the window)
        and the registry no longer lists this runner's jobs.
        """
        self.cancel_all()
        self._pool.clear()
        done = self._pool.waitForDone(timeout_ms)
        self._shut_down = True
        for job in self._jobs:
            entry = self._entries.pop(id(job), None)
            if entry is not None:
                self.registry.remove(entry)
        self._jobs.clear()
        self._callbacks.clear()
        return done


class LatestJob:
    """A background computation of which only the newest request matters (verdicts, regions).

    Each :meth:`replace` cancels the job before it and submits a new one on ``runner``; the
    job is forgotten when it succeeds (before ``on_success`` runs) or ends. Callers still
    check that a result answers their latest request: a cancelled job may finish anyway.
    """

    def __init__(self, runner: JobRunner) -> None:
        self._runner = runner
        self._job: Job | None = None

    def replace(self, title: str, fn: JobFn, on_success: Callable[[Any], None]) -> None:
        """Cancel the current job, if any, and run ``fn``; failures are dropped (a later request retries)."""
        self.drop()
        holder: list[Job] = []  # the job, once submit returned (its callbacks are queued after that)

        def succeeded(result: Any) -> None:
            self._forget(holder)
            on_success(result)

        self._job = self._runner.submit(title, fn, succeeded, lambda _message: None, lambda: self._forget(holder))
        holder.append(self._job)

    def _forget(self, holder: list[Job]) -> None:
        if holder and self._job is holder[0]:
            self._job = None

    def drop(self) -> None:
        """Cancel the current job, if any, and forget it."""
        if self._job is not None:
            self._job.cancel()
            self._job = None

    def busy(self) -> bool:
        """Whether a job is queued or running."""
        return self._job is not None
