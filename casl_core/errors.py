"""Exceptions raised by casl_core.

Every error a user can cause (a bad file, a bad option, a bad checkpoint) is a
:class:`CaslError`; the ``casl`` command prints its message on one line and exits
non-zero, and the GUI shows it in a dialog.
"""

from __future__ import annotations

import os


class CaslError(Exception):
    """Base class of every error raised on purpose by casl_core."""


class ScanFormatError(CaslError):
    """A scan file could not be read or written.

    Parameters
    ----------
    path:
        The file concerned.
    problem:
        What is wrong with it, in words a user understands.
    """

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class DatasetError(CaslError):
    """A data-set root does not match the layout it was read as."""


class CheckpointError(CaslError):
    """A model checkpoint is missing, unsafe, corrupt or incompatible."""


class ConfigError(CaslError):
    """An option or argument is out of range or inconsistent."""


class Cancelled(CaslError):  # noqa: N818 - an event the user asked for, not an error; named like KeyboardInterrupt
    """Long work stopped because its cancel callable asked it to."""


class CalibrationError(CaslError):
    """A calibration file or a calibration stored in a checkpoint is missing, malformed or unusable."""
