"""The memory budget of the readers: sizes a file declares are checked before anything is allocated.

A reader that learns from a header how much it will allocate (element counts, array shapes,
image sizes, decompressed lengths, surface samples) calls :func:`check_declared` first. The
declared size is refused when

* it exceeds the budget: :envvar:`CASL_MAX_MEMORY_GB` (the ``casl --max-memory GB`` option sets
  it), by default half the machine's memory, at most :data:`DEFAULT_CAP_GB`; or
* it comes from compressed data and expands more than :data:`MAX_EXPANSION` times the bytes
  stored (beyond :data:`FREE_BYTES`): real point data never compresses that well, a
  decompression bomb does.
"""

from __future__ import annotations

import os

from casl_core.errors import ConfigError, ScanFormatError

#: Environment variable holding the budget in GB (10**9 bytes).
ENV_VAR = "CASL_MAX_MEMORY_GB"
#: Largest default budget, in GB.
DEFAULT_CAP_GB = 16.0
#: Most a compressed member may expand (decompressed bytes over stored bytes).
MAX_EXPANSION = 100
#: Decompressed sizes up to this many bytes are never refused for their expansion.
FREE_BYTES = 256 * 2**20


def memory_budget() -> int:
    """The budget in bytes (see the module docstring).

    Raises
    ------
    ConfigError
        If :envvar:`CASL_MAX_MEMORY_GB` is set to something other than a positive number.
    """
    text = os.environ.get(ENV_VAR, "").strip()
    if text:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not 0 < value < 1e9:
            raise ConfigError(f"{ENV_VAR}={text!r}: give the memory budget as a positive number of GB, e.g. 8")
        return int(value * 1e9)
    return int(min(DEFAULT_CAP_GB * 1e9, _physical_memory() / 2))


def _physical_memory() -> float:
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return DEFAULT_CAP_GB * 2e9


def check_declared(path: str, declared: int, what: str, *, stored: int | None = None) -> None:
    """Refuse to allocate ``declared`` bytes for ``what`` of file ``path``.

    Parameters
    ----------
    path:
        The file, named in the error.
    declared:
        Bytes the header asks for.
    what:
        Words for the allocation, e.g. ``"array 'points' (10 x 3 float32)"``.
    stored:
        For compressed data: the bytes that hold it in the file.

    Raises
    ------
    ScanFormatError
        When the size is over the budget or an implausible expansion.
    """
    if declared < 0:
        raise ScanFormatError(path, f"{what} declares a negative size")
    budget = memory_budget()
    if declared > budget:
        raise ScanFormatError(
            path,
            f"{what} needs {_gb(declared)}, more than the memory budget of {_gb(budget)} "
            f"(raise it with casl --max-memory GB or {ENV_VAR})",
        )
    if stored is not None and declared > max(FREE_BYTES, MAX_EXPANSION * max(stored, 1)):
        raise ScanFormatError(
            path,
            f"{what} would expand {stored:,} stored bytes to {_gb(declared)} "
            f"(over {MAX_EXPANSION}x: a decompression bomb, or a corrupt header)",
        )


def _gb(n: int) -> str:
    return f"{n / 1e9:.3g} GB" if n >= 1e7 else f"{n:,} bytes"
