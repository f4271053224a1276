"""Read MVTec 3D-AD organized point clouds: H x W x 3 float32 TIFF, (0, 0, 0) meaning no point."""

from __future__ import annotations

import contextlib
import io
import logging

import numpy as np

from casl_core.errors import ScanFormatError
from casl_core.io.budget import check_declared
from casl_core.scan import Scan, finite_scan

MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def read_tiff_xyz(path: str, data: bytes) -> Scan:
    """Read an organized xyz TIFF; each point keeps its flat pixel index ``row * W + col``.

    Raises
    ------
    ScanFormatError
        If the TIFF cannot be decoded or is not an ``(H, W, 3)`` image.
    """
    import tifffile

    _check_size(path, data)
    try:
        with _quiet_tifffile():
            image = tifffile.imread(io.BytesIO(data))
    except Exception as exc:  # tifffile raises many exception types on a corrupt file
        first = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise ScanFormatError(path, f"not a readable TIFF ({first})") from None
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype.kind != "f":
        raise ScanFormatError(path, f"an xyz TIFF must be (H, W, 3) floats, got {image.shape} {image.dtype}")
    height, width = image.shape[:2]
    flat = image.reshape(-1, 3)
    present = np.flatnonzero(np.any(flat != 0, axis=1))
    if present.size == 0:
        raise ScanFormatError(path, "every pixel is (0, 0, 0): the image holds no point")
    return finite_scan(
        flat[present],
        source=path,
        format="mvtec-tiff",
        pixel_index=present.astype(np.int64),
        image_shape=(height, width),
    )


def _check_size(path: str, data: bytes) -> None:
    """Hold the image's declared size against the file and the memory budget before decoding."""
    import tifffile

    try:
        with _quiet_tifffile(), tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages.first
            sizes = [int(np.prod(s.shape, dtype=object)) * np.dtype(s.dtype).itemsize for s in tif.series]
            sizes.append(int(np.prod(page.shape, dtype=object)) * np.dtype(page.dtype or np.uint8).itemsize)
            compressed = int(page.compression) != 1
    except Exception as exc:  # tifffile raises many exception types on a corrupt file
        first = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise ScanFormatError(path, f"not a readable TIFF ({first})") from None
    need = max(sizes)
    check_declared(path, need, "the image", stored=len(data) if compressed else None)
    if not compressed and need > len(data):
        raise ScanFormatError(path, f"truncated: the image declares {need:,} bytes, the file holds {len(data):,}")


@contextlib.contextmanager
def _quiet_tifffile():
    """Keep tifffile's log lines about a malformed file off stderr: the refusal says it in one line."""
    logger = logging.getLogger("tifffile")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
