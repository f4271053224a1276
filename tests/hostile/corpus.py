"""The hostile-input corpus: every case is made by code into a folder, with its expected outcome.

Each :class:`Case` writes its inputs (none is stored as a file in the repository: bombs and
10-million-point clouds are built in milliseconds from their structure), names the command
to run on them, and says what must happen: a clean one-line refusal containing a given text,
or a correct result. ``tests/hostile/test_corpus.py`` runs every case through the real
command line in a subprocess.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

Make = Callable[[Path], None]
Check = Callable[[Path, str, str], None]


@dataclass(frozen=True)
class Case:
    """One hostile input and what the command must do with it.

    Attributes
    ----------
    name:
        Test id.
    make:
        Writes the inputs into the case's folder.
    argv:
        Arguments after the program name, relative to the case's folder.
    expect:
        ``"refuse"`` (exit 1, one stderr line ``casl: error: ...`` containing ``text``) or
        ``"ok"`` (exit 0, ``text`` in stdout).
    text:
        Substring the outcome must contain.
    check:
        Further checks on ``(folder, stdout, stderr)``.
    program:
        ``"casl"`` or ``"casl-gui"`` (the latter needs a display; no case uses it now).
    """

    name: str
    make: Make
    argv: tuple[str, ...]
    expect: str
    text: str = ""
    check: Check | None = None
    program: str = "casl"


# ---------------------------------------------------------------- scans


def _write(name: str, data: bytes | str) -> Make:
    def make(folder: Path) -> None:
        (folder / name).write_bytes(data.encode() if isinstance(data, str) else data)

    return make


_TRIANGLE_OBJ = "v 0 0 0\nv 1 0 0\nv 0 1 0\n"

_FLOAT_LIST_PLY = """ply
format ascii 1.0
element vertex 3
property float x
property float y
property float z
element face 1
property list uchar int vertex_indices
property list uchar float texcoord
end_header
0 0 0
1 0 0
0 1 0
3 0 1 2 6 0 0 1 0 0 1
"""


def _binary_ply(points: np.ndarray, kind: str = "double") -> bytes:
    head = f"ply\nformat binary_little_endian 1.0\nelement vertex {len(points)}\n"
    head += "".join(f"property {kind} {a}\n" for a in "xyz") + "end_header\n"
    return head.encode() + points.astype("<f8" if kind == "double" else "<f4").tobytes()


def _huge_doubles(folder: Path) -> None:
    pts = np.array([[1e300, 1e300, 1e300]] * 5 + [[np.inf, 0.0, 0.0], [0.0, 0.0, 0.0]])
    (folder / "far.ply").write_bytes(_binary_ply(pts))


def _check_huge_doubles(folder: Path, out: str, err: str) -> None:
    info = json.loads(out, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    assert info["points_in_file"] == 7
    # the inf row and the origin, which float32 cannot hold beside the bulk at 1e300, are dropped and counted
    assert info["dropped_nonfinite"] == 2 and info["points"] == 5
    assert all(np.isfinite(info["bounds"]["min"] + info["bounds"]["max"]))
    assert info["bounds"]["min"][0] == 1e300


def _npz_bomb(folder: Path, total: int = 2_400_000_000) -> None:
    """An .npz whose 'points' member inflates from about 2.3 MB of deflate to ``total`` zero bytes."""
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (%d, 3), }" % (total // 12)
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    npy_head = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header
    chunk = 1 << 20
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = comp.compress(npy_head) + comp.flush(zlib.Z_FULL_FLUSH)
    block = comp.compress(bytes(chunk)) + comp.flush(zlib.Z_FULL_FLUSH)
    n_blocks = (total - len(npy_head)) // chunk
    stream = first + block * n_blocks + comp.flush()
    size = len(npy_head) + n_blocks * chunk
    crc = zlib.crc32(npy_head)
    zero = bytes(chunk)
    for _ in range(n_blocks):
        crc = zlib.crc32(zero, crc)
    name = b"points.npy"
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(stream), size, len(name), 0)
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, len(stream), size, len(name), 0, 0, 0, 0, 0, 0
    )
    body = local + name + stream
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central) + len(name), len(body), 0)
    (folder / "bomb.npz").write_bytes(body + central + name + end)


def _npy_claiming(shape: tuple[int, int]) -> bytes:
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (%d, %d), }" % shape
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + bytes(240)


def _tiff_bomb(folder: Path) -> None:
    """A small zlib-compressed float TIFF whose tags then claim 30000 x 30000 x 3 floats (10.8 GB)."""
    import tifffile

    path = folder / "bomb.tiff"
    tifffile.imwrite(path, np.zeros((64, 64, 3), np.float32), compression="zlib", photometric="rgb")
    data = bytearray(path.read_bytes())
    (ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, ifd)
    for i in range(count):
        at = ifd + 2 + 12 * i
        tag, kind = struct.unpack_from("<HH", data, at)
        if tag in (256, 257, 278):
            fmt = "<H" if kind == 3 else "<I"
            struct.pack_into(fmt, data, at + 8, 30000)
    path.write_bytes(bytes(data))


def _lzf_repeat(pattern: bytes, total: int) -> bytes:
    """LZF data that expands to ``pattern`` repeated up to ``total`` bytes (one literal, then copies)."""
    out = bytearray([len(pattern) - 1]) + pattern
    left, dist = total - len(pattern), len(pattern) - 1
    while left > 0:
        length = min(264, left)
        if length < 3:
            out += bytes([length - 1]) + pattern[:length]
            break
        if length - 2 >= 7:
            out += bytes([(7 << 5) | (dist >> 8), length - 2 - 7, dist & 0xFF])
        else:
            out += bytes([((length - 2) << 5) | (dist >> 8), dist & 0xFF])
        left -= length
    return bytes(out)


def _identical_pcd(name: str, n: int) -> Make:
    def make(folder: Path) -> None:
        head = (
            "VERSION .7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\n"
            f"WIDTH {n}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n}\nDATA binary_compressed\n"
        )
        packed = _lzf_repeat(struct.pack("<f", 0.25), 12 * n)
        (folder / name).write_bytes(head.encode() + struct.pack("<II", len(packed), 12 * n) + packed)

    return make


def _xyz(name: str, points: np.ndarray) -> Make:
    def make(folder: Path) -> None:
        np.savetxt(folder / name, points, fmt="%.6f")

    return make


def _half_identical(n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.concatenate([rng.random((n // 2, 3)), np.full((n // 2, 3), 0.5)])


def _unchanged(name: str) -> Check:
    def check(folder: Path, out: str, err: str) -> None:
        assert (folder / name).read_bytes() == (folder / f"{name}.orig").read_bytes(), f"{name} was changed"

    return check


def _with_copy(make: Make, name: str) -> Make:
    def both(folder: Path) -> None:
        make(folder)
        (folder / f"{name}.orig").write_bytes((folder / name).read_bytes())

    return both


def _flags_check(out_name: str, n: int) -> Check:
    def check(folder: Path, out: str, err: str) -> None:
        import sys

        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
        from casl_core.io import read_scan

        scan = read_scan(folder / out_name)
        assert len(scan) == n
        flags = scan.fields["curvature_flags"].astype(np.uint8)
        assert (flags & 0x80).sum() >= n // 2
        assert all(np.isfinite(v).all() for v in scan.fields.values())

    return check


# ---------------------------------------------------------------- checkpoints


def _small_config() -> dict:
    from casl_core.nn.config import SMALL

    return SMALL.to_dict()


def _safetensors(header: bytes, payload: bytes = b"\0" * 8) -> bytes:
    return struct.pack("<Q", len(header)) + header + payload


def _checkpoint_doc(**config) -> dict:
    return {
        "format": "casl-checkpoint",
        "format_version": 1,
        "kind": "finetune",
        "config_name": "custom",
        "config": {**_small_config(), **config},
    }


def _evil_checkpoint(name: str, header: bytes) -> Make:
    def make(folder: Path) -> None:
        (folder / name).write_bytes(_safetensors(header))
        np.savetxt(folder / "scan.xyz", np.random.default_rng(0).random((300, 3)))

    return make


def _config_checkpoint(**config) -> Make:
    meta = json.dumps({"casl": json.dumps(_checkpoint_doc(**config))})
    tensor = '"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}'
    header = f'{{"__metadata__": {meta}, {tensor}}}'.encode()
    return _evil_checkpoint("evil.safetensors", header)


_DEEP_HEADER = b"[" * 200_000 + b"]" * 200_000
_DEEP_META = (
    b'{"__metadata__": {"casl": "' + b"[" * 200_000 + b"]" * 200_000 + b'"},'
    b' "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}'
)


def _real_model(folder: Path, epochs_apart: bool = False) -> None:
    """A small fine-tuned checkpoint (random weights) and a scan; optionally a JSON from another save."""
    import torch

    from casl_core.nn.casl_net import CaslNet
    from casl_core.nn.checkpoint import CheckpointInfo, save_checkpoint
    from casl_core.nn.config import SMALL

    torch.manual_seed(0)
    info = CheckpointInfo(kind="finetune", config_name="small", config=SMALL.to_dict(), epoch=1)
    save_checkpoint(folder / "model.safetensors", CaslNet(SMALL).state_dict(), info)
    if epochs_apart:
        old = (folder / "model.json").read_bytes()
        save_checkpoint(folder / "model.safetensors", CaslNet(SMALL).state_dict(), info)
        (folder / "model.json").write_bytes(old)  # as if killed between the weights and the JSON
    rng = np.random.default_rng(1)
    pts = rng.normal(size=(500, 3)) * [1, 1, 0.1]
    (folder / "a.ply").write_bytes(_binary_ply(pts, "float"))
    (folder / "a.ply.orig").write_bytes((folder / "a.ply").read_bytes())


def _check_infer_renamed(folder: Path, out: str, err: str) -> None:
    assert (folder / "a.ply").read_bytes() == (folder / "a.ply.orig").read_bytes(), "the input scan was overwritten"
    assert (folder / "a_scored.ply").is_file()
    assert "is an input; writing" in err and "a_scored.ply" in err


# Annotation sidecars are read by the GUI only: their hostile cases (index 2**70, "id": 1e400,
# nesting 200k deep, "version": true, points_in_file 10**18, a points_in_file mismatch) run in
# tests/gui/test_annotating.py (opened, annotated, the old file found byte for byte in the backup)
# and tests/test_sidecar_schema.py (one-line refusals).


# ---------------------------------------------------------------- the corpus

_BAD_NAME = "bad\nname\x1b.ply"

CASES: tuple[Case, ...] = (
    # readers: tracebacks and wrong answers of the issue
    Case(
        "obj-face-index-past-2**64",
        _write("m.obj", _TRIANGLE_OBJ + "f 1 2 18446744073709551617\n"),
        ("info", "m.obj"),
        "refuse",
        "m.obj: line 4: a face index is not an integer in range",
    ),
    Case(
        "obj-line-continuation",
        _write("c.obj", "v 0 0 \\\n0\nv 1 0 0\nv 0 1 0\nf 1 2 \\\n 3\n"),
        ("info", "--json", "c.obj"),
        "ok",
        '"faces": 1',
    ),
    Case("ply-ascii-float-list", _write("t.ply", _FLOAT_LIST_PLY), ("info", "--json", "t.ply"), "ok", '"points": 3'),
    Case(
        "ply-doubles-near-1e300", _huge_doubles, ("info", "--json", "far.ply"), "ok", '"points": 5', _check_huge_doubles
    ),
    Case(
        "sample-on-points-only",
        _write("p.ply", _binary_ply(np.random.default_rng(0).random((20, 3)))),
        ("info", "--sample", "100", "p.ply"),
        "refuse",
        "p.ply: cannot sample the surface (--sample): this PLY file has no faces",
    ),
    Case(
        "sample-negative",
        _write("t.ply", _FLOAT_LIST_PLY),
        ("info", "--sample", "-5", "t.ply"),
        "refuse",
        "must be a positive integer, got -5",
    ),
    Case(
        "sample-ply-mesh", _write("t.ply", _FLOAT_LIST_PLY), ("info", "--sample", "50", "t.ply"), "ok", "points:    50"
    ),
    Case("npz-2.4GB-zero-member", _npz_bomb, ("info", "bomb.npz"), "refuse", "decompression bomb"),
    Case(
        "npy-shape-past-the-budget",
        _write("big.npy", _npy_claiming((10**12, 3))),
        ("info", "big.npy"),
        "refuse",
        "more than the memory budget",
    ),
    Case(
        "npy-shape-past-the-file",
        _write("cut.npy", _npy_claiming((10**6, 3))),
        ("info", "cut.npy"),
        "refuse",
        "cut.npy: truncated",
    ),
    Case("tiff-10GB-declared", _tiff_bomb, ("info", "bomb.tiff"), "refuse", "bomb.tiff"),
    Case(
        "ply-count-past-the-file",
        _write(
            "n.ply",
            b"ply\nformat binary_little_endian 1.0\nelement vertex 1000000000000\n"
            b"property float x\nproperty float y\nproperty float z\nend_header\n" + bytes(36),
        ),
        ("info", "n.ply"),
        "refuse",
        "n.ply: truncated",
    ),
    Case(
        "pcd-compressed-count-past-the-budget",
        _write(
            "h.pcd",
            b"VERSION .7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\n"
            b"WIDTH 300000000\nHEIGHT 1\nPOINTS 300000000\nDATA binary_compressed\n"
            + struct.pack("<II", 8, 3_600_000_000)
            + bytes(8),
        ),
        ("info", "h.pcd"),
        "refuse",
        "h.pcd",
    ),
    Case(
        "pcd-10M-identical-points-1.4MB",
        _identical_pcd("ten.pcd", 10_000_000),
        ("info", "--json", "ten.pcd"),
        "ok",
        '"points": 10000000',
    ),
    Case(
        "curvature-1M-identical-pcd",
        _identical_pcd("one.pcd", 1_000_000),
        ("curvature", "one.pcd", "-o", "one_out.ply"),
        "ok",
        "1,000,000 points",
    ),
    Case(
        "curvature-200k-identical",
        _xyz("same.xyz", np.full((200_000, 3), 3.25)),
        ("curvature", "same.xyz", "-o", "same_out.ply"),
        "ok",
        "200,000 points",
        _flags_check("same_out.ply", 200_000),
    ),
    Case(
        "curvature-200k-half-identical",
        _xyz("half.xyz", _half_identical(200_000)),
        ("curvature", "half.xyz", "-o", "half_out.ply"),
        "ok",
        "200,000 points",
        _flags_check("half_out.ply", 200_000),
    ),
    Case(
        "curvature-output-is-the-input",
        _with_copy(_xyz("in.xyz", np.random.default_rng(0).random((100, 3))), "in.xyz"),
        ("curvature", "in.xyz", "-o", "./in.xyz"),
        "refuse",
        "refusing to write over it",
        _unchanged("in.xyz"),
    ),
    Case(
        "newline-in-file-name",
        _write(_BAD_NAME, b"ply\nformat nonsense\n"),
        ("info", _BAD_NAME),
        "refuse",
        "bad\\nname\\x1b.ply",
    ),
    Case(
        "sample-past-the-budget",
        _write("m.obj", _TRIANGLE_OBJ + "f 1 2 3\n"),
        ("info", "--sample", "100000000000", "m.obj"),
        "refuse",
        "more than the memory budget",
    ),
    Case(
        "max-memory-option",
        _write("m.obj", _TRIANGLE_OBJ + "f 1 2 3\n"),
        ("--max-memory", "0.001", "info", "--sample", "100000", "m.obj"),
        "refuse",
        "memory budget of 1,000,000 bytes",
    ),
    # checkpoints
    Case(
        "safetensors-header-nested-200k",
        _evil_checkpoint("deep.safetensors", _DEEP_HEADER),
        ("infer", "--checkpoint", "deep.safetensors", "scan.xyz", "--out-dir", "out", "--device", "cpu"),
        "refuse",
        "deep.safetensors",
    ),
    Case(
        "safetensors-metadata-nested-200k",
        _evil_checkpoint("deep.safetensors", _DEEP_META),
        ("infer", "--checkpoint", "deep.safetensors", "scan.xyz", "--out-dir", "out", "--device", "cpu"),
        "refuse",
        "nested too deep",
    ),
    Case(
        "config-stem-channels-16.5",
        _config_checkpoint(stem_channels=16.5),
        ("infer", "--checkpoint", "evil.safetensors", "scan.xyz", "--out-dir", "out", "--device", "cpu"),
        "refuse",
        "stem_channels must be a whole number",
    ),
    Case(
        "config-encoder-channels-4096",
        _config_checkpoint(encoder_channels=[4096] * 4),
        ("infer", "--checkpoint", "evil.safetensors", "scan.xyz", "--out-dir", "out", "--device", "cpu"),
        "refuse",
        "parameters, more than",
    ),
    Case(
        "config-depths-10**6",
        _config_checkpoint(encoder_depths=[10**6] * 4),
        ("infer", "--checkpoint", "evil.safetensors", "scan.xyz", "--out-dir", "out", "--device", "cpu"),
        "refuse",
        "encoder_depths must be in 1..64",
    ),
    Case(
        "config-version-true",
        _config_checkpoint(head_hidden=True),
        ("infer", "--checkpoint", "evil.safetensors", "scan.xyz", "--out-dir", "out", "--device", "cpu"),
        "refuse",
        "head_hidden must be a whole number",
    ),
    Case(
        "finetune-init-stem-kernel-1001",
        _config_checkpoint(stem_kernel=1001),
        (
            "finetune",
            "--train",
            ".",
            "--init",
            "evil.safetensors",
            "--out",
            "m.safetensors",
            "--device",
            "cpu",
            "--epochs",
            "1",
        ),
        "refuse",
        "stem_kernel must be in 1..9",
    ),
    Case(
        "checkpoint-json-from-another-save",
        lambda d: _real_model(d, epochs_apart=True),
        ("infer", "--checkpoint", "model.json", "a.ply", "--out-dir", "out", "--device", "cpu"),
        "refuse",
        "describes another save",
    ),
    Case(
        "infer-out-dir-is-the-input-folder",
        _real_model,
        ("infer", "--checkpoint", "model.safetensors", "a.ply", "--out-dir", ".", "--device", "cpu"),
        "ok",
        "a_scored.ply",
        _check_infer_renamed,
    ),
    Case(
        "finetune-out-is-init",
        _real_model,
        (
            "finetune",
            "--train",
            ".",
            "--init",
            "model.safetensors",
            "--out",
            "model.safetensors",
            "--device",
            "cpu",
            "--epochs",
            "1",
        ),
        "refuse",
        "refusing to write over it",
    ),
)
