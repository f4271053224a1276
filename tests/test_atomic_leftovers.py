"""Temporary files of writers killed mid-write are removed by the next write of the same target."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from casl_core.atomic import STALE_SECONDS, atomic_write_bytes

_WRITER = """
import sys, time
from casl_core.atomic import atomic_open
with atomic_open(sys.argv[1]) as fh:
    fh.write(b"x" * 100000)
    fh.flush()
    print("writing", flush=True)
    time.sleep(60)
"""


def _start_writer(target) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(target)], stdout=subprocess.PIPE, env=env)
    assert proc.stdout.readline().strip() == b"writing"
    return proc


def _temporaries(folder, name):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(f".{name}.") and p.name.endswith(".tmp"))


def test_a_killed_writers_temporary_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "out.ply"
    for sig in (signal.SIGKILL, signal.SIGTERM):
        target.write_bytes(b"old")
        proc = _start_writer(target)
        live = _start_writer(target)  # another writer still at work: its file must stay
        os.kill(proc.pid, sig)
        proc.wait(10)
        assert len(_temporaries(tmp_path, "out.ply")) == 2
        assert target.read_bytes() == b"old"
        atomic_write_bytes(target, b"new")
        left = _temporaries(tmp_path, "out.ply")
        assert left == [n for n in left if f".{live.pid}." in n] and len(left) == 1
        live.kill()
        live.wait(10)
        atomic_write_bytes(target, b"new")
        assert _temporaries(tmp_path, "out.ply") == []
        assert target.read_bytes() == b"new"


def test_old_style_temporaries_go_only_once_stale_and_other_files_stay(tmp_path):
    target = tmp_path / "m.safetensors"
    fresh = tmp_path / ".m.safetensors.abcd1234.tmp"
    stale = tmp_path / ".m.safetensors.zz99yy88.tmp"
    other = tmp_path / ".m.safetensors.x.notes.tmp"
    neighbour = tmp_path / ".m.safetensors.resume.safetensors.12.abcd1234.tmp"
    for p in (fresh, stale, other, neighbour):
        p.write_bytes(b"t")
    old = time.time() - STALE_SECONDS - 60
    os.utime(stale, (old, old))
    atomic_write_bytes(target, b"w")
    assert fresh.exists() and other.exists() and neighbour.exists() and not stale.exists()
