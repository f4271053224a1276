"""Typed progress reports and cancellation for long work.

Long core functions take ``progress`` (called with a :class:`Progress`) and ``cancel``
(a callable returning True when the work must stop). Nothing here knows about Qt: the
GUI wraps these callables in its worker threads, the CLI draws a progress bar.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from casl_core.errors import Cancelled


@dataclass(frozen=True)
class Progress:
    """One progress report.

    Attributes
    ----------
    stage:
        What is being done (``"neighbours"``, ``"scale 64"``, ``"reading"`` ...).
    done:
        Units finished so far within the stage.
    total:
        Units in the stage (0 when unknown).
    message:
        Optional free text for a status line.
    """

    stage: str
    done: int
    total: int
    message: str = ""

    @property
    def fraction(self) -> float:
        """``done / total`` clipped to [0, 1]; 0 when the total is unknown."""
        if self.total <= 0:
            return 0.0
        return min(1.0, max(0.0, self.done / self.total))


ProgressFn = Callable[[Progress], None]
CancelFn = Callable[[], bool]


def report(progress: ProgressFn | None, stage: str, done: int, total: int, message: str = "") -> None:
    """Call ``progress`` with a :class:`Progress` when a callback was given."""
    if progress is not None:
        progress(Progress(stage, done, total, message))


def check_cancel(cancel: CancelFn | None) -> None:
    """Raise :class:`~casl_core.errors.Cancelled` when ``cancel`` says to stop."""
    if cancel is not None and cancel():
        raise Cancelled("cancelled")
