"""Keep a command's outputs off its inputs: no verb writes over a file it reads."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from casl_core.errors import ConfigError


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """True when ``a`` and ``b`` name one file (same inode when both exist, else the same resolved path)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def check_not_an_input(output: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]], option: str) -> None:
    """Refuse an output that is one of the inputs.

    Raises
    ------
    ConfigError
        Naming the file and the option that would overwrite it.
    """
    for source in inputs:
        if same_file(output, source):
            raise ConfigError(
                f"{output}: {option} is the input {source}; refusing to write over it, choose another name"
            )


def free_name(wanted: Path, inputs: Iterable[str | os.PathLike[str]], suffix: str = "_scored") -> Path:
    """``wanted``, or ``<stem><suffix><ext>`` beside it when ``wanted`` is one of the inputs.

    Raises
    ------
    ConfigError
        When the other name is an input too.
    """
    sources = list(inputs)
    if not any(same_file(wanted, s) for s in sources):
        return wanted
    other = wanted.with_name(f"{wanted.stem}{suffix}{wanted.suffix}")
    check_not_an_input(other, sources, "the output")
    return other


def check_outside(folder: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]], option: str) -> None:
    """Refuse to write into ``folder`` when an input lies inside it (its files could be replaced).

    Raises
    ------
    ConfigError
        Naming the folder and the first input found inside it.
    """
    root = Path(folder).resolve()
    for source in inputs:
        path = Path(source).resolve()
        if root == path or root in path.parents:
            raise ConfigError(
                f"{folder}: {option} holds the input {source}; its files could be replaced, choose a new folder"
            )
