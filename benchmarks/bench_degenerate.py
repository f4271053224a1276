"""Curvature time of degenerate clouds against random ones of the same size.

Run: ``.venv/bin/python benchmarks/bench_degenerate.py [--points 1000000] [--repeats 3]``

Clouds of ``--points`` points, default multi-scale mode (``compute_curvature``, NumPy on the
CPU), in process, alternating, median wall time of ``--repeats`` runs each:

* ``random``: uniform in the unit cube (seed 0);
* ``identical``: every point at (0.5, 0.5, 0.5);
* ``half-identical``: half uniform, half at (0.5, 0.5, 0.5);
* ``plane``: uniform on z = 0 (coplanar);
* ``line``: uniform on one line (collinear).

Prints each median and its ratio to ``random`` (the target is at most 2 for the identical
and half-identical clouds). Before duplicates were collapsed, 200k identical points took
58-125 s against 2 s for random ones.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np

from casl_core.geometry import compute_curvature
from casl_core.geometry.degenerate import DegenerateCloudWarning


def clouds(n: int) -> dict[str, np.ndarray]:
    """The benchmark clouds of ``n`` points."""
    rng = np.random.default_rng(0)
    t = rng.random(n)
    return {
        "random": rng.random((n, 3)),
        "identical": np.full((n, 3), 0.5),
        "half-identical": np.concatenate([rng.random((n - n // 2, 3)), np.full((n // 2, 3), 0.5)]),
        "plane": np.c_[rng.random((n, 2)), np.zeros(n)],
        "line": np.c_[t, 2 * t, -t],
    }


def main() -> None:
    """Time every cloud, alternating, and print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = clouds(args.points)
    times: dict[str, list[float]] = {name: [] for name in data}
    warnings.simplefilter("ignore", DegenerateCloudWarning)
    for _ in range(args.repeats):
        for name, pts in data.items():
            start = time.perf_counter()
            compute_curvature(pts)
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["random"])
    print(f"{args.points:,} points, default mode, median of {args.repeats}")
    print(f"{'cloud':16s} {'median s':>9s} {'ratio':>6s}   runs")
    for name, runs in times.items():
        med = statistics.median(runs)
        print(f"{name:16s} {med:9.2f} {med / base:6.2f}   {', '.join(f'{r:.2f}' for r in runs)}")


if __name__ == "__main__":
    main()
