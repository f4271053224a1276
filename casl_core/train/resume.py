"""Resumable training state: weights, optimizer, epoch and RNG, as safetensors + JSON.

Training writes ``<stem>.resume.safetensors`` beside its output checkpoint after every epoch
(atomically, like every checkpoint). Optimizer state is flattened into tensors named
``optim.state.<param index>.<key>`` plus JSON for the parameter groups and any non-tensor
state, so nothing is ever pickled. Random streams: the per-epoch NumPy generators are derived
from ``(seed, epoch, rank)``, so only the torch generator's state is stored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from casl_core.errors import CheckpointError
from casl_core.nn.checkpoint import (
    checkpoint_paths,
    read_safetensors_doc,
    read_safetensors_tensors,
    refuse_pickle,
    write_safetensors,
)

RESUME_FORMAT = "casl-resume"
_MODEL = "model."
_OPTIM = "optim.state."
_RNG = "rng.torch"


def resume_path(out: str | os.PathLike[str]) -> Path:
    """Where the resumable state of a run writing checkpoint ``out`` lives."""
    weights = checkpoint_paths(out).weights
    return weights.with_name(weights.name[: -len(".safetensors")] + ".resume.safetensors")


@dataclass(frozen=True)
class ResumeState:
    """Everything needed to continue a run after the last completed epoch.

    Attributes
    ----------
    model:
        The model's ``state_dict`` at the end of epoch ``epoch``.
    optimizer:
        The optimizer's ``state_dict`` (as :meth:`torch.optim.Optimizer.load_state_dict` takes).
    epoch:
        Epochs completed.
    best_metric:
        Best validation metric so far (``None`` before any validation).
    torch_rng:
        ``torch.get_rng_state()`` at the end of the epoch.
    run:
        JSON-ready facts of the run (options, data fingerprint, loss history), compared on
        resume so a state is not continued with different data or settings.
    """

    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    epoch: int
    best_metric: float | None
    torch_rng: torch.Tensor
    run: dict[str, Any] = field(default_factory=dict)


def flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer ``state_dict`` into named tensors and a JSON-ready remainder."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, per_param in state["state"].items():
        for key, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{_OPTIM}{index}.{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def unflatten_optimizer(tensors: dict[str, torch.Tensor], doc: dict[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`flatten_optimizer`."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith(_OPTIM):
            index, key = name[len(_OPTIM) :].split(".", 1)
            state.setdefault(int(index), {})[key] = value
    for index, values in doc.get("scalars", {}).items():
        state.setdefault(int(index), {}).update(values)
    return {"state": state, "param_groups": doc["param_groups"]}


def save_resume_state(out: str | os.PathLike[str], state: ResumeState) -> Path:
    """Write ``state`` atomically beside checkpoint ``out``; returns the file written."""
    path = resume_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    optim_tensors, optim_doc = flatten_optimizer(state.optimizer)
    tensors = {f"{_MODEL}{k}": v for k, v in state.model.items()}
    tensors.update(optim_tensors)
    tensors[_RNG] = state.torch_rng
    doc = {
        "format": RESUME_FORMAT,
        "epoch": state.epoch,
        "best_metric": state.best_metric,
        "optimizer": optim_doc,
        "run": state.run,
    }
    write_safetensors(path, tensors, doc)
    return path


def load_resume_state(out: str | os.PathLike[str]) -> ResumeState:
    """Read the resumable state written beside checkpoint ``out``.

    Raises
    ------
    CheckpointError
        If there is none, it is a pickle, or it is not a CASL resume state.
    """
    path = resume_path(out)
    if not path.is_file():
        raise CheckpointError(f"{path}: no resumable state to continue from (train without --resume first)")
    refuse_pickle(path)
    doc = read_safetensors_doc(path)
    if not isinstance(doc, dict) or doc.get("format") != RESUME_FORMAT:
        raise CheckpointError(f"{path}: not a CASL resume state")
    tensors = read_safetensors_tensors(path)
    model = {k[len(_MODEL) :]: v for k, v in tensors.items() if k.startswith(_MODEL)}
    if _RNG not in tensors:
        raise CheckpointError(f"{path}: resume state lacks the random generator state")
    return ResumeState(
        model=model,
        optimizer=unflatten_optimizer(tensors, doc["optimizer"]),
        epoch=int(doc["epoch"]),
        best_metric=doc.get("best_metric"),
        torch_rng=tensors[_RNG],
        run=doc.get("run", {}),
    )
