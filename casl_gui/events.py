"""A small observer: plain-Python events for GUI models that must not depend on Qt.

Models (the job registry, the application and inspection state) emit :class:`Event`
objects; Qt adapters (docks, the viewport, controllers) connect to them and update widgets.
Models built on these events run and are tested without a display.

An event behaves like a direct Qt signal connection: callbacks run at once, in the order
connected, on the emitting thread, and a callback that takes fewer arguments than the
event carries gets only the first ones (``scan_updated(int)`` may call ``refresh()``).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _positional_count(callback: Callable[..., Any]) -> int | None:
    """How many positional arguments ``callback`` accepts; None when any number (or unknown)."""
    try:
        parameters = inspect.signature(callback).parameters.values()
    except (TypeError, ValueError):  # built-in or extension callables without a signature
        return None
    count = 0
    for parameter in parameters:
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            return None
        if parameter.kind in _POSITIONAL:
            count += 1
    return count


class Event:
    """A list of callbacks called, in the order connected, each time the event is emitted.

    Parameters
    ----------
    name:
        What the event is called, for error messages.
    thread_bound:
        When true, emitting from any thread but the one that made the event raises
        RuntimeError: models that widgets follow must only change on the main thread
        (worker results reach them through queued Qt signals, see :mod:`casl_gui.workers`).
    """

    def __init__(self, name: str = "event", *, thread_bound: bool = False) -> None:
        self.name = name
        self._callbacks: list[tuple[Callable[..., Any], int | None]] = []
        self._thread = threading.get_ident() if thread_bound else None

    def connect(self, callback: Callable[..., Any]) -> None:
        """Call ``callback`` on every :meth:`emit` (connecting twice calls it twice).

        The callback gets as many of the emitted arguments as it accepts positionally.
        """
        self._callbacks.append((callback, _positional_count(callback)))

    def disconnect(self, callback: Callable[..., Any]) -> None:
        """Stop calling ``callback`` (its first connection); unknown callbacks are ignored."""
        for i, (connected, _count) in enumerate(self._callbacks):
            if connected == callback:
                del self._callbacks[i]
                return

    def emit(self, *args: Any) -> None:
        """Call every connected callback with ``args`` (or as many of them as it takes).

        Raises
        ------
        RuntimeError
            If the event is thread bound and this is not its thread.
        """
        if self._thread is not None and threading.get_ident() != self._thread:
            raise RuntimeError(
                f"{self.name} was emitted off the thread that owns it; change GUI state on the main thread"
            )
        for callback, count in list(self._callbacks):
            callback(*(args if count is None else args[:count]))
