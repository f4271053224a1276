"""Turn a user's ``--device`` string into a :class:`torch.device`.

Accepted spellings: ``"auto"`` (the current CUDA GPU when PyTorch sees one, else the CPU),
``"cpu"``, ``"cuda"`` (the current GPU) and ``"cuda:N"``. Under ``torchrun`` with GPUs,
``"auto"`` and ``"cuda"`` mean the GPU of this process's ``LOCAL_RANK``.
"""

from __future__ import annotations

import os
import re

import torch

from casl_core.errors import ConfigError

_CUDA_INDEX = re.compile(r"^cuda:(\d+)$")


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """Return the device ``spec`` names, checking that it exists.

    Parameters
    ----------
    spec:
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (case and surrounding spaces
        ignored), or a :class:`torch.device`.

    Returns
    -------
    torch.device
        ``cpu`` or ``cuda:N`` with an explicit index.

    Raises
    ------
    ConfigError
        If the spelling is unknown, CUDA is asked for but unavailable, or the GPU index
        does not exist; the message names the value given.
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    if not isinstance(spec, str):
        raise ConfigError(f"device must be a string such as 'auto', 'cpu' or 'cuda:0', got {spec!r}")
    text = spec.strip().lower()
    if text == "cpu":
        return torch.device("cpu")
    if text == "auto":
        return _default_cuda() if torch.cuda.is_available() else torch.device("cpu")
    if text == "cuda":
        _require_cuda(spec)
        return _default_cuda()
    match = _CUDA_INDEX.match(text)
    if match is None:
        raise ConfigError(f"unknown device {spec!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'")
    _require_cuda(spec)
    index = int(match.group(1))
    count = torch.cuda.device_count()
    if index >= count:
        raise ConfigError(f"device {spec!r} does not exist: PyTorch sees {count} CUDA device(s)")
    return torch.device("cuda", index)


def _require_cuda(spec: str) -> None:
    if not torch.cuda.is_available():
        raise ConfigError(f"device {spec!r} asked for, but PyTorch sees no CUDA GPU; use 'cpu' or 'auto'")


def _default_cuda() -> torch.device:
    local_rank = os.environ.get("LOCAL_RANK")
    if local_rank is not None and local_rank.isdigit():
        return torch.device("cuda", int(local_rank) % max(1, torch.cuda.device_count()))
    return torch.device("cuda", torch.cuda.current_device())


def describe_device(device: torch.device) -> str:
    """A short human description, e.g. ``"cpu (2 threads)"`` or ``"cuda:0 (NVIDIA H200)"``."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"{device} ({torch.get_num_threads()} threads)"
