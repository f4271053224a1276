"""The one list of background jobs the whole window sees: plain Python, evented, no Qt.

Every :class:`~casl_gui.workers.JobRunner` of the window (opening and scoring scans,
batches, the demo model, the fine-tune dialog) registers each job it starts here and
removes it when it ends. Quit and window close ask about every job listed, the status
bar shows the work and the training in progress, and its cancel buttons cancel through
here, so no runner can be forgotten.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from casl_core.progress import Progress
from casl_gui.events import Event


class JobKind(enum.StrEnum):
    """What a job is, for the status bar: short work (opening, scoring) or a training run."""

    WORK = "work"
    TRAINING = "training"


@dataclass(eq=False)
class JobEntry:
    """A job in the registry.

    Attributes
    ----------
    title:
        What the job does (``"Fine-tuning CASL"``).
    kind:
        Work or training.
    cancel:
        Asks the job to stop at its next check.
    progress:
        Its latest progress report, None before the first.
    """

    title: str
    kind: JobKind
    cancel: Callable[[], None] = field(repr=False)
    progress: Progress | None = None


class JobRegistry:
    """The queued and running jobs of one window, oldest first.

    Events
    ------
    changed():
        A job was added or removed.
    progressed(JobEntry):
        A job reported progress (its ``progress`` holds the report).
    """

    def __init__(self) -> None:
        self._entries: list[JobEntry] = []
        self.changed = Event()
        self.progressed = Event()

    def add(self, title: str, kind: JobKind, cancel: Callable[[], None]) -> JobEntry:
        """List a new job; returns its entry (hand it back to :meth:`remove` when it ends)."""
        entry = JobEntry(title, JobKind(kind), cancel)
        self._entries.append(entry)
        self.changed.emit()
        return entry

    def remove(self, entry: JobEntry) -> None:
        """Forget a finished job (unknown entries are ignored)."""
        if entry in self._entries:
            self._entries.remove(entry)
            self.changed.emit()

    def report(self, entry: JobEntry, progress: Progress) -> None:
        """Record a job's progress."""
        entry.progress = progress
        self.progressed.emit(entry)

    def entries(self, kind: JobKind | None = None) -> list[JobEntry]:
        """The listed jobs (of one kind, or all), oldest first."""
        return [e for e in self._entries if kind is None or e.kind is kind]

    def titles(self, kind: JobKind | None = None) -> list[str]:
        """Titles of the listed jobs (of one kind, or all), oldest first."""
        return [e.title for e in self.entries(kind)]

    def busy(self, kind: JobKind | None = None) -> bool:
        """Whether any job (of this kind) is listed."""
        return bool(self.entries(kind))

    def cancel(self, kind: JobKind | None = None) -> None:
        """Ask every listed job (of this kind) to stop."""
        for entry in self.entries(kind):
            entry.cancel()
