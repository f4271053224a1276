"""Feed every case of the hostile corpus to the real command line in a subprocess.

A case fails on a traceback, on more than 20 s of CPU time (user + system, from ``os.wait4``'s
rusage of the child: wall time on a shared machine measures the neighbours too; a child still
running after 60 s of wall time is killed and fails), on more than 1.5 GB peak resident memory
(the same rusage), or on an outcome other than the expected one. The child also runs under a
6 GB address-space limit, so a regression cannot take the machine. The cases run three at a
time; each test then checks one case's outcome.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from corpus import CASES, Case

REPO = Path(__file__).resolve().parents[2]
TIME_LIMIT_S = 20.0
WALL_LIMIT_S = 60.0
MEMORY_LIMIT_BYTES = 1.5e9
_MODULES = {"casl": "casl_core.cli", "casl-gui": "casl_gui.app"}

pytestmark = pytest.mark.timeout(600)


@dataclass(frozen=True)
class Outcome:
    """What one run of a case did."""

    status: int | None  #: exit status, None when killed after WALL_LIMIT_S
    out: str
    err: str
    cpu_s: float
    wall_s: float
    peak: float  #: peak resident memory, bytes
    folder: Path


def run_case(case: Case, folder: Path) -> Outcome:
    """Make the case's inputs in ``folder`` and run its command there."""
    case.make(folder)
    env = {**os.environ, "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "2"}
    env.pop("CASL_MAX_MEMORY_GB", None)
    out_path, err_path = folder.parent / f"{folder.name}.out", folder.parent / f"{folder.name}.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(
            # prlimit, not preexec_fn: without preexec_fn the child is spawned (vfork), so its peak
            # RSS does not start from the test process's own (a fork's ru_maxrss would)
            [
                "/usr/bin/time",
                "-f",
                "%M",
                "-o",
                str(folder.parent / f"{folder.name}.rss"),
                "prlimit",
                f"--as={6 << 30}",
                sys.executable,
                "-m",
                _MODULES[case.program],
                *case.argv,
            ],
            cwd=folder,
            stdout=out,
            stderr=err,
            env=env,
        )
        start = time.monotonic()
        status = None
        while time.monotonic() - start < WALL_LIMIT_S:
            pid, raw, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                status = os.waitstatus_to_exitcode(raw)
                break
            time.sleep(0.02)
        wall = time.monotonic() - start
        if status is None:
            proc.kill()
            _, _, usage = os.wait4(proc.pid, 0)
        proc.returncode = status if status is not None else -9  # reaped here, not by Popen
    return Outcome(
        status,
        out_path.read_text(errors="replace"),
        err_path.read_text(errors="replace"),
        usage.ru_utime + usage.ru_stime,
        wall,
        _peak_kb(folder) * 1024.0,
        folder,
    )


def _peak_kb(folder: Path) -> float:
    """Peak RSS (KB) of the command as /usr/bin/time measured it: a small parent, not this process."""
    text = (folder.parent / f"{folder.name}.rss").read_text().split()
    return float(text[-1]) if text else 0.0


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, Outcome]:
    """Every runnable case's outcome, three cases at a time."""
    root = tmp_path_factory.mktemp("hostile")
    runnable = [c for c in CASES if not _needs_display(c)]
    folders = []
    for i in range(len(runnable)):
        folder = root / f"case{i:02d}"
        folder.mkdir()
        folders.append(folder)
    with ThreadPoolExecutor(max_workers=3) as pool:
        done = list(pool.map(run_case, runnable, folders))
    return {case.name: result for case, result in zip(runnable, done)}


def _needs_display(case: Case) -> bool:
    return case.program == "casl-gui" and not os.environ.get("DISPLAY")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_case(case: Case, outcomes):
    if _needs_display(case):
        pytest.skip("casl-gui cases need a display: run under xvfb-run")
    got = outcomes[case.name]
    where = (
        f"{case.name}: exit {got.status}, {got.cpu_s:.1f} s CPU, {got.wall_s:.1f} s wall, {got.peak / 1e9:.2f} GB\n"
        f"stdout: {got.out[-800:]}\nstderr: {got.err[-1500:]}"
    )
    assert got.status is not None, f"still running after {WALL_LIMIT_S} s; " + where
    assert "Traceback" not in got.err, where
    assert got.cpu_s < TIME_LIMIT_S and got.peak < MEMORY_LIMIT_BYTES, where
    if case.expect == "refuse":
        lines = [line for line in got.err.splitlines() if line.strip() and not line.startswith("casl: warning:")]
        assert got.status == 1, where
        assert len(lines) == 1 and lines[0].startswith("casl: error: "), where
        assert case.text in lines[0], where
    else:
        assert got.status == 0, where
        assert case.text in got.out, where
    if case.check is not None:
        case.check(got.folder, got.out, got.err)


def test_every_case_of_the_issue_is_in_the_corpus():
    names = {c.name for c in CASES}
    for required in (
        "obj-face-index-past-2**64",
        "safetensors-header-nested-200k",
        "safetensors-metadata-nested-200k",
        "config-stem-channels-16.5",
        "finetune-init-stem-kernel-1001",
        "config-encoder-channels-4096",
        "config-depths-10**6",
        "npz-2.4GB-zero-member",
        "tiff-10GB-declared",
        "pcd-10M-identical-points-1.4MB",
        "curvature-200k-identical",
        "curvature-200k-half-identical",
        "ply-ascii-float-list",
        "ply-doubles-near-1e300",
        "obj-line-continuation",
        "sample-on-points-only",
        "sample-negative",
        "infer-out-dir-is-the-input-folder",
        "checkpoint-json-from-another-save",
        "newline-in-file-name",
    ):
        assert required in names, required
