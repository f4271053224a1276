"""Several processes (GPUs or machines) through ``torchrun``: the process group and sharding.

Under ``torchrun`` the environment carries ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``;
:func:`init_distributed` then joins the process group (NCCL when the device is a GPU, gloo on
CPUs) and each process trains on its own GPU (``cuda:LOCAL_RANK``). Without those variables
everything runs in one process. Scans are sharded the way ``DistributedSampler`` does it:
one permutation shared by all ranks (seeded by the epoch), padded by repetition to a
multiple of the world size, rank ``r`` taking positions ``r, r + W, r + 2W, ...``, so every
rank runs the same number of steps. Rank 0 writes checkpoints and prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.distributed as dist

from casl_core.device import resolve_device
from casl_core.errors import ConfigError


@dataclass(frozen=True)
class DistContext:
    """Where this process stands among the training processes.

    Attributes
    ----------
    rank, world_size, local_rank:
        As torchrun sets them (0, 1, 0 in a single process).
    device:
        The device this process computes on.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """True on the process that writes files and prints (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when more than one process trains together."""
        return self.world_size > 1


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None:
        return None
    if not value.strip().isdigit():
        raise ConfigError(f"environment variable {name}={value!r} is not a whole number")
    return int(value)


def init_distributed(device: str = "auto") -> DistContext:
    """Join the torchrun process group when launched by torchrun; else a single-process context.

    Parameters
    ----------
    device:
        ``--device`` value. Under torchrun, ``auto``/``cuda`` pick ``cuda:LOCAL_RANK``.

    Raises
    ------
    ConfigError
        On a bad device or inconsistent torchrun variables.
    """
    world = _env_int("WORLD_SIZE") or 1
    rank = _env_int("RANK") or 0
    local_rank = _env_int("LOCAL_RANK") or 0
    if world < 1 or not 0 <= rank < world:
        raise ConfigError(f"inconsistent torchrun environment: RANK={rank}, WORLD_SIZE={world}")
    target = resolve_device(device)
    if world > 1 and target.type == "cuda":
        target = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(target)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if target.type == "cuda" else "gloo")
    return DistContext(rank=rank, world_size=world, local_rank=local_rank, device=target)


def shutdown_distributed(ctx: DistContext) -> None:
    """Leave the process group (after a final barrier) when one was joined."""
    if ctx.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def shard_indices(n_items: int, ctx: DistContext, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    """The share of ``range(n_items)`` this rank takes for one epoch (see the module docstring).

    Raises
    ------
    ConfigError
        If there is nothing to shard.
    """
    if n_items < 1:
        raise ConfigError("nothing to shard: no item")
    order = np.random.default_rng([seed, epoch]).permutation(n_items) if shuffle else np.arange(n_items)
    per_rank = -(-n_items // ctx.world_size)
    padded = np.resize(order, per_rank * ctx.world_size)
    return padded[ctx.rank :: ctx.world_size]


class StepShare(NamedTuple):
    """The items one rank takes at one optimisation step, and the step's random generator."""

    items: np.ndarray
    rng: np.random.Generator


def steps_per_epoch(n_items: int, ctx: DistContext, seed: int, epoch: int, batch_size: int) -> int:
    """Optimisation steps this rank makes in ``epoch`` at ``batch_size`` items a step."""
    return -(-len(shard_indices(n_items, ctx, seed, epoch)) // batch_size)


def step_share(n_items: int, ctx: DistContext, seed: int, epoch: int, step: int, batch_size: int) -> StepShare:
    """The items this rank takes at ``step`` of ``epoch``, with a generator seeded by (seed, epoch, rank, step).

    The generator makes every random choice of the step reproducible, so a resumed run
    draws what the interrupted one would have.
    """
    chosen = shard_indices(n_items, ctx, seed, epoch)[step * batch_size : (step + 1) * batch_size]
    return StepShare(chosen, np.random.default_rng([seed, epoch, ctx.rank, step]))


def all_mean(value: float, ctx: DistContext) -> float:
    """Mean of ``value`` over the ranks (``value`` itself in one process)."""
    if not ctx.distributed:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(tensor)
    return float(tensor.item()) / ctx.world_size


def any_rank(flag: bool, ctx: DistContext) -> bool:
    """True when ``flag`` is true on any rank (so every rank stops together)."""
    if not ctx.distributed:
        return flag
    tensor = torch.tensor([1.0 if flag else 0.0], device=ctx.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return bool(tensor.item() > 0)


def barrier(ctx: DistContext) -> None:
    """Wait for every rank (no-op in one process)."""
    if ctx.distributed:
        dist.barrier()
