"""Atomic writes: the old file survives a failure, the new one gets ordinary permissions."""

from __future__ import annotations

import os
import stat

import pytest

from casl_core.atomic import atomic_open, atomic_write_bytes


def test_failure_mid_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "notes.json"
    atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as fh:
            fh.write(b"half of the new cont")
            raise RuntimeError("killed")
    assert target.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["notes.json"]


def test_new_file_is_readable_like_a_plain_open(tmp_path):
    plain = tmp_path / "plain"
    plain.write_bytes(b"x")
    target = tmp_path / "atomic"
    atomic_write_bytes(target, b"y")
    assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    os.chmod(target, 0o640)
    atomic_write_bytes(target, b"z")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640 and target.read_bytes() == b"z"
