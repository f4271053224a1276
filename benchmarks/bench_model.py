"""CASL model benchmarks: inference time, peak memory on a 1M-point scan, fine-tuning wall time.

Run: ``.venv/bin/python benchmarks/bench_model.py [--quick] [--skip-finetune] [--threads 2]``

1. Inference time on a 20k-point demo scan (``flange``): the whole ``infer_scan`` (curvature +
   network) and the network alone, ``small`` (target <= 1 s on 2 cores) and ``base``; the peer
   is the curvature baseline on the same scan. Runs alternate, medians reported.
2. Peak resident memory of ``base`` inference on a 1M-point scan (target <= 4 GB), each
   measured in a fresh subprocess (``ru_maxrss``); the peer is the curvature baseline.
3. Wall time of fine-tuning ``small`` with the default settings on one demo category
   (8 scans of 15k points; target <= 10 min on 2 cores) and the held-out pseudo-anomaly
   point AUROC it reaches, next to the curvature baseline's on the same validation samples.
Weights for 1 and 2 are random (speed and memory do not depend on them).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _random_checkpoint(path: Path, config: str) -> Path:
    from casl_core.nn.casl_net import CaslNet
    from casl_core.nn.checkpoint import CheckpointInfo, save_checkpoint
    from casl_core.nn.config import config_by_name

    torch.manual_seed(0)
    net = CaslNet(config_by_name(config))
    save_checkpoint(
        path, net.state_dict(), CheckpointInfo(kind="finetune", config_name=config, config=net.config.to_dict())
    )
    return path


def bench_inference(tmp: Path, repeats: int) -> None:
    from casl_core.geometry import add_curvature
    from casl_core.scorers.casl import infer_scan, load_model
    from casl_core.scorers.curvature import CurvatureBaseline
    from casl_core.synth.parts import make_part

    scan = make_part("flange", seed=1, n_points=20_000)
    with_curv = add_curvature(scan)
    baseline = CurvatureBaseline()
    models = {c: load_model(_random_checkpoint(tmp / f"{c}.safetensors", c), "cpu") for c in ("small", "base")}
    for m in models.values():  # warm-up
        infer_scan(m, with_curv)
    times: dict[str, list[float]] = {k: [] for k in ("baseline", "small", "small_net", "base", "base_net")}
    for _ in range(repeats):
        for key, fn in (
            ("baseline", lambda: baseline.score(scan)),
            ("small", lambda: infer_scan(models["small"], scan)),
            ("small_net", lambda: infer_scan(models["small"], with_curv)),
            ("base", lambda: infer_scan(models["base"], scan)),
            ("base_net", lambda: infer_scan(models["base"], with_curv)),
        ):
            t = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\n[1] inference, 20,000-point scan, {torch.get_num_threads()} threads, median of {repeats}")
    print(f"    curvature baseline (peer)         {med['baseline']:7.3f} s")
    for c in ("small", "base"):
        print(f"    casl {c:5s} total (curv + net)    {med[c]:7.3f} s   = {med[c] / med['baseline']:5.2f} x baseline")
        print(f"    casl {c:5s} network only          {med[c + '_net']:7.3f} s")
    print(f"    target: small total <= 1 s -> {'met' if med['small'] <= 1.0 else 'NOT met'}")


_MEMORY_CHILD = r"""
import json, resource, sys, torch
torch.set_num_threads(int(sys.argv[3]))
from casl_core.synth.parts import make_part
scan = make_part("flange", seed=2, n_points=1_000_000)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if sys.argv[1] == "baseline":
    from casl_core.scorers.curvature import CurvatureBaseline
    result = CurvatureBaseline().score(scan)
else:
    from casl_core.scorers.casl import infer_scan, load_model
    result = infer_scan(load_model(sys.argv[2], "cpu"), scan)
assert result.point_scores.shape == (1_000_000,)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_mb": before / 1024, "peak_mb": peak / 1024}))
"""


def bench_memory(tmp: Path, threads: int) -> None:
    ckpt = _random_checkpoint(tmp / "base_mem.safetensors", "base")
    out = {}
    for what in ("baseline", "casl"):
        t = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", _MEMORY_CHILD, what, str(ckpt), str(threads)],
            capture_output=True,
            text=True,
            check=True,
        )
        out[what] = dict(json.loads(proc.stdout.strip().splitlines()[-1]), seconds=time.perf_counter() - t)
    print("\n[2] peak resident memory, 1,000,000-point scan (fresh process each)")
    for what, r in out.items():
        print(
            f"    {what:9s} peak {r['peak_mb'] / 1024:6.2f} GB (scan made: {r['before_mb'] / 1024:5.2f} GB), "
            f"{r['seconds']:6.1f} s"
        )
    ratio = out["casl"]["peak_mb"] / out["baseline"]["peak_mb"]
    print(
        f"    casl base / baseline peak: {ratio:.2f} x; target casl <= 4 GB -> "
        f"{'met' if out['casl']['peak_mb'] <= 4096 else 'NOT met'}"
    )


def bench_finetune(tmp: Path) -> None:
    from casl_core.io import write_scan
    from casl_core.metrics import auroc
    from casl_core.synth.parts import make_part
    from casl_core.train.finetune import FinetuneOptions, finetune, make_validation

    train = tmp / "flange" / "train"
    train.mkdir(parents=True)
    for seed in range(8):
        write_scan(make_part("flange", seed=seed, n_points=15_000), train / f"flange_{seed}.ply")
    import resource

    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t = time.perf_counter()
    lines: list[str] = []
    result = finetune(
        [train.parent],
        tmp / "flange.safetensors",
        options=FinetuneOptions(config="small"),
        device="cpu",
        use_bundled=False,
        progress=lambda p: (
            lines.append(
                f"      epoch {p.epoch}: loss {p.loss:.4f} val {p.losses.get('val_point_auroc', float('nan')):.4f}"
            )
            if p.phase == "epoch"
            else None
        ),
    )
    wall = time.perf_counter() - t
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    from casl_core.train.data import ScanCache, find_scan_files
    from casl_core.train.finetune import split_holdout

    files = find_scan_files([train.parent])
    cache = ScanCache()
    _, val_idx = split_holdout(len(files), 0.2, 0)
    val = make_validation([cache.prepare(files[i]) for i in val_idx], FinetuneOptions(), "cpu")
    labels = np.concatenate([v.labels for v in val])
    base = auroc(labels, np.concatenate([v.curvature.mean(axis=1) for v in val]))
    print(
        f"\n[3] fine-tuning small, default settings ({FinetuneOptions().epochs} epochs), 8 flange scans x 15k "
        f"points, {torch.get_num_threads()} threads"
    )
    print("\n".join(lines))
    print(f"    wall time {wall:7.1f} s; target <= 600 s -> {'met' if wall <= 600 else 'NOT met'}")
    print(
        f"    CPU time {cpu:7.1f} s (user + system; on a shared machine the wall time also counts waiting "
        f"for the cores, CPU time / threads bounds what the run needs alone)"
    )
    print(
        f"    held-out pseudo-anomalies, point AUROC: casl {result.best_metric:.4f}, "
        f"curvature baseline (mean of scales) {base:.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-finetune", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    with tempfile.TemporaryDirectory() as tmp:
        bench_inference(Path(tmp), args.repeats)
        if not args.skip_memory:
            bench_memory(Path(tmp), args.threads)
        if not args.skip_finetune:
            bench_finetune(Path(tmp))


if __name__ == "__main__":
    main()
