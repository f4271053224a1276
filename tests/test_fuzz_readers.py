"""Fuzzing read_scan: random bytes and mutated real files raise CaslError or read consistently."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casl_core.errors import CaslError
from casl_core.io import read_scan, write_scan
from casl_core.scan import Scan

SCANS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scans"
SUFFIXES = [
    ".ply",
    ".pcd",
    ".xyz",
    ".txt",
    ".csv",
    ".asc",
    ".pts",
    ".npy",
    ".npz",
    ".obj",
    ".stl",
    ".off",
    ".tiff",
    ".bin",
]
FUZZ = settings(
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

pytestmark = pytest.mark.slow


def _check(path: Path) -> None:
    """Read ``path``: only a CaslError may escape, and a scan read must be consistent."""
    try:
        scan = read_scan(path)
    except CaslError as exc:
        assert str(exc).startswith(str(path)), str(exc)
        assert "\n" not in str(exc)
        return
    _assert_consistent(scan)


def _assert_consistent(scan: Scan) -> None:
    md = scan.metadata
    n = len(scan)
    assert n > 0 and scan.points.dtype == np.float32 and np.isfinite(scan.points).all()
    assert md.points_in_file - md.dropped_nonfinite == n
    if md.source_index is not None:
        assert len(md.source_index) == n and np.all(np.diff(md.source_index) > 0)
    if md.faces is not None and md.faces.size:
        assert md.faces.min() >= 0 and md.faces.max() < n
    if md.pixel_index is not None:
        assert len(md.pixel_index) == n


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def seeds(work) -> dict[str, bytes]:
    """Small valid files: real shared scans and files written by casl_core."""
    real = {
        "bone.ply": SCANS / "pymeshlab-samples" / "bone.ply",
        "milk.pcd": SCANS / "pcl" / "tutorials" / "correspondence_grouping" / "milk.pcd",
        "template.pcd": SCANS / "pcl" / "tutorials" / "template_alignment" / "object_template_4.pcd",
        "chameleon.pts": SCANS / "pymeshlab-samples" / "chameleon.pts",
        "beetle.obj": SCANS / "common-3d-test-models" / "beetle.obj",
    }
    out = {name: path.read_bytes() for name, path in real.items()}
    bone = read_scan(real["bone.ply"]).subset(np.arange(0, 1872, 12))
    bone = bone.with_fields(height=bone.points[:, 2].copy())
    for name, binary in [
        ("w.ply", True),
        ("wa.ply", False),
        ("w.pcd", True),
        ("wa.pcd", False),
        ("w.csv", False),
        ("w.xyz", False),
    ]:
        write_scan(bone, work / name, binary=binary)
        out[name] = (work / name).read_bytes()
    out["w.off"] = (
        b"COFF\n4 2 0\n0 0 0 255 0 0 255\n1 0 0 0 9 0 255\n1 1 0 1 2 3 255\n0 1 1 4 5 6 255\n3 0 1 2\n4 0 1 2 3\n"
    )
    out["w.stl"] = b"\0" * 80 + np.uint32(2).tobytes() + np.arange(2 * 25, dtype="<u2").tobytes()
    np.save(work / "w.npy", bone.points[:40])
    out["w.npy"] = (work / "w.npy").read_bytes()
    return out


@settings(FUZZ, max_examples=4200)
@given(suffix=st.sampled_from(SUFFIXES), data=st.binary(max_size=400))
def test_random_bytes_never_escape(work, suffix, data):
    path = work / f"random{suffix}"
    path.write_bytes(data)
    _check(path)


def _mutate(data: bytes, draw) -> bytes:
    kind = draw(st.sampled_from(["flip", "truncate", "header", "splice"]))
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data)))]
    if kind == "flip":
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            at = draw(st.integers(0, len(out) - 1))
            out[at] ^= 1 << draw(st.integers(0, 7))
        return bytes(out)
    if kind == "splice":
        at = draw(st.integers(0, len(data)))
        cut = draw(st.integers(0, 64))
        return data[:at] + draw(st.binary(max_size=16)) + data[at + cut :]
    return _edit_header(data, draw)


def _edit_header(data: bytes, draw) -> bytes:
    """Replace a number in the first lines, or drop/duplicate one of them."""
    head = data[:600]
    numbers = list(re.finditer(rb"-?\d+", head))
    lines = list(re.finditer(rb"[^\n]*\n", head))
    if numbers and draw(st.booleans()):
        m = draw(st.sampled_from(numbers))
        value = draw(
            st.sampled_from(
                [0, 1, 2, 3, -1, 255, 2**31, 2**32 + 1, 10**12, int(m.group()) + 1, max(int(m.group()) - 1, 0)]
            )
        )
        return data[: m.start()] + str(value).encode() + data[m.end() :]
    if not lines:
        return data
    m = draw(st.sampled_from(lines))
    if draw(st.booleans()):
        return data[: m.start()] + data[m.end() :]
    return data[: m.end()] + m.group() + data[m.end() :]


SEED_NAMES = [
    "bone.ply",
    "milk.pcd",
    "template.pcd",
    "chameleon.pts",
    "beetle.obj",
    "w.ply",
    "wa.ply",
    "w.pcd",
    "wa.pcd",
    "w.csv",
    "w.xyz",
    "w.off",
    "w.stl",
    "w.npy",
]


@pytest.mark.shared_scans
@pytest.mark.parametrize("seed_name", SEED_NAMES)
def test_mutated_valid_files_never_escape(work, seeds, seed_name):
    suffix = Path(seed_name).suffix

    @settings(FUZZ, max_examples=450)
    @given(data=st.data())
    def run(data):
        mutated = _mutate(seeds[seed_name], data.draw)
        path = work / f"mutated{suffix}"
        path.write_bytes(mutated)
        _check(path)

    run()


# ---------------------------------------------------------------- checkpoints and annotation sidecars

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
_HOSTILE_NUMBERS = st.sampled_from([0, -1, 1, 3, 16.5, True, 1001, 4096, 10**6, 2**64, 1e400, "8", None, [4] * 4])


def _safetensors_bytes(meta_doc: object, tensors_json: str | None = None) -> bytes:
    import json
    import struct

    import torch
    from safetensors.torch import save

    if tensors_json is None:
        return save({"w": torch.arange(4, dtype=torch.float32)}, metadata={"casl": json.dumps(meta_doc)})
    header = tensors_json.encode()
    return struct.pack("<Q", len(header)) + header + bytes(16)


def _valid_checkpoint_doc() -> dict:
    from casl_core.nn.config import SMALL

    return {
        "format": "casl-checkpoint",
        "format_version": 1,
        "kind": "finetune",
        "config_name": "small",
        "config": SMALL.to_dict(),
        "epoch": 3,
    }


def _check_checkpoint(path: Path) -> None:
    from casl_core.nn.checkpoint import load_checkpoint
    from casl_core.nn.config import MAX_PARAMETERS, CaslConfig, estimated_parameters

    try:
        ckpt = load_checkpoint(path)
    except CaslError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc), str(exc)
        return
    assert estimated_parameters(CaslConfig.from_dict(ckpt.info.config)) <= MAX_PARAMETERS


@settings(FUZZ, max_examples=300)
@given(data=st.data())
def test_mutated_checkpoint_descriptions_never_escape(work, data):
    doc = _valid_checkpoint_doc()
    kind = data.draw(st.sampled_from(["config", "top", "json", "bytes"]))
    if kind == "config":
        key = data.draw(st.sampled_from(sorted(doc["config"])))
        doc["config"][key] = data.draw(_HOSTILE_NUMBERS | _JSON)
    elif kind == "top":
        doc[data.draw(st.sampled_from(sorted(doc)))] = data.draw(_JSON)
    raw = _safetensors_bytes(doc if kind != "json" else data.draw(_JSON))
    if kind == "bytes":
        raw = _mutate(raw, data.draw)
    path = work / "fuzz.safetensors"
    path.write_bytes(raw)
    _check_checkpoint(path)


@settings(FUZZ, max_examples=150)
@given(header=_JSON, depth=st.integers(0, 3000))
def test_random_safetensors_headers_never_escape(work, header, depth):
    import json

    text = "[" * depth + json.dumps(header) + "]" * depth
    path = work / "fuzz_header.safetensors"
    path.write_bytes(_safetensors_bytes(None, text))
    _check_checkpoint(path)


def _valid_sidecar() -> dict:
    return {
        "format": "casl-annotations",
        "version": 1,
        "scan": {"file": "a.ply", "points_in_file": 50},
        "annotations": [
            {"id": 1, "label": "defect", "created": "t", "selection": "points", "points": [1, 5, 9]},
            {"id": 2, "label": "normal", "created": "t", "note": "n", "points": [0]},
        ],
    }


@settings(FUZZ, max_examples=400)
@given(data=st.data())
def test_mutated_sidecars_are_refused_in_one_line_or_read_within_bounds(work, data):
    import json

    from casl_core.annotation_sidecar import load_annotations
    from casl_core.annotations import point_labels
    from casl_core.errors import ScanFormatError

    doc = _valid_sidecar()
    kind = data.draw(st.sampled_from(["scan", "annotation", "top", "whole", "bytes"]))
    if kind == "scan":
        doc["scan"][data.draw(st.sampled_from(["file", "points_in_file"]))] = data.draw(_HOSTILE_NUMBERS | _JSON)
    elif kind == "annotation":
        item = doc["annotations"][data.draw(st.integers(0, 1))]
        item[data.draw(st.sampled_from(["id", "label", "points", "note", "created", "selection"]))] = data.draw(
            _HOSTILE_NUMBERS | _JSON
        )
    elif kind == "top":
        doc[data.draw(st.sampled_from(sorted(doc)))] = data.draw(_JSON)
    text = json.dumps(doc if kind != "whole" else data.draw(_JSON)).encode()
    if kind == "bytes":
        text = _mutate(text, data.draw)
    path = work / "a.ply.casl-annotations.json"
    path.write_bytes(text)
    try:
        got = load_annotations(path)
    except ScanFormatError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
        return
    assert 1 <= got.points_in_file <= 10**9
    for ann in got.annotations:
        assert isinstance(ann.id, int) and ann.points.min() >= 0 and ann.points.max() < got.points_in_file
    if got.points_in_file <= 10**7:
        assert len(point_labels(got)) == got.points_in_file
