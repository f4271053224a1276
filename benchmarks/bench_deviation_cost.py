"""Cost of the deviation scorer with four references against one.

References are four good surface samples of a shared mesh (``--points`` each), prepared
once; test scans are one-sided views at 60 % density in random poses. CPU seconds
(``time.process_time``, less sensitive than wall time to a shared machine) are summed
over the test scans for one reference and for all four; preparation is reported apart.

    .venv/bin/python benchmarks/bench_deviation_cost.py [--mesh bunny] [--scans 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from meshes import MESHES, SCANS  # noqa: E402

from casl_core.io import read_scan  # noqa: E402
from casl_core.scorers.deviation import deviation  # noqa: E402
from casl_core.scorers.reference import reference_from_scan  # noqa: E402
from casl_core.synth.views import random_direction, random_pose, resample, visible_side  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mesh", default="bunny", choices=sorted(MESHES))
    parser.add_argument("--points", type=int, default=20000)
    parser.add_argument("--scans", type=int, default=5)
    args = parser.parse_args()
    path = SCANS / MESHES[args.mesh]
    t0 = time.process_time()
    refs = [reference_from_scan(read_scan(path, surface_samples=args.points, seed=s), f"ref{s}") for s in range(4)]
    prep = (time.process_time() - t0) / 4
    tests = []
    for s in range(args.scans):
        rng = np.random.default_rng([s, 3])
        source = read_scan(path, surface_samples=int(args.points * 2), seed=100 + s)
        tests.append(random_pose(resample(visible_side(source, random_direction(rng)), 0.6, rng), rng).scan)
    cost = {}
    for n in (1, 4):
        t0 = time.process_time()
        for scan in tests:
            deviation(scan, refs[:n])
        cost[n] = (time.process_time() - t0) / len(tests)
    print(f"{args.mesh}: reference preparation {prep:.2f} CPU s each")
    print(f"one reference:   {cost[1]:.2f} CPU s per scan")
    print(f"four references: {cost[4]:.2f} CPU s per scan ({cost[4] / cost[1]:.2f} x one)")


if __name__ == "__main__":
    main()
