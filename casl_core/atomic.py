"""Atomic file writes: a temporary file in the target folder, flushed, then renamed.

A reader (or a user whose program was killed mid-write) sees either the old file or the
complete new one, never a half-written file.

The temporary file is ``.<name>.<pid>.<random>.tmp``. A process killed mid-write (SIGKILL,
power loss) cannot remove it, so every write of a target first removes the temporary files
of that target left by processes that no longer run on this machine (and, from older
versions that did not record the process, ones untouched for :data:`STALE_SECONDS`).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open a temporary binary file beside ``path``; on success it replaces ``path``.

    If the body raises, the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    remove_stale_temporaries(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp makes the file private (0600); give it the mode a plain open() would
        os.chmod(tmp, _mode_for(target))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


#: Age after which a temporary file that records no process id is taken as abandoned.
STALE_SECONDS = 3600.0
_WITH_PID = re.compile(r"(\d+)\.[A-Za-z0-9_]{8}")
_WITHOUT_PID = re.compile(r"[A-Za-z0-9_]{8}")


def remove_stale_temporaries(target: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files of ``target`` that killed writers left behind.

    Returns
    -------
    list[Path]
        The files removed (errors removing one are ignored: it is tried again next time).
    """
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    head, tail = f".{target.name}.", ".tmp"
    removed: list[Path] = []
    try:
        names = [n for n in os.listdir(folder) if n.startswith(head) and n.endswith(tail)]
    except OSError:
        return removed
    for name in names:
        middle = name[len(head) : -len(tail)]
        path = folder / name
        if _abandoned(middle, path):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


def _abandoned(middle: str, path: Path) -> bool:
    match = _WITH_PID.fullmatch(middle)
    if match:
        pid = int(match.group(1))
        return pid != os.getpid() and not _running(pid)
    if _WITHOUT_PID.fullmatch(middle):
        try:
            return time.time() - path.stat().st_mtime > STALE_SECONDS
        except OSError:
            return False
    return False


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process, or a number too big to be one: leave the file
    return True


def _mode_for(target: Path) -> int:
    """The existing file's permission bits, else 0666 less the process umask."""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        pass
    umask = 0o022
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    umask = int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o666 & ~umask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path) as handle:
        handle.write(data)
