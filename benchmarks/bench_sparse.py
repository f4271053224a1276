"""Sparse U-Net speed on a real ~20k-voxel scan, on CPU, against spconv's CPU build.

Run from the repository root: ``.venv/bin/python benchmarks/bench_sparse.py [--runs N]``.

The scan is the Stanford bunny (35,947 points) from ``../shared/data/scans``, normalised as
the CASL preprocessing does and voxelised at 0.015 (about 19.8k voxels; 0.03 gives only
6k on this scan). Curvature: surface variation at k = 16, 32, 64 (scipy k-d tree).

Measured, alternating ours and the peer (which goes first alternates too), over ``--runs`` runs;
the ratio is the median of the per-run ratios ours / spconv, with its quartiles:

1. training step (voxelise, kernel maps, forward, backward, same loss) of CaslNet ``small``
   and ``base`` against the same network built from spconv's layers (``SubMConv3d``,
   ``SparseConv3d``, ``SparseInverseConv3d``), for the ratio ours / spconv. spconv runs in a
   child process (it brings its own OpenMP runtime, whose spinning threads slow torch's on
   two cores). spconv 2.3.8's backward asks ``torch.cuda.current_stream()`` even for CPU
   tensors, whose branch never uses the stream, and so fails on a CPU-only torch; the child
   replaces that lookup with stream 0 when CUDA is absent (``--no-stream-shim`` shows the
   failure);
2. inference (forward only, eval mode, no grad) of both networks, same ratio; plus
   ``small`` inference on 20,000 points of the scan;
3. one 3^3 convolution 32 -> 32 (forward + backward): ours on the active voxels against
   dense ``torch.nn.functional.conv3d`` on the scan's bounding grid.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import nn
from torch.nn import functional

from casl_core.nn.casl_net import CaslBatch, CaslNet
from casl_core.nn.config import CaslConfig, config_by_name
from casl_core.nn.conv import SparseConv3d
from casl_core.nn.preprocess import normalize_points

SCANS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scans"
SCAN = SCANS / "common-3d-test-models" / "stanford-bunny.obj"
VOXEL = 0.015


def load_obj_vertices(path: Path) -> np.ndarray:
    """The ``v`` lines of an OBJ file as an (N, 3) float64 array."""
    with open(path) as handle:
        return np.array([line.split()[1:4] for line in handle if line.startswith("v ")], dtype=np.float64)


def surface_variation(points: np.ndarray, ks: tuple[int, ...] = (16, 32, 64)) -> np.ndarray:
    """(N, len(ks)) surface variation l0 / (l0 + l1 + l2) of the k nearest points."""
    _, idx = cKDTree(points).query(points, k=max(ks))
    out = np.empty((len(points), len(ks)), dtype=np.float32)
    for j, k in enumerate(ks):
        nbrs = points[idx[:, :k]]
        centred = nbrs - nbrs.mean(axis=1, keepdims=True)
        eig = np.linalg.eigvalsh(np.einsum("nki,nkj->nij", centred, centred) / k)
        out[:, j] = eig[:, 0] / np.maximum(eig.sum(axis=1), 1e-12)
    return out


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class SpconvTwin(nn.Module):
    """CaslNet's U-Net (same widths, depths and fusion) built from spconv layers."""

    def __init__(self, config: CaslConfig, spconv) -> None:
        super().__init__()
        self.sp = sp = spconv
        self.token = nn.Parameter(torch.randn(1, config.token_channels))

        def cbr(c_in, c_out, k, key, stride=1):
            conv = (
                sp.SubMConv3d(c_in, c_out, k, bias=False, indice_key=key)
                if stride == 1
                else sp.SparseConv3d(c_in, c_out, 2, stride=2, bias=False, indice_key=key)
            )
            return sp.SparseSequential(conv, nn.BatchNorm1d(c_out), nn.ReLU())

        def stage(c_in, c_out, depth, key):
            return nn.ModuleList(self._block(c_in if i == 0 else c_out, c_out, key) for i in range(depth))

        self.stem = cbr(config.token_channels, config.stem_channels, config.stem_kernel, "stem")
        width, self.enc = config.stem_channels, nn.ModuleList()
        for i, (c, d) in enumerate(zip(config.encoder_channels, config.encoder_depths)):
            self.enc.append(nn.ModuleList([cbr(width, width, 2, f"down{i}", 2), stage(width, c, d, f"s{i + 1}")]))
            width = c
        p = config.prompt_channels
        self.mlp = nn.Sequential(
            nn.Linear(config.curvature_channels, p[0], bias=False),
            nn.BatchNorm1d(p[0]),
            nn.ReLU(),
            nn.Linear(p[0], p[0], bias=False),
            nn.BatchNorm1d(p[0]),
            nn.ReLU(),
        )
        self.cdown = nn.ModuleList(
            nn.ModuleList(
                [cbr(p[i], p[i + 1], 2, f"cdown{i}", 2), stage(p[i + 1], p[i + 1], config.prompt_depth, f"s{i + 1}")]
            )
            for i in range(3)
        )
        self.dec = nn.ModuleList()
        for i, (c, d, pc) in enumerate(zip(config.decoder_channels, config.decoder_depths, reversed(p))):
            up = sp.SparseSequential(
                sp.SparseInverseConv3d(width, c, 2, indice_key=f"down{3 - i}", bias=False), nn.BatchNorm1d(c), nn.ReLU()
            )
            self.dec.append(nn.ModuleList([up, stage(c + pc, c, d, f"s{3 - i}")]))
            width = c
        head_in = config.decoder_channels[-1] + config.curvature_channels
        self.heads = nn.ModuleList(
            nn.Sequential(
                nn.Linear(head_in, config.head_hidden, bias=False),
                nn.BatchNorm1d(config.head_hidden),
                nn.ReLU(),
                nn.Linear(config.head_hidden, n),
            )
            for n in (3, 2)
        )

    def _block(self, c_in, c_out, key):
        sp = self.sp
        body = sp.SparseSequential(
            sp.SubMConv3d(c_in, c_out, 3, bias=False, indice_key=key),
            nn.BatchNorm1d(c_out),
            nn.ReLU(),
            sp.SubMConv3d(c_out, c_out, 3, bias=False, indice_key=key),
            nn.BatchNorm1d(c_out),
        )
        short = (
            nn.Identity() if c_in == c_out else nn.Sequential(nn.Linear(c_in, c_out, bias=False), nn.BatchNorm1d(c_out))
        )
        return nn.ModuleList([body, short])

    def _run_stage(self, stage, x):
        for body, short in stage:
            y = body(x)
            x = y.replace_feature(torch.relu(y.features + short(x.features)))
        return x

    def forward(self, coords, curv_vox, inverse, curv_pts):
        shape = (coords[:, 1:].max(0).values + 1).tolist()
        token = self.token.expand(coords.shape[0], -1)
        x = self.stem(self.sp.SparseConvTensor(token, coords, shape, 1))
        for down, stage in self.enc:
            x = self._run_stage(stage, down(x))
        prompt = self.sp.SparseConvTensor(self.mlp(curv_vox), coords, shape, 1)
        prompts = [prompt]
        for down, stage in self.cdown:
            prompts.append(self._run_stage(stage, down(prompts[-1])))
        for (up, stage), prompt in zip(self.dec, reversed(prompts)):
            y = up(x)
            if not torch.equal(y.indices, prompt.indices):
                raise RuntimeError("spconv produced the two encoders' sites in different orders")
            x = self._run_stage(stage, y.replace_feature(torch.cat([y.features, prompt.features], 1)))
        feats = torch.cat([x.features[inverse], curv_pts], 1)
        return tuple(head(feats) for head in self.heads)


def spconv_inputs(batch: CaslBatch):
    coords = batch.voxels.coordinates.clone()
    coords[:, 1:] -= torch.div(coords[:, 1:].min(0).values, 16, rounding_mode="floor") * 16
    return coords.int(), batch.voxels.features, batch.inverse_index, batch.curvature


def median_ms(samples: list[float]) -> float:
    return 1000 * statistics.median(samples)


def ours_step(net: CaslNet, points, curv, train: bool) -> Callable[[], None]:
    """One training step (or one no-grad inference) of our network, from voxelisation on."""

    def step():
        batch = CaslBatch.from_scans([points], [curv], voxel_size=VOXEL)
        if not train:
            with torch.no_grad():
                net(batch)
            return
        out = net(batch)
        ((out.xyz - batch.points).abs().mean() + out.logits.square().mean()).backward()

    return step


def twin_step(twin, points, curv, train: bool) -> Callable[[], None]:
    """The same step for the spconv twin (same inputs, same loss)."""

    def step():
        batch = CaslBatch.from_scans([points], [curv], voxel_size=VOXEL)
        if not train:
            with torch.no_grad():
                twin(*spconv_inputs(batch))
            return
        xyz, logits = twin(*spconv_inputs(batch))
        ((xyz - batch.points).abs().mean() + logits.square().mean()).backward()

    return step


def peer_worker(name: str, shim: bool) -> None:
    """Child-process loop timing the spconv twin (its own OpenMP runtime stays out of ours)."""
    import spconv.pytorch as spconv
    import spconv.pytorch.ops as spconv_ops

    if shim and not torch.cuda.is_available():
        spconv_ops.get_current_stream = lambda: 0
    torch.manual_seed(0)
    points, curv = load_scan()
    twin = SpconvTwin(config_by_name(name), spconv)
    steps = {"train": twin_step(twin.train(), points, curv, True), "infer": twin_step(twin, points, curv, False)}
    twin.eval()
    steps["infer"]()
    print("ready", flush=True)
    for command in sys.stdin:
        command = command.strip()
        if command in steps:
            twin.train(command == "train")
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    print(f"{timed(steps[command]):.6f}", file=sys.__stdout__, flush=True)
            except Exception as exc:  # the peer's failure is reported, not fatal
                print(f"fails: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}", flush=True)
        else:
            break


def start_peer(name: str, shim: bool) -> subprocess.Popen | None:
    command = [sys.executable, __file__, "--peer-worker", name, "--threads", str(torch.get_num_threads())]
    if not shim:
        command.append("--no-stream-shim")
    peer = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = "not started"
    while line and line != "ready":
        line = peer.stdout.readline().strip()
    if line != "ready":
        print(f"spconv peer ({name}) did not start: {peer.communicate()[1].strip().splitlines()[-1:]}")
        return None
    return peer


def ask(peer: subprocess.Popen, command: str) -> str:
    peer.stdin.write(command + "\n")
    peer.stdin.flush()
    return peer.stdout.readline().strip()


def paired_summary(mine: list[float], theirs: list[float]) -> str:
    """Median and quartiles of the per-pair ratios ours / spconv (each pair ran back to back)."""
    ratios = [a / b for a, b in zip(mine, theirs)]
    q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
    return f"ours/spconv {statistics.median(ratios):.3f} (quartiles {q1:.3f}-{q3:.3f} over {len(ratios)} pairs)"


def bench_against_spconv(
    points, curv, runs: int, with_peer: bool, shim: bool, configs: tuple[str, ...] = ("small", "base")
) -> None:
    """Training steps and inference of ours and of the spconv twin, alternating.

    Each run times both back to back, ours first on even runs and spconv first on odd ones;
    the ratio reported is the median of the per-run ratios, which cancels the slow drifts of
    a shared machine better than a ratio of two medians.
    """
    for name in configs:
        net = CaslNet(config_by_name(name))
        peer = start_peer(name, shim) if with_peer else None
        for mode in ("train", "infer"):
            net.train(mode == "train")
            step = ours_step(net, points, curv, mode == "train")
            step()
            peer_ok = False
            if peer is not None:
                first = ask(peer, mode)  # warm-up, and the failure if it fails
                if first.startswith("fails"):
                    print(f"spconv {mode} on CPU {first}", flush=True)
                else:
                    peer_ok = True
            mine, theirs = [], []
            for run in range(runs):
                turns = ["ours", "peer"] if run % 2 == 0 else ["peer", "ours"]
                for turn in turns:
                    time.sleep(0.3)
                    if turn == "ours":
                        mine.append(timed(step))
                    elif peer_ok:
                        theirs.append(float(ask(peer, mode)))
            what = "train step" if mode == "train" else "inference "
            line = (
                f"{what} {name:5s} ({net.parameter_count() / 1e6:.2f} M params): ours median "
                f"{median_ms(mine):7.1f} ms (min {1000 * min(mine):.1f})"
            )
            if theirs:
                line += (
                    f"; spconv median {median_ms(theirs):7.1f} ms (min {1000 * min(theirs):.1f}); "
                    + paired_summary(mine, theirs)
                )
            print(line, flush=True)
        if peer is not None:
            ask(peer, "quit")
            peer.wait()


def bench_inference_20k_points(points, curv, runs: int) -> None:
    """Inference of ``small`` on 20,000 points drawn from the scan (the GUI's typical request)."""
    pick = np.random.default_rng(0).choice(len(points), 20_000, replace=False)
    net = CaslNet(config_by_name("small")).eval()

    def run():
        with torch.no_grad():
            net(CaslBatch.from_scans([points[pick]], [curv[pick]], voxel_size=VOXEL))

    run()
    samples = []
    for _ in range(runs):
        time.sleep(0.5)
        samples.append(timed(run))
    voxels = CaslBatch.from_scans([points[pick]], [curv[pick]], voxel_size=VOXEL).voxels.num_sites
    print(
        f"inference small, 20000 points ({voxels} voxels): median {median_ms(samples):.1f} ms "
        f"(min {1000 * min(samples):.1f})",
        flush=True,
    )


def bench_single_layer(points, runs: int) -> None:
    batch = CaslBatch.from_scans([points], [np.zeros((len(points), 3), np.float32)], voxel_size=VOXEL)
    conv = SparseConv3d(32, 32, 3)
    feats = torch.randn(batch.voxels.num_sites, 32, requires_grad=True)
    x = batch.voxels.replace_features(feats)
    coords = batch.voxels.coordinates[:, 1:]
    shape = (coords.max(0).values - coords.min(0).values + 1).tolist()
    dense = torch.randn(1, 32, *shape, requires_grad=True)
    weight = torch.randn(32, 32, 3, 3, 3, requires_grad=True)

    def ours() -> None:
        conv(x).features.sum().backward()

    def theirs() -> None:
        functional.conv3d(dense, weight, padding=1).sum().backward()

    ours(), theirs()
    mine, ref = [], []
    for _ in range(runs):
        mine.append(timed(ours))
        ref.append(timed(theirs))
    print(
        f"one 3^3 conv 32->32 fwd+bwd: ours {median_ms(mine):.1f} ms on {x.num_sites} voxels; dense conv3d "
        f"{median_ms(ref):.1f} ms on the {shape} grid; "
        f"dense/ours {statistics.median(ref) / statistics.median(mine):.1f}"
    )


def load_scan() -> tuple[np.ndarray, np.ndarray]:
    """The normalised bunny and its (N, 3) curvature."""
    points, _ = normalize_points(load_obj_vertices(SCAN))
    return points, surface_variation(points.astype(np.float64))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument(
        "--configs",
        nargs="+",
        default=["small", "base"],
        choices=["small", "base"],
        help="network sizes to compare with spconv",
    )
    parser.add_argument(
        "--skip-extras",
        action="store_true",
        help="only the comparison with spconv (no 20k-point inference, no single layer)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-spconv", action="store_true", help="skip the spconv peer")
    parser.add_argument(
        "--no-stream-shim", action="store_true", help="run spconv's backward as released (fails without CUDA)"
    )
    parser.add_argument("--peer-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.peer_worker:
        peer_worker(args.peer_worker, not args.no_stream_shim)
        return
    torch.manual_seed(0)
    points, curv = load_scan()
    batch = CaslBatch.from_scans([points], [curv], voxel_size=VOXEL)
    print(
        f"scan {SCAN.name}: {len(points)} points, {batch.voxels.num_sites} voxels at {VOXEL}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads",
        flush=True,
    )
    with_peer = not args.no_spconv and importlib.util.find_spec("spconv") is not None
    if not with_peer:
        print("spconv peer skipped (not installed or --no-spconv)")
    bench_against_spconv(points, curv, args.runs, with_peer, not args.no_stream_shim, tuple(args.configs))
    if not args.skip_extras:
        bench_inference_20k_points(points, curv, args.runs)
        bench_single_layer(points, args.runs)


if __name__ == "__main__":
    main()
