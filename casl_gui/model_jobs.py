"""The CASL model work the GUI runs in the background: fine-tuning, scoring, the demo model.

Plain core calls with no Qt, ``fn(progress, cancel) -> result`` like :mod:`casl_gui.jobs`,
so each has a scriptable twin (``casl finetune``, ``casl infer``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from casl_core.errors import ConfigError
from casl_core.progress import CancelFn, Progress, ProgressFn, check_cancel, report
from casl_core.scan import Scan
from casl_core.train.options import FinetuneOptions

#: Part family, count and size of the scans the demo model is fine-tuned on.
DEMO_PART = "flange"
DEMO_SCANS = 4
DEMO_POINTS = 6000
#: Options of the demo model's short fine-tune (minutes on two CPU cores).
DEMO_OPTIONS = FinetuneOptions(epochs=6, batch_size=1, max_points=DEMO_POINTS, val_samples=1, val_fraction=0.25)


class DeviceChoice(NamedTuple):
    """An entry of the device list: the ``--device`` spelling and what the list shows."""

    spec: str
    text: str


def warm_up_training_imports() -> None:
    """Import what the first optimizer step needs, on a daemon thread, soon after start-up.

    Creating the first AdamW imports ``torch._dynamo``, which holds the interpreter lock for a
    few hundred milliseconds; done by the first fine-tuning job it froze the window at the
    start of the run. Done here it happens while the user is still looking at the demo.
    """
    import threading

    def warm() -> None:
        import torch

        torch.optim.AdamW([torch.zeros(1, requires_grad=True)])

    threading.Thread(target=warm, name="casl-warm-up", daemon=True).start()


def device_choices() -> list[DeviceChoice]:
    """``auto``, the CPU, and every CUDA device PyTorch sees, each described."""
    import torch

    from casl_core.device import describe_device, resolve_device

    out = [
        DeviceChoice("auto", f"Auto ({describe_device(resolve_device('auto'))})"),
        DeviceChoice("cpu", describe_device(torch.device("cpu"))),
    ]
    if torch.cuda.is_available():
        out += [
            DeviceChoice(f"cuda:{i}", describe_device(torch.device("cuda", i)))
            for i in range(torch.cuda.device_count())
        ]
    return out


def bundled_model() -> Path | None:
    """The pretrained weights shipped with the package, or None when absent."""
    from casl_core.train.start import bundled_weights

    return bundled_weights()


@dataclass(frozen=True)
class ModelFingerprint:
    """What identifies a loaded checkpoint in the status bar and reports.

    Attributes
    ----------
    path:
        The safetensors file.
    config_name:
        The model size (``small``, ``base``, ``custom``).
    sha256:
        SHA-256 of the weight file's bytes.
    """

    path: Path
    config_name: str
    sha256: str

    @property
    def short(self) -> str:
        """``"small · 1a2b3c4d"``: config name and the first 8 hex digits of the digest."""
        return f"{self.config_name} · {self.sha256[:8]}"


def model_fingerprint(path: str | os.PathLike[str]) -> ModelFingerprint:
    """Read a checkpoint's config name and hash its weight file.

    Raises
    ------
    CheckpointError
        If the checkpoint cannot be read.
    """
    from casl_core.nn.checkpoint import checkpoint_paths, read_checkpoint_info

    info = read_checkpoint_info(path)
    weights = checkpoint_paths(path).weights
    with open(weights, "rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    return ModelFingerprint(weights, info.config_name, digest)


@dataclass(frozen=True)
class FinetuneRequest:
    """One fine-tuning run as the dialog sets it up.

    Attributes
    ----------
    folder:
        Folder of normal scans.
    out:
        Output checkpoint (the resumable state goes beside it).
    init:
        Base checkpoint; None for the bundled pretrained model (or scratch without one).
    options:
        Epochs, learning rate, batch size, ...
    device:
        ``auto``, ``cpu`` or ``cuda:N``.
    resume:
        Continue the run whose resumable state lies beside ``out``.
    labelled:
        ``(scan, labels)`` pairs of annotated scans (1 defect, 0 normal, -1 none).
    """

    folder: Path
    out: Path
    init: Path | None = None
    options: FinetuneOptions = FinetuneOptions()
    device: str = "auto"
    resume: bool = False
    labelled: tuple[tuple[Scan, np.ndarray], ...] = field(default=(), repr=False)


def resume_file(out: str | os.PathLike[str]) -> Path:
    """Where the resumable state of a run writing ``out`` lies."""
    from casl_core.train.resume import resume_path

    return Path(resume_path(Path(out)))


def run_finetune(request: FinetuneRequest, progress, cancel: CancelFn):
    """Fine-tune as ``request`` says; ``progress`` receives :class:`~casl_core.train.loop.TrainProgress`.

    Returns the :class:`~casl_core.train.loop.TrainResult`.

    Raises
    ------
    CaslError
        Bad data, checkpoint, option or device (the message names it).
    Cancelled
        When cancelled; the last finished epoch's checkpoint and resumable state stay.
    """
    from casl_core.train.finetune import finetune

    return finetune(
        [request.folder],
        request.out,
        init=request.init,
        options=request.options,
        device=request.device,
        resume=request.resume,
        command=["casl-gui", "fine-tune"],
        progress=progress,
        cancel=cancel,
        extra_labelled=list(request.labelled),
    )


def train_fraction(report_) -> float:
    """How far a run is, 0 to 1, from a :class:`~casl_core.train.loop.TrainProgress`."""
    if report_.phase == "epoch":
        return report_.epoch / max(1, report_.epochs)
    if report_.phase != "train" or report_.steps <= 0:
        return 0.0
    return ((report_.epoch - 1) + report_.step / report_.steps) / max(1, report_.epochs)


def as_progress(report_) -> Progress:
    """A :class:`~casl_core.train.loop.TrainProgress` as a plain :class:`Progress` (per mille)."""
    if report_.phase in ("prepare", "note"):
        return Progress(report_.phase, report_.step, report_.steps, report_.message)
    text = f"epoch {report_.epoch}/{report_.epochs}, loss {report_.loss:.4f}"
    return Progress("training", round(1000 * train_fraction(report_)), 1000, text)


def score_scans(scorer, scans: list[tuple[int, Scan]], progress: ProgressFn, cancel: CancelFn) -> dict[int, Scan]:
    """Score each ``(key, scan)`` with ``scorer``; the scans returned carry ``casl_score``, by key."""
    out: dict[int, Scan] = {}
    for done, (key, scan) in enumerate(scans):
        check_cancel(cancel)
        report(progress, "casl", done, len(scans), f"CASL score of {scan.name} ({done + 1}/{len(scans)})")
        out[key] = scorer.score(scan, cancel=cancel).scan
    report(progress, "casl", len(scans), len(scans))
    return out


def write_demo_parts(folder: Path, count: int = DEMO_SCANS, n_points: int = DEMO_POINTS) -> list[Path]:
    """Write normal procedural parts of the demo's family to ``folder`` (PLY), return their paths."""
    from casl_core.io import write_scan
    from casl_core.synth.parts import make_part

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in range(1, count + 1):  # seed 0 is the demo part itself
        path = folder / f"{DEMO_PART}_{seed}.ply"
        write_scan(make_part(DEMO_PART, seed=seed, n_points=n_points), path)
        paths.append(path)
    return paths


def demo_model(
    out: str | os.PathLike[str],
    progress: ProgressFn,
    cancel: CancelFn,
    options: FinetuneOptions = DEMO_OPTIONS,
    device: str = "auto",
) -> Path:
    """Fine-tune a small model for the demo on normal demo-family parts; returns its checkpoint.

    Starts from the bundled pretrained weights when they are installed.

    Raises
    ------
    ConfigError
        If ``out`` is not a ``.safetensors`` path.
    Cancelled
        When cancelled.
    """
    from casl_core.train.finetune import finetune

    target = Path(out)
    if target.suffix != ".safetensors":
        raise ConfigError(f"{target}: the demo model is written as a .safetensors file")
    parts = target.parent / f"{target.stem}-parts"
    report(progress, "demo parts", 0, 1, "Making normal demo parts to train on")
    write_demo_parts(parts, n_points=options.max_points or DEMO_POINTS)
    result = finetune(
        [parts],
        target,
        options=options,
        device=device,
        command=["casl-gui", "demo model"],
        progress=lambda r: progress(as_progress(r)),
        cancel=cancel,
    )
    return result.checkpoint
