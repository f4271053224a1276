"""Pieces every training run needs: reading the data, building the model, describing the run."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from casl_core.bundled import PRETRAINED, bundled_file
from casl_core.errors import CheckpointError, ConfigError
from casl_core.nn.checkpoint import checkpoint_paths, load_checkpoint
from casl_core.progress import CancelFn, check_cancel
from casl_core.train.data import PreparedScan, ScanCache
from casl_core.train.distributed import DistContext
from casl_core.train.loop import TrainProgress, TrainProgressFn

LOGGER = logging.getLogger("casl_core.train")

#: Name of the pretrained weights shipped in the ``casl_assets`` package.
BUNDLED_WEIGHTS = PRETRAINED


def note(message: str, notes: list[str], progress: TrainProgressFn | None, epochs: int) -> None:
    """Record a warning: logged, kept in the result and reported as a ``"note"`` progress."""
    LOGGER.warning(message)
    notes.append(message)
    if progress is not None:
        progress(TrainProgress(0, epochs, 0, 0, float("nan"), phase="note", message=message))


def prepare_scans(
    files: Sequence[Path], cache: ScanCache, epochs: int, progress: TrainProgressFn | None, cancel: CancelFn | None
) -> list[PreparedScan]:
    """Prepare every file (curvature included), reporting ``"prepare"`` progress per file."""
    prepared = []
    for i, path in enumerate(files):
        check_cancel(cancel)
        prepared.append(cache.prepare(path, cancel))
        if progress is not None:
            progress(
                TrainProgress(
                    0, epochs, i + 1, len(files), float("nan"), phase="prepare", message=f"prepared {path.name}"
                )
            )
    return prepared


def bundled_weights() -> Path | None:
    """The pretrained weights shipped with the package, or ``None`` when they are absent."""
    return bundled_file(PRETRAINED)


def build_model(
    config_name: str | None,
    init: str | os.PathLike[str] | None,
    ctx: DistContext,
    notes: list[str],
    progress: TrainProgressFn | None,
    epochs: int,
    use_bundled: bool = True,
    seed: int = 0,
):
    """A :class:`~casl_core.nn.casl_net.CaslNet` from ``init``, the bundled weights, or from scratch.

    Returns
    -------
    (model, config_name, init_description)

    Raises
    ------
    CheckpointError
        When ``init`` cannot be loaded or does not fit the model.
    ConfigError
        When ``config_name`` contradicts the checkpoint's configuration.
    """
    from casl_core.nn.casl_net import CaslNet
    from casl_core.nn.config import CaslConfig, config_by_name

    source: Path | None = Path(init) if init is not None else None
    if source is None and use_bundled:
        source = bundled_weights()
        if source is None:
            note(
                f"no pretrained weights given and the bundled casl_assets/{BUNDLED_WEIGHTS} is absent: "
                f"training from scratch (pass --init PRETRAINED to start from pretrained weights)",
                notes,
                progress,
                epochs,
            )
    if source is None:
        config = config_by_name(config_name or "small")
        torch.manual_seed(seed)  # reproducible initial weights
        return CaslNet(config).to(ctx.device), config.name, "scratch"
    ckpt = load_checkpoint(source)
    config = CaslConfig.from_dict(ckpt.info.config)
    if config_name is not None and config_name != config.name:
        raise ConfigError(
            f"--config {config_name} contradicts {checkpoint_paths(source).weights}, which holds "
            f"a {config.name!r} model"
        )
    model = CaslNet(config)
    try:
        model.load_state_dict(ckpt.state_dict)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise CheckpointError(f"{ckpt.path}: weights do not fit a {config.name!r} CASL model: {first}") from None
    return model.to(ctx.device), config.name, str(ckpt.path)


def curvature_device(ctx: DistContext) -> str:
    """Where per-step curvature runs: this rank's GPU, else NumPy on the CPU."""
    return str(ctx.device) if ctx.device.type == "cuda" else "cpu"
