"""CASL calibration at the end of fine-tuning, stored in the checkpoint's description.

The best checkpoint of a fine-tuning run scores, at full resolution, the held-out normal scans
(which it never trained on) with augmented copies of each, and augmented copies of the
training scans (new point layouts and poses of surfaces it has seen). Its thresholds
(:func:`casl_core.scorers.calibration.calibrate`) are written into the checkpoint's
description under ``calibration``, weights unchanged, through
:func:`casl_core.nn.checkpoint.save_checkpoint`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from casl_core.errors import CalibrationError
from casl_core.nn.checkpoint import load_checkpoint, save_checkpoint
from casl_core.progress import CancelFn
from casl_core.scorers.calibration import DEFAULT_COPIES, DEFAULT_FALSE_ALARM_RATE, Calibration, calibrate


def calibrate_checkpoint(
    checkpoint: str | os.PathLike[str],
    held_out: Sequence[Path],
    trained: Sequence[Path],
    *,
    device: str = "cpu",
    false_alarm_rate: float = DEFAULT_FALSE_ALARM_RATE,
    copies: int = DEFAULT_COPIES,
    seed: int = 0,
    cancel: CancelFn | None = None,
) -> Calibration:
    """Calibrate a fine-tuned checkpoint on normal scans and store the result in it.

    Parameters
    ----------
    checkpoint:
        The fine-tuned checkpoint (rewritten with its calibration).
    held_out:
        Normal scan files kept out of training: scored as they are and in ``copies`` augmented copies.
    trained:
        The training scan files: only their augmented copies are scored.

    Raises
    ------
    CheckpointError, ScanFormatError, ConfigError
        On an unusable checkpoint or scan.
    Cancelled
        When ``cancel`` asks to stop (the checkpoint is left as it was, uncalibrated).
    """
    from casl_core.scorers.casl import CaslScorer

    notes = [] if held_out else ["no scan was held out: calibrated on augmented copies of the training scans only"]
    normal = list(held_out) if held_out else list(trained[:1])
    extra = [p for p in trained if p not in normal]
    scorer = CaslScorer(checkpoint, device)
    cal = calibrate(
        scorer,
        normal,
        false_alarm_rate=false_alarm_rate,
        copies=copies,
        extra_copies_of=extra,
        seed=seed,
        cancel=cancel,
    )
    cal = replace(cal, notes=tuple(notes))
    store_calibration(checkpoint, cal)
    return cal


def store_calibration(checkpoint: str | os.PathLike[str], cal: Calibration) -> None:
    """Rewrite a checkpoint with ``cal`` in its description (weights unchanged).

    Raises
    ------
    CheckpointError
        On an unusable checkpoint.
    CalibrationError
        If ``cal`` is not a CASL calibration.
    """
    from casl_core.scorers.calibration_io import to_json

    if cal.scorer != "casl":
        raise CalibrationError(f"{checkpoint}: a {cal.scorer!r} calibration cannot be stored in a CASL checkpoint")
    ckpt = load_checkpoint(checkpoint)
    save_checkpoint(checkpoint, ckpt.state_dict, replace(ckpt.info, calibration=to_json(cal)))


def split_by_holdout(checkpoint: str | os.PathLike[str], files: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """``files`` split as the checkpoint's fine-tuning split them: (held out, trained on).

    The names the checkpoint records under ``training["held_out"]`` are the held-out ones; a
    checkpoint that records none gives ``(files, [])``.
    """
    from casl_core.nn.checkpoint import read_checkpoint_info

    held = read_checkpoint_info(checkpoint).training.get("held_out") or []
    if not held:
        return list(files), []
    return [f for f in files if f.name in held], [f for f in files if f.name not in held]
