"""A small observer: plain-Python events for GUI models that must not depend on Qt.

Models (the job registry, and in time the rest of the window's state) emit :class:`Event`
objects; Qt adapters connect to them and update widgets. Models built on these events run
and are tested without a display.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Event:
    """A list of callbacks called, in the order connected, each time the event is emitted.

    Callbacks run on the thread that emits; the models here emit on the main thread only.
    """

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> None:
        """Call ``callback(*args)`` on every :meth:`emit` (connecting twice calls it twice)."""
        self._callbacks.append(callback)

    def disconnect(self, callback: Callable[..., Any]) -> None:
        """Stop calling ``callback`` (its first connection); unknown callbacks are ignored."""
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        """Call every connected callback with ``args``."""
        for callback in list(self._callbacks):
            callback(*args)
