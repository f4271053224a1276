"""The progress bar of the ``casl`` verbs: core :class:`~casl_core.progress.Progress` reports drawn with tqdm."""

from __future__ import annotations

import sys
from typing import Any

from casl_core.progress import Progress


class ProgressBar:
    """A tqdm progress bar fed by core Progress reports (silent with --quiet or off a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Any = None  # a tqdm bar while a stage runs (tqdm ships no type information)
        self._stage: str | None = None

    def __call__(self, p: Progress) -> None:
        """Draw one progress report (a new bar when the stage changes)."""
        if not self.enabled:
            return
        from tqdm import tqdm

        if p.stage != self._stage:
            self.close()
            self._stage = p.stage
            self._bar = tqdm(total=p.total or None, desc=p.stage, leave=False, file=sys.stderr, dynamic_ncols=True)
        self._bar.n = p.done
        if p.message:
            self._bar.set_postfix_str(p.message, refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        """Close the current bar, if any."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
