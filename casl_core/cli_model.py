"""The model verbs of ``casl``: ``pretrain``, ``finetune``, ``infer``, and ``eval --method casl``.

:func:`add_model_verbs` adds the verbs to the sub-parsers of :func:`casl_core.cli.build_parser`;
:func:`add_eval_model_options` adds ``--checkpoint`` to ``eval`` (the scorer itself comes from
:mod:`casl_core.methods`). Every verb works unchanged under
``torchrun --nproc_per_node=N $(which casl) ...``: the ranks share the work, rank 0 writes
checkpoints and prints.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import sys
from pathlib import Path
from typing import Any

from casl_core.atomic import atomic_write_bytes
from casl_core.errors import ConfigError

_CHECKPOINT_HELP = (
    "checkpoint written by training: model.safetensors (model.json beside it) or model.json; "
    "a pickle/torch.save file is refused"
)


def _device(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device",
        default="auto",
        help="'auto' (a CUDA GPU when there is one, else the CPU), 'cpu', "
        "'cuda' or 'cuda:N'; under torchrun each process takes cuda:LOCAL_RANK (default: auto)",
    )


def _training_options(p: argparse.ArgumentParser, epochs: int, lr: float, batch: int) -> None:
    p.add_argument(
        "--out",
        required=True,
        help="checkpoint to write, e.g. model.safetensors (model.json and "
        "model.resume.safetensors are written beside it)",
    )
    p.add_argument("--epochs", type=int, default=epochs, help=f"epochs (default: {epochs})")
    p.add_argument("--lr", type=float, default=lr, help=f"AdamW learning rate, cosine-decayed (default: {lr})")
    p.add_argument("--batch-size", type=int, default=batch, help=f"scans per step and process (default: {batch})")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument(
        "--max-points",
        type=int,
        default=50_000,
        help="subsample larger training scans to this many points; 0 keeps all (default: 50000)",
    )
    p.add_argument("--resume", action="store_true", help="continue the run whose resumable state is beside --out")
    _device(p)


def add_model_verbs(verbs: argparse._SubParsersAction) -> None:
    """Add the ``pretrain``, ``finetune`` and ``infer`` verbs to ``casl``'s sub-parsers."""
    from casl_core.train.options import FinetuneOptions, PretrainOptions

    ft, pre = FinetuneOptions(), PretrainOptions()

    p = verbs.add_parser(
        "pretrain",
        help="self-supervised pretraining on folders of normal scans",
        description="Pretrain CASL by reconstructing every point's coordinates (L1 + L2 per "
        "point) from the occupancy and multi-scale curvature of normal scans in any supported "
        "format.",
    )
    p.add_argument(
        "--data", nargs="+", required=True, metavar="DIR", help="folders of normal scans (searched recursively)"
    )
    p.add_argument("--config", default="small", choices=["small", "base"], help="model size (default: small)")
    _training_options(p, pre.epochs, pre.lr, pre.batch_size)
    p.set_defaults(func=cmd_pretrain)

    p = verbs.add_parser(
        "finetune",
        help="fine-tune CASL on one category's normal scans",
        description="Fine-tune CASL with pseudo-anomalies made from normal scans (Norm-AS, and "
        "missing patches with --missing-fraction); the "
        "checkpoint kept is the best on held-out pseudo-anomalies (point AUROC).",
    )
    p.add_argument(
        "--train",
        nargs="+",
        required=True,
        metavar="DIR",
        help="folders of the category's normal scans (a category folder with a train/ sub-folder is read from there)",
    )
    p.add_argument(
        "--init",
        metavar="PRETRAINED",
        help="pretrained checkpoint to start from (default: the bundled "
        "casl_assets/default_small.safetensors, or scratch with a warning when it is absent)",
    )
    p.add_argument(
        "--config",
        choices=["small", "base"],
        help="model size when starting from scratch (default: small; with --init, the checkpoint's)",
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        help="share of the scans held out for checkpoint selection; 0 trains on every scan and "
        "selects on a fixed, seeded set of pseudo-anomalies of the training scans (default: 0.2)",
    )
    p.add_argument(
        "--anomaly-weight",
        type=float,
        default=ft.anomaly_weight,
        help=f"cross-entropy weight of the displaced (anomalous) points (default: {ft.anomaly_weight})",
    )
    p.add_argument(
        "--missing-fraction",
        type=float,
        default=ft.missing_fraction,
        metavar="X",
        help="probability in [0, 1] that a pseudo-anomaly (training and validation) is a missing "
        "patch (one of Norm-AS's patches removed, the rim left around it labelled) instead of a "
        "Norm-AS patch pushed along its normal; 0 is the paper's Norm-AS recipe "
        f"(default: {ft.missing_fraction})",
    )
    p.add_argument(
        "--point-dropout",
        type=float,
        default=ft.point_dropout,
        metavar="X",
        help="drop a random share in [0, X) of each training sample's points before its "
        "pseudo-anomaly is made, so the model sees other samplings of the same surface "
        f"(default: {ft.point_dropout})",
    )
    p.add_argument(
        "--scale-jitter",
        type=float,
        default=ft.scale_jitter,
        metavar="X",
        help="stretch each training sample by per-axis factors within 1 +- X/5 and scale its "
        f"normalised points by a factor within 1 +- X (default: {ft.scale_jitter})",
    )
    p.add_argument(
        "--density-gradient",
        type=float,
        default=ft.density_gradient,
        metavar="X",
        help="drop each training sample's points with a probability rising from 0 to X along a "
        f"random direction, one side sparser than the other (default: {ft.density_gradient})",
    )
    _training_options(p, ft.epochs, ft.lr, ft.batch_size)
    p.set_defaults(func=cmd_finetune)

    p = verbs.add_parser(
        "infer",
        help="score scans with a fine-tuned checkpoint",
        description="Score every point of each file: write <stem>.ply with the scalar_casl_score "
        "property (and scalar_casl_score_norm, 0.5 at the threshold, when calibrated) and "
        "<stem>_casl_score.npy (float32, file point order) into --out-dir, and object_scores.csv "
        "with each file's verdict at the checkpoint's calibrated thresholds (PASS, FAIL, "
        "OUT_OF_DISTRIBUTION or NOT_CALIBRATED).",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="scan files")
    p.add_argument("--checkpoint", required=True, help=_CHECKPOINT_HELP)
    p.add_argument(
        "--method",
        default="casl",
        choices=["casl", "fused"],
        help="casl: the checkpoint's model; fused: the inspector casl fuse stored in the checkpoint "
        "(curvature, CASL and reference deviation on one scale; writes scalar_fused_score too) (default: casl)",
    )
    p.add_argument("--out-dir", required=True, help="folder for the outputs")
    p.add_argument(
        "--calibration",
        metavar="CAL.json",
        help="verdicts at this calibration's thresholds (from casl calibrate --method casl) instead of "
        "the checkpoint's; without either, each verdict is 'not calibrated'",
    )
    p.add_argument(
        "--chunk-points",
        type=int,
        default=262_144,
        help="points per chunk of the per-point head (memory bound for huge scans; default: 262144)",
    )
    _tta(p)
    _device(p)
    p.set_defaults(func=cmd_infer)


def _tta(p: argparse.ArgumentParser) -> None:
    from casl_core.scorers.defaults import DEFAULT_TTA

    p.add_argument(
        "--tta",
        type=int,
        default=DEFAULT_TTA,
        metavar="N",
        help="test-time augmentation: score each scan in N seeded poses (random rotation and a "
        f"sub-voxel shift) and average; costs N network passes, 1 turns it off (default: {DEFAULT_TTA})",
    )


def add_eval_model_options(p: argparse.ArgumentParser) -> None:
    """Add ``--checkpoint`` to the ``eval`` parser (used with ``--method casl``)."""
    p.add_argument(
        "--checkpoint",
        help="with --method casl: a fine-tuned checkpoint, or a folder of <category>.safetensors, one per category",
    )
    _tta(p)


class _TrainPrinter:
    """One line per epoch and per note on stderr (rank 0), plus a bar on a terminal."""

    def __init__(self, quiet: bool, is_main: bool) -> None:
        self.quiet, self.is_main = quiet, is_main
        self.bar: Any = None  # a tqdm bar during an epoch (tqdm ships no type information)

    def __call__(self, p) -> None:
        if not self.is_main:
            return
        if p.phase == "note":
            print(f"casl: warning: {p.message}", file=sys.stderr)
        elif p.phase == "epoch":
            self.close()
            val = p.losses.get("val_point_auroc")
            extra = f"  val point AUROC {val:.4f}" if val is not None else ""
            saved = f"  ({p.message})" if p.message else ""
            print(f"epoch {p.epoch}/{p.epochs}  loss {p.loss:.5f}{extra}{saved}", file=sys.stderr, flush=True)
        elif p.phase == "calibrate":
            print(f"calibrated {p.message}", file=sys.stderr, flush=True)
        elif p.phase == "train" and not self.quiet and sys.stderr.isatty():
            self._bar(p)

    def _bar(self, p) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=p.steps, desc=f"epoch {p.epoch}/{p.epochs}", leave=False, file=sys.stderr)
        self.bar.n = p.step
        self.bar.set_postfix_str(f"loss {p.loss:.4f}, {p.throughput:,.0f} pts/s", refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _quiet_logger() -> None:
    logger = logging.getLogger("casl_core.train")
    logger.propagate = False
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())


def _report_run(result, ctx) -> None:
    if ctx.distributed:
        print(f"rank {ctx.rank}/{ctx.world_size}: parameters sha256 {result.weights_digest}", flush=True)
    if ctx.is_main:
        best = "" if result.best_metric is None else f", best val point AUROC {result.best_metric:.4f}"
        print(f"{result.checkpoint}: {result.epochs_done} epochs{best}", flush=True)


def _max_points(value: int) -> int | None:
    if value < 0:
        raise ConfigError(f"--max-points must be >= 0, got {value}")
    return value or None


def cmd_finetune(args: argparse.Namespace) -> int:
    """``casl finetune``."""
    from casl_core.train.finetune import FinetuneOptions, finetune

    _quiet_logger()
    options = FinetuneOptions(
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        max_points=_max_points(args.max_points),
        val_fraction=args.val_fraction,
        anomaly_weight=args.anomaly_weight,
        config=args.config,
        missing_fraction=args.missing_fraction,
        point_dropout=args.point_dropout,
        scale_jitter=args.scale_jitter,
        density_gradient=args.density_gradient,
    )
    _check_out_is_not_init(args.out, args.init)
    return _train(
        args,
        lambda progress: finetune(
            args.train,
            args.out,
            init=args.init,
            options=options,
            device=args.device,
            resume=args.resume,
            command=["casl", *sys.argv[1:]],
            progress=progress,
        ),
    )


def cmd_pretrain(args: argparse.Namespace) -> int:
    """``casl pretrain``."""
    from casl_core.train.pretrain import PretrainOptions, pretrain

    _quiet_logger()
    options = PretrainOptions(
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        max_points=_max_points(args.max_points),
        config=args.config,
    )
    return _train(
        args,
        lambda progress: pretrain(
            args.data,
            args.out,
            options=options,
            device=args.device,
            resume=args.resume,
            command=["casl", *sys.argv[1:]],
            progress=progress,
        ),
    )


def _check_out_is_not_init(out: str, init: str | None) -> None:
    from casl_core.io.guard import check_not_an_input
    from casl_core.nn.checkpoint import checkpoint_paths

    if init:
        sources: list[str | Path] = [checkpoint_paths(init).weights, checkpoint_paths(init).sidecar, init]
        for written in checkpoint_paths(out).weights, checkpoint_paths(out).sidecar:
            check_not_an_input(written, sources, "--out")


def _train(args: argparse.Namespace, run) -> int:
    """Run ``run(progress)`` with a progress printer on rank 0, then report and leave the process group."""
    from casl_core.train.distributed import init_distributed, shutdown_distributed

    ctx = init_distributed(args.device)
    printer = _TrainPrinter(args.quiet, ctx.is_main)
    try:
        _report_run(run(printer), ctx)
    finally:
        printer.close()
        shutdown_distributed(ctx)
    return 0


def cmd_infer(args: argparse.Namespace) -> int:
    """``casl infer``: files sharded over the torchrun ranks, one summary from rank 0."""
    import torch.distributed as dist

    from casl_core.infer import infer_files
    from casl_core.io.guard import free_name
    from casl_core.train.distributed import init_distributed, shutdown_distributed

    ctx = init_distributed(args.device)
    try:
        records = infer_files(
            args.checkpoint,
            args.files,
            args.out_dir,
            method=args.method,
            device=str(ctx.device),
            rank=ctx.rank,
            world_size=ctx.world_size,
            chunk_points=args.chunk_points,
            calibration=_calibration_arg(args),
            tta=args.tta,
        )
        if ctx.distributed:
            gathered: list = [None] * ctx.world_size
            dist.all_gather_object(gathered, records)
            records = [r for part in gathered for r in part]
        if ctx.is_main:
            order = {str(Path(f)): i for i, f in enumerate(args.files)}
            records.sort(key=lambda r: order.get(r.source, 0))
            _write_summary(free_name(Path(args.out_dir) / "object_scores.csv", args.files), records)
            for r in records:
                print(f"{r.source}: {r.points:,} points, object score {r.object_score:.4f} -> {r.scan_out}")
                print(f"  {r.verdict_text}")
    finally:
        shutdown_distributed(ctx)
    return 0


def _write_summary(path: Path, records) -> None:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["file", "points", "object_score", "scan", "scores"] + list(_VERDICT_COLUMNS))
    for r in records:
        row = [r.source, r.points, f"{r.object_score:.9g}", r.scan_out, r.scores_out]
        writer.writerow(row + ["" if getattr(r, c) is None else _cell(getattr(r, c)) for c in _VERDICT_COLUMNS])
    atomic_write_bytes(path, text.getvalue().encode())


_VERDICT_COLUMNS = (
    "verdict",
    "verdict_text",
    "false_alarm_rate",
    "object_threshold",
    "share_above",
    "regions",
    "top_region_points",
)


def _cell(value) -> str:
    return f"{value:.9g}" if isinstance(value, float) else str(value)


def _calibration_arg(args: argparse.Namespace):
    """The calibration read from ``--calibration`` (``None`` when not given)."""
    if not getattr(args, "calibration", None):
        return None
    from casl_core.scorers.calibration_io import read_calibration

    return read_calibration(args.calibration)
