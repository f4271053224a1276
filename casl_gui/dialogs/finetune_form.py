"""What the fine-tune dialog checks and says, as plain functions (no Qt): which text names a
usable folder or output, and the lines it shows while and after a run.

Every function answers any text a person may type (``/``, ``..``, a folder, a name too long
for the file system, a line break) without raising.
"""

from __future__ import annotations

import math
from pathlib import Path

from casl_core.errors import CaslError
from casl_gui import model_jobs


def eta_text(seconds: float | None) -> str:
    """``"ETA 2 min 05 s"``, or ``""`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return ""
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"ETA {minutes} min {secs:02d} s" if minutes else f"ETA {secs} s"


def shown_text(text: str, limit: int = 120) -> str:
    """User text as an error message quotes it: one line, shortened when long."""
    one_line = " ".join(text.split()) or "(empty)"
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def path_exists(path: Path, kind: str) -> bool:
    """Whether ``path`` is an existing ``"dir"`` or ``"file"``; False for paths the system refuses."""
    try:
        return path.is_dir() if kind == "dir" else path.is_file()
    except OSError:
        return False


def holds_scans(folder: Path) -> bool:
    """Whether scan files lie directly in ``folder`` or its ``train/`` folder (never a deep search:
    ``/`` would have the run read the whole disk).
    """
    from casl_gui.jobs import scans_in_folder

    try:
        return bool(scans_in_folder(folder)) or (
            (folder / "train").is_dir() and bool(scans_in_folder(folder / "train"))
        )
    except OSError:
        return False


def output_problem(text: str) -> str:
    """Why ``text`` cannot name the output checkpoint (``""`` when it can).

    Any text is answered, never raised on: empty, ``/``, ``..``, a folder, a path in a
    missing folder, a name too long for the file system, a newline or a NUL byte.
    """
    if not text.strip():
        return "choose where the fine-tuned checkpoint goes"
    if "\0" in text or "\n" in text or "\r" in text:
        return "the output path holds a line break or a NUL character"
    out = Path(text.strip())
    try:
        if out.is_dir() or not out.name or out.name in (".", ".."):
            return "the output must be a file, not a folder"
        if out.suffix != ".safetensors":
            return "the output must be a .safetensors file"
        if not out.parent.is_dir():
            return "the output's folder does not exist"
    except OSError as exc:
        return f"the output path cannot be used: {exc.strerror or exc}"
    return ""


def resume_exists(text: str) -> bool:
    """Whether a resumable run lies beside the output ``text`` (False for text that names no checkpoint)."""
    if output_problem(text):
        return False
    try:
        return model_jobs.resume_file(text.strip()).is_file()
    except (CaslError, OSError, ValueError):
        return False


def done_text(result) -> str:
    """What a finished run says: epochs run, which epoch the checkpoint keeps and why, where it is."""
    from casl_core.nn.checkpoint import read_checkpoint_info

    try:
        kept = read_checkpoint_info(result.checkpoint).epoch
    except CaslError:
        kept = None
    if result.best_metric is not None and kept is not None:
        which = (
            f"checkpoint kept from epoch {kept}, the best on held-out pseudo-anomalies "
            f"(validation AUROC {result.best_metric:.3f})"
        )
    elif kept is not None:
        which = f"checkpoint kept from epoch {kept}, the last (no held-out check)"
    else:
        which = "checkpoint saved"
    return f"Done: {result.epochs_done} epochs; {which}; saved {result.checkpoint}"
