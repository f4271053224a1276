"""The shared real meshes the accuracy benchmarks make their categories from.

Paths are relative to ``../shared/data/scans`` (see its README); the meshes are read from
there, never copied into the project.
"""

from __future__ import annotations

from pathlib import Path

SCANS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scans"

#: Category name -> mesh, for the benchmarks that turn one mesh into one category.
MESHES = {
    "rocker_arm": "common-3d-test-models/rocker-arm.obj",
    "fandisk": "common-3d-test-models/fandisk.obj",
    "bunny": "common-3d-test-models/stanford-bunny.obj",
    "nefertiti": "common-3d-test-models/nefertiti.obj",
    "airplane": "pymeshlab-samples/airplane.obj",
}
