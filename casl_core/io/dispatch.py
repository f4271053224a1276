"""Choose the reader or writer of a scan file from its suffix and its first bytes."""

from __future__ import annotations

import os
import re
import struct
import zlib
from collections.abc import Sequence

from casl_core.errors import CaslError, ScanFormatError
from casl_core.io import expe_pts, numpy_arrays, obj, off, pcd, ply_read, stl, text, tiff_xyz
from casl_core.io._common import atomic_write, read_bytes
from casl_core.io.mesh_sampling import check_samples, mesh_scan
from casl_core.io.pcd_write import pcd_bytes
from casl_core.io.ply_write import ply_bytes
from casl_core.io.text_write import text_bytes
from casl_core.scan import Scan

#: Suffixes :func:`read_scan` knows, with the format each one means.
_SUFFIX_FORMAT = {
    ".ply": "ply",
    ".pcd": "pcd",
    ".xyz": "xyz",
    ".txt": "txt",
    ".csv": "csv",
    ".asc": "asc",
    ".pts": "pts",
    ".npy": "npy",
    ".npz": "npz",
    ".obj": "obj",
    ".stl": "stl",
    ".off": "off",
    ".tif": "tiff",
    ".tiff": "tiff",
}
READ_SUFFIXES: tuple[str, ...] = tuple(_SUFFIX_FORMAT)
WRITE_SUFFIXES: tuple[str, ...] = (".ply", ".pcd", ".csv", ".xyz", ".txt")
_TEXT = ("xyz", "txt", "csv", "asc", "pts")
_MESHES = ("obj", "stl", "off")
_READ_ERRORS = (
    ValueError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    UnicodeDecodeError,
    OverflowError,
    MemoryError,
    zlib.error,
    EOFError,
    OSError,
)


def sniff(data: bytes) -> str | None:
    """The format the first bytes of ``data`` identify, or ``None``."""
    head = data[:4096]
    if re.match(rb"ply\s", head):
        return "ply"
    if head.startswith(expe_pts.MAGIC):
        return "expe-pts"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "npz"
    if head.startswith(tiff_xyz.MAGICS):
        return "tiff"
    if re.match(rb"(\s*#[^\n]*\n)*\s*(VERSION|FIELDS)\s", head):
        return "pcd"
    if off.is_off(head):
        return "off"
    if head.lstrip()[:5].lower() == b"solid" or stl.is_binary_stl(data):
        return "stl"
    if re.search(rb"(^|\n)v[ \t]+[-+.0-9]", head) and b"\x00" not in head:
        return "obj"
    if _looks_like_text_table(head):
        return "xyz"
    return None


def _looks_like_text_table(head: bytes) -> bool:
    if not head or any(b < 9 or 13 < b < 32 or b > 126 for b in head[:512]):
        return False
    return (
        re.search(rb"(^|\n)\s*[-+]?[0-9.]+([eE][-+]?[0-9]+)?([\s,;]+[-+]?[0-9.]+([eE][-+]?[0-9]+)?){2,}", head)
        is not None
    )


def _format_for(path: str, data: bytes) -> str:
    suffix = os.path.splitext(path)[1].lower()
    fmt = _SUFFIX_FORMAT.get(suffix)
    if fmt == "pts" and data.startswith(expe_pts.MAGIC):
        return "expe-pts"
    if fmt is not None:
        return fmt
    found = sniff(data)
    if found is None:
        raise ScanFormatError(
            path,
            f"unknown format: suffix {suffix or '(none)'!r} is not one of "
            f"{', '.join(READ_SUFFIXES)} and the content is not recognised",
        )
    return found


def read_scan(
    path: str | os.PathLike[str],
    *,
    surface_samples: int | None = None,
    seed: int = 0,
    columns: Sequence[str] | None = None,
) -> Scan:
    """Read a scan file of any supported format.

    The format comes from the suffix (see :data:`READ_SUFFIXES`); a file with another
    suffix is read when its first bytes identify the format.

    Parameters
    ----------
    path:
        The file.
    surface_samples:
        For meshes (OBJ, STL, OFF, PLY with faces): sample this many points uniformly on
        the surface instead of returning the vertices (normals from the faces). A file
        without faces is refused.
    seed:
        Random seed of the surface sampling.
    columns:
        Names of the columns of a text table or ``.npy`` array (``x``, ``y``, ``z``,
        ``nx``..., ``red``..., ``label``, ``"_"`` to skip, any other name a field);
        ignored for self-describing formats.

    Returns
    -------
    Scan
        Points in file order, less non-finite ones (counted in ``metadata.dropped_nonfinite``).

    Raises
    ------
    ScanFormatError
        If the file is missing, empty, of an unknown format, truncated or malformed.
    ConfigError
        If ``surface_samples`` is not a positive integer.

    Every size a file declares (counts, shapes, decompressed lengths) is checked against the
    file's size and the memory budget (:mod:`casl_core.io.budget`) before it is allocated.
    """
    name = os.fspath(path)
    if surface_samples is not None:
        check_samples(surface_samples)
    data = read_bytes(name)
    fmt = _format_for(name, data)
    try:
        scan = _read(name, data, fmt, surface_samples, seed, columns)
        if surface_samples is not None and fmt not in _MESHES:
            scan = _sample_faces(name, fmt, scan, surface_samples, seed)
        return scan
    except CaslError:
        raise
    except RecursionError:
        raise ScanFormatError(name, f"could not be read as {fmt}: nesting too deep") from None
    except _READ_ERRORS as exc:
        detail = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise ScanFormatError(name, f"could not be read as {fmt}: {detail}") from None


def _sample_faces(path: str, fmt: str, scan: Scan, samples: int, seed: int) -> Scan:
    """Surface samples of a PLY mesh; a format or file without faces is refused."""
    faces = scan.metadata.faces
    if faces is None or len(faces) == 0:
        kind = "file holds points only" if fmt != "ply" else "PLY file has no faces"
        raise ScanFormatError(path, f"cannot sample the surface (--sample): this {kind}, not a mesh")
    return mesh_scan(path, fmt, scan.points_f64(), faces, colors=scan.colors, surface_samples=samples, seed=seed)


def _read(path: str, data: bytes, fmt: str, samples: int | None, seed: int, columns) -> Scan:
    if fmt == "ply":
        return ply_read.read_ply(path, data)
    if fmt == "pcd":
        return pcd.read_pcd(path, data)
    if fmt in _TEXT:
        return text.read_text(path, data, fmt, columns)
    if fmt == "expe-pts":
        return expe_pts.read_expe_pts(path, data)
    if fmt == "npy":
        return numpy_arrays.read_npy(path, data, columns)
    if fmt == "npz":
        return numpy_arrays.read_npz(path, data)
    if fmt == "tiff":
        return tiff_xyz.read_tiff_xyz(path, data)
    meshes = {"obj": obj.read_obj, "stl": stl.read_stl, "off": off.read_off}
    return meshes[fmt](path, data, surface_samples=samples, seed=seed)


def write_scan(scan: Scan, path: str | os.PathLike[str], *, format: str | None = None, binary: bool = True) -> None:
    """Write ``scan`` atomically (temporary file in the same folder, then rename).

    Parameters
    ----------
    scan:
        The scan; fields are written as ``scalar_<name>`` float properties in PLY, by
        name in PCD and CSV; coordinates carry ``metadata.offset`` back.
    path:
        The file to write.
    format:
        ``"ply"``, ``"pcd"``, ``"csv"``, ``"xyz"`` or ``"txt"``; from the suffix when ``None``.
    binary:
        Binary PLY (little endian) or PCD when True, ascii when False.

    Raises
    ------
    ScanFormatError
        If the format is unknown, two columns would get one name, or the file cannot be written.
    """
    name = os.fspath(path)
    fmt = (format or os.path.splitext(name)[1].lstrip(".")).lower()
    if f".{fmt}" not in WRITE_SUFFIXES:
        raise ScanFormatError(
            name,
            f"cannot write format {fmt or '(none)'!r}; choose one of "
            f"{', '.join(s.lstrip('.') for s in WRITE_SUFFIXES)}",
        )
    try:
        if fmt == "ply":
            chunks = ply_bytes(scan, binary)
        elif fmt == "pcd":
            chunks = pcd_bytes(scan, binary)
        elif fmt == "csv":
            chunks = text_bytes(scan, ",", "")
        else:
            chunks = text_bytes(scan, " ", "//")
    except ValueError as exc:
        raise ScanFormatError(name, f"cannot write: {str(exc).splitlines()[0][:120]}") from None

    def write_all(fh) -> None:
        for chunk in chunks:
            fh.write(chunk)

    atomic_write(name, write_all)
