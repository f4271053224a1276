"""The training loop shared by pretraining and fine-tuning: epochs, progress, cancel, resume.

Each epoch: the learning rate follows a cosine from ``lr`` down to ``lr / 100``; every step
takes this rank's next batch from the task, runs forward and backward (gradients averaged
over ranks by DistributedDataParallel) and reports a :class:`TrainProgress`. After the epoch,
rank 0 validates (when the task can), writes the output checkpoint when the validation metric
is at least as good as the best so far (every epoch when the task has no metric), then writes
the resumable state. ``cancel`` is polled before every step; when it asks to stop, every rank
stops, and :class:`~casl_core.errors.Cancelled` says which epoch the saved files hold.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from casl_core.errors import Cancelled, CheckpointError
from casl_core.nn.checkpoint import CheckpointInfo, checkpoint_paths, save_checkpoint
from casl_core.progress import CancelFn
from casl_core.train.distributed import DistContext, all_mean, any_rank
from casl_core.train.resume import ResumeState, load_resume_state, resume_path, save_resume_state


@dataclass(frozen=True)
class TrainProgress:
    """One progress report of a training run.

    Attributes
    ----------
    epoch, epochs:
        The current epoch (1-based) and the number of epochs.
    step, steps:
        Steps done in this epoch and steps per epoch (this rank's).
    loss:
        Mean loss of the epoch so far (the finished epoch's mean, averaged over ranks, in
        ``phase == "epoch"`` reports).
    losses:
        The loss's named parts (``{"ce": ...}`` or ``{"l1": ..., "l2": ...}``) and, after
        validation, the validation metric.
    throughput:
        Points per second over all ranks.
    eta_s:
        Estimated seconds left in the run (``None`` before the first step).
    phase:
        ``"prepare"`` (reading scans, ``step``/``steps`` count files), ``"train"``,
        ``"epoch"`` (an epoch finished and was saved) or ``"note"`` (a message).
    message:
        Free text: a warning, or what was saved.
    """

    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float
    losses: dict[str, float] = field(default_factory=dict)
    throughput: float = 0.0
    eta_s: float | None = None
    phase: str = "train"
    message: str = ""


TrainProgressFn = Callable[[TrainProgress], None]


@dataclass(frozen=True)
class EpochRecord:
    """Summary of one finished epoch."""

    epoch: int
    loss: float
    metric: float | None
    seconds: float


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced.

    Attributes
    ----------
    checkpoint:
        The output checkpoint's safetensors file (the best epoch by the validation metric).
    epochs_done:
        Epochs completed (including those before a resume).
    best_metric:
        Validation metric of the saved checkpoint (``None`` without validation).
    history:
        One record per epoch run in this call or restored from the resume state.
    weights_digest:
        SHA-256 of the final parameters of this rank (equal on every rank after DDP).
    notes:
        Warnings given during the run.
    """

    checkpoint: Path
    epochs_done: int
    best_metric: float | None
    history: tuple[EpochRecord, ...]
    weights_digest: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepBatch:
    """The inputs of one step: the model's input and the per-point targets."""

    inputs: Any
    target: Tensor
    points: int


class TrainTask(Protocol):
    """What a kind of training supplies to :func:`run_training`."""

    def steps(self, epoch: int) -> int:
        """Steps this rank runs in ``epoch`` (equal on every rank)."""
        ...  # pragma: no cover - protocol

    def batch(self, epoch: int, step: int) -> StepBatch:
        """Build the batch of ``step`` in ``epoch`` for this rank."""
        ...  # pragma: no cover - protocol

    def loss(self, output: Any, batch: StepBatch) -> tuple[Tensor, dict[str, float]]:
        """The scalar loss to minimise and its named parts."""
        ...  # pragma: no cover - protocol

    def validate(self, model: nn.Module) -> float | None:
        """Validation metric (higher is better) on rank 0, or ``None`` when there is none."""
        ...  # pragma: no cover - protocol


@dataclass(frozen=True)
class LoopOptions:
    """Optimisation settings of a run."""

    epochs: int
    lr: float
    weight_decay: float
    seed: int


def parameters_digest(model: nn.Module) -> str:
    """SHA-256 of a model's parameters (names and float32 bytes, in name order)."""
    sha = hashlib.sha256()
    for name, param in sorted(model.named_parameters()):
        sha.update(name.encode())
        sha.update(param.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return sha.hexdigest()


def cosine_lr(base: float, epoch: int, epochs: int) -> float:
    """Learning rate of ``epoch`` (0-based): cosine from ``base`` to ``base / 100``."""
    floor = base / 100.0
    return floor + (base - floor) * 0.5 * (1.0 + math.cos(math.pi * epoch / max(1, epochs)))


def _emit(progress: TrainProgressFn | None, report: TrainProgress) -> None:
    if progress is not None:
        progress(report)


class _Clock:
    """Throughput and remaining time from the steps run so far in this call."""

    def __init__(self, total_steps: int) -> None:
        self.start = time.perf_counter()
        self.total = total_steps
        self.done = 0
        self.points = 0

    def tick(self, points: int) -> tuple[float, float | None]:
        self.done += 1
        self.points += points
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        eta = elapsed / self.done * max(0, self.total - self.done)
        return self.points / elapsed, eta


@dataclass
class Run:
    """A training run's fixed parts: the model, its description, where it saves, who it is."""

    model: nn.Module
    info: CheckpointInfo
    out: Path
    ctx: DistContext
    options: LoopOptions
    facts: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def _restore(run: Run, optimizer: torch.optim.Optimizer) -> tuple[int, float | None, list[EpochRecord]]:
    state = load_resume_state(run.out)
    for key in ("kind", "data_fingerprint", "config"):
        if state.run.get(key) != run.facts.get(key):
            raise CheckpointError(
                f"{resume_path(run.out)}: the saved run used a different {key.replace('_', ' ')}; "
                f"start again without --resume or use the same data and settings"
            )
    run.model.load_state_dict(state.model)
    optimizer.load_state_dict(state.optimizer)
    torch.set_rng_state(state.torch_rng)
    history = [EpochRecord(**r) for r in state.run.get("history", [])]
    return state.epoch, state.best_metric, history


def _save_epoch(
    run: Run, optimizer: torch.optim.Optimizer, record: EpochRecord, best: float | None, history: list[EpochRecord]
) -> tuple[float | None, str]:
    improved = record.metric is None or best is None or record.metric >= best
    said = ""
    if improved:
        metrics = {"loss": record.loss}
        if record.metric is not None:
            metrics["val_point_auroc"] = record.metric
        info = replace(run.info, epoch=record.epoch, metrics=metrics)
        save_checkpoint(run.out, run.model.state_dict(), info)
        best = record.metric if record.metric is not None else best
        said = f"saved {checkpoint_paths(run.out).weights}"
    facts = dict(run.facts, history=[vars(r) for r in history])
    save_resume_state(
        run.out,
        ResumeState(
            model=run.model.state_dict(),
            optimizer=optimizer.state_dict(),
            epoch=record.epoch,
            best_metric=best,
            torch_rng=torch.get_rng_state(),
            run=facts,
        ),
    )
    return best, said


def run_training(
    task: TrainTask,
    run: Run,
    *,
    resume: bool = False,
    progress: TrainProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> TrainResult:
    """Train ``run.model`` on ``task`` (see the module docstring).

    Raises
    ------
    Cancelled
        When ``cancel`` asked to stop; the files of the last finished epoch stay on disk.
    CheckpointError
        When ``resume`` is set but no compatible resumable state exists.
    """
    ctx, opts = run.ctx, run.options
    trainable = [p for p in run.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=opts.lr, weight_decay=opts.weight_decay)
    history: list[EpochRecord] = []
    start, best = 0, None
    if resume:
        start, best, history = _restore(run, optimizer)
    net: nn.Module = run.model
    if ctx.distributed:
        net = nn.parallel.DistributedDataParallel(run.model, device_ids=None)
    steps_total = sum(task.steps(e) for e in range(start, opts.epochs))
    clock = _Clock(steps_total)
    for epoch in range(start, opts.epochs):
        record = _train_epoch(task, run, net, optimizer, epoch, clock, progress, cancel)
        metric = task.validate(run.model) if ctx.is_main else None
        record = replace(record, metric=metric)
        history.append(record)
        said = ""
        if ctx.is_main:
            best, said = _save_epoch(run, optimizer, record, best, history)
        _emit(
            progress,
            TrainProgress(
                epoch + 1,
                opts.epochs,
                task.steps(epoch),
                task.steps(epoch),
                record.loss,
                {} if metric is None else {"val_point_auroc": metric},
                phase="epoch",
                message=said,
            ),
        )
    return TrainResult(
        checkpoint=checkpoint_paths(run.out).weights,
        epochs_done=max(start, opts.epochs),
        best_metric=best,
        history=tuple(history),
        weights_digest=parameters_digest(run.model),
        notes=tuple(run.notes),
    )


def _train_epoch(
    task: TrainTask,
    run: Run,
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    epoch: int,
    clock: _Clock,
    progress: TrainProgressFn | None,
    cancel: CancelFn | None,
) -> EpochRecord:
    ctx, opts = run.ctx, run.options
    for group in optimizer.param_groups:
        group["lr"] = cosine_lr(opts.lr, epoch, opts.epochs)
    net.train()
    began = time.perf_counter()
    steps = task.steps(epoch)
    total, parts_total = 0.0, dict[str, float]()
    for step in range(steps):
        if any_rank(bool(cancel is not None and cancel()), ctx):
            raise Cancelled(_cancel_message(run, epoch))
        batch = task.batch(epoch, step)
        output = net(batch.inputs)
        loss, parts = task.loss(output, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach())
        for k, v in parts.items():
            parts_total[k] = parts_total.get(k, 0.0) + v
        throughput, eta = clock.tick(batch.points * ctx.world_size)
        _emit(
            progress,
            TrainProgress(
                epoch + 1,
                opts.epochs,
                step + 1,
                steps,
                total / (step + 1),
                {k: v / (step + 1) for k, v in parts_total.items()},
                throughput,
                eta,
            ),
        )
    mean_loss = all_mean(total / max(1, steps), ctx)
    return EpochRecord(epoch=epoch + 1, loss=mean_loss, metric=None, seconds=time.perf_counter() - began)


def _cancel_message(run: Run, epoch: int) -> str:
    if epoch == 0:
        return "training cancelled during epoch 1; nothing was saved"
    return (
        f"training cancelled during epoch {epoch + 1}; {checkpoint_paths(run.out).weights} and the "
        f"resumable state of epoch {epoch} are saved (continue with --resume)"
    )
