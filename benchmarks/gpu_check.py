"""Every check that needs an NVIDIA GPU, in one run: CUDA tests and GPU figures.

Run on a machine with a CUDA build of torch (``make bench TORCH_SPEC='torch==2.14.1'`` or
any CUDA wheel) from the repository root:

    .venv/bin/python benchmarks/gpu_check.py [--out DIR]

It runs the test-suite's CUDA tests (they are skipped on CPU-only machines), then times on
the GPU against the CPU in the same run: multi-scale curvature of a 1M-point scan, the CASL
U-Net forward + backward (``small`` and ``base``) on a ~20k-voxel scan, ``base`` inference on
a 1M-point scan with its peak GPU memory, and a short fine-tuning run's throughput. Results
go to stdout and ``<out>/gpu_check.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SCANS = REPO.parent / "shared" / "data" / "scans"


def _time(fn, repeats: int = 5, sync: bool = True) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        if sync and torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if sync and torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def cuda_tests() -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-k", "cuda or gpu", "tests", "--ignore=tests/gui"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-500:]
    return {"returncode": proc.returncode, "summary": tail}


def curvature_figures() -> dict:
    from casl_core.geometry import compute_curvature
    from casl_core.io import read_scan

    pts = read_scan(SCANS / "common-3d-test-models/nefertiti.obj", surface_samples=1_000_000, seed=0).points
    cpu = _time(lambda: compute_curvature(pts, device="cpu"), repeats=3, sync=False)
    gpu = _time(lambda: compute_curvature(pts, device="cuda"), repeats=3)
    a = compute_curvature(pts, device="cpu").fields
    b = compute_curvature(pts, device="cuda").fields
    diff = max(float(np.max(np.abs(a[k] - b[k]))) for k in a)
    return {"points": len(pts), "cpu_s": cpu, "cuda_s": gpu, "max_abs_diff": diff}


def unet_figures() -> dict:
    from casl_core.io import read_scan
    from casl_core.nn import CaslBatch, CaslNet, config_by_name, normalize_points

    scan = read_scan(SCANS / "common-3d-test-models/stanford-bunny.obj")
    pts, _ = normalize_points(scan.points)
    curv = np.random.default_rng(0).random((len(pts), 3)).astype(np.float32) * 0.1
    out = {}
    for name in ("small", "base"):
        for dev in ("cpu", "cuda"):
            model = CaslNet(config_by_name(name)).to(dev)
            batch = CaslBatch.from_scans([pts], [curv], voxel_size=0.015, device=dev)

            def step(model=model, batch=batch):
                model.zero_grad(set_to_none=True)
                res = model(batch)
                (res.xyz.square().mean() + res.logits.square().mean()).backward()

            out[f"{name}_{dev}_train_step_s"] = _time(step, repeats=5, sync=dev == "cuda")
    return out


def inference_memory() -> dict:
    from casl_core.io import read_scan
    from casl_core.nn import CaslBatch, CaslNet, config_by_name, normalize_points

    pts = read_scan(SCANS / "common-3d-test-models/nefertiti.obj", surface_samples=1_000_000, seed=1).points
    norm, _ = normalize_points(pts)
    curv = np.zeros((len(norm), 3), np.float32)
    model = CaslNet(config_by_name("base")).cuda().eval()
    torch.cuda.reset_peak_memory_stats()
    with torch.no_grad():
        t = _time(lambda: model(CaslBatch.from_scans([norm], [curv], voxel_size=0.03, device="cuda")), repeats=3)
    return {"points": len(pts), "base_inference_s": t, "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20}


def finetune_throughput(out_dir: Path) -> dict:
    data = out_dir / "parts"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "casl_core.cli",
            "parts",
            "--out",
            str(data),
            "--kinds",
            "flange",
            "--count",
            "6",
            "--points",
            "15000",
        ],
        check=True,
        cwd=REPO,
    )
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "casl_core.cli",
            "finetune",
            "--train",
            str(data / "flange"),
            "--out",
            str(out_dir / "ft.safetensors"),
            "--epochs",
            "10",
            "--device",
            "cuda",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    return {
        "returncode": proc.returncode,
        "wall_s_10_epochs": time.perf_counter() - t0,
        "tail": proc.stdout.strip().splitlines()[-3:] if proc.stdout else proc.stderr[-500:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "out"), help="folder for gpu_check.json")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not torch.cuda.is_available():
        sys.exit("gpu_check: torch sees no CUDA device (install a CUDA build of torch; see README)")
    results = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    for name, fn in (
        ("cuda_tests", cuda_tests),
        ("curvature", curvature_figures),
        ("unet", unet_figures),
        ("inference_1m", inference_memory),
        ("finetune", lambda: finetune_throughput(out)),
    ):
        try:
            results[name] = fn()
        except Exception as exc:  # report every check, even when one fails
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        print(name, json.dumps(results[name]), flush=True)
    (out / "gpu_check.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
