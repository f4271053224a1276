"""Write small data sets in the published layouts (Real3D-AD, Anomaly-ShapeNet, MVTec 3D-AD,
plain folder) into a temporary folder, from real shared scans.

Each writer returns what it wrote (paths, points and labels per test sample) so tests can
check that the readers give back exactly these. The PCD files are written here, by hand,
in the ASCII PCD v0.7 form; TIFFs with tifffile, PNG masks with Pillow.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from casl_core.io import read_scan
from casl_core.scan import Scan
from casl_core.synth.defects import DefectKind, synthesize_defect

SCANS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scans"
MODELS = {
    "fandisk": SCANS / "common-3d-test-models" / "fandisk.obj",
    "rocker-arm": SCANS / "common-3d-test-models" / "rocker-arm.obj",
    "bunny": SCANS / "common-3d-test-models" / "stanford-bunny.obj",
}
DEFECTS = (DefectKind.BULGE, DefectKind.CRACK)


@dataclass
class Expected:
    """One written test sample: what a reader must give back."""

    name: str
    defect: str
    points: np.ndarray
    labels: np.ndarray


@dataclass
class Written:
    """A written data set: its root and, per category, train count and test samples."""

    root: Path
    train: dict[str, int] = field(default_factory=dict)
    test: dict[str, list[Expected]] = field(default_factory=dict)


@functools.lru_cache(maxsize=64)
def _sampled(category: str, n_points: int, seed: int) -> Scan:
    return read_scan(MODELS[category], surface_samples=n_points, seed=seed)


def normal_scan(category: str, n_points: int = 1500, seed: int = 0) -> Scan:
    """A real shared scan sampled on its surface (the normal part of a category)."""
    scan = _sampled(category, n_points, seed)
    return Scan(
        points=scan.points.copy(), normals=None if scan.normals is None else scan.normals.copy(), metadata=scan.metadata
    )


def write_pcd(path: Path, points: np.ndarray, labels: np.ndarray | None = None) -> None:
    """ASCII PCD v0.7, fields x y z (and label)."""
    fields = "x y z" + (" label" if labels is not None else "")
    count = len(fields.split())
    header = [
        "# .PCD v0.7 - Point Cloud Data file format",
        "VERSION 0.7",
        f"FIELDS {fields}",
        "SIZE " + " ".join(["4"] * count),
        "TYPE F F F" + (" U" if labels is not None else ""),
        "COUNT " + " ".join(["1"] * count),
        f"WIDTH {len(points)}",
        "HEIGHT 1",
        "VIEWPOINT 0 0 0 1 0 0 0",
        f"POINTS {len(points)}",
        "DATA ascii",
    ]
    rows = [" ".join(f"{v:.8g}" for v in p) for p in np.asarray(points, dtype=np.float64)]
    if labels is not None:
        rows = [f"{r} {int(lab)}" for r, lab in zip(rows, labels)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(header + rows) + "\n")


def write_gt(path: Path, points: np.ndarray, labels: np.ndarray, sep: str) -> None:
    """One ``x<sep>y<sep>z<sep>label`` line per point."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        sep.join([f"{v:.8g}" for v in p] + [str(int(lab))])
        for p, lab in zip(np.asarray(points, dtype=np.float64), labels)
    ]
    path.write_text("\n".join(lines) + "\n")


def _rounded(points: np.ndarray) -> np.ndarray:
    """What a reader gets back from 8 significant digits."""
    return np.array([[float(f"{v:.8g}") for v in p] for p in np.asarray(points, dtype=np.float64)], dtype=np.float32)


def _samples(category: str, rng: np.random.Generator) -> list[tuple[str, Scan]]:
    """Two normal and two defective test scans of a category: (defect, scan)."""
    out = []
    for k in range(2):
        scan = normal_scan(category, seed=10 + k)
        out.append(("good", Scan(points=scan.points, labels=np.zeros(len(scan), dtype=np.uint8))))
    for k, kind in enumerate(DEFECTS):
        out.append((kind.value, synthesize_defect(normal_scan(category, seed=20 + k), kind, rng)))
    return out


def write_real3d(root: Path, categories: tuple[str, ...] = ("fandisk", "rocker-arm")) -> Written:
    """``<cat>/train/<i>_prototype.pcd``, ``<cat>/test/<i>_<defect>.pcd``, ``<cat>/gt/<i>_<defect>.txt``."""
    written = Written(root)
    rng = np.random.default_rng(0)
    for cat in categories:
        for i in range(2):
            write_pcd(root / cat / "train" / f"{i}_prototype.pcd", normal_scan(cat, seed=i).points)
        written.train[cat] = 2
        written.test[cat] = []
        for i, (defect, scan) in enumerate(_samples(cat, rng)):
            stem = f"{100 + i}_{defect}"
            write_pcd(root / cat / "test" / f"{stem}.pcd", scan.points)
            if defect != "good":
                write_gt(root / cat / "gt" / f"{stem}.txt", scan.points, scan.labels, " ")
            written.test[cat].append(Expected(stem, defect, _rounded(scan.points), scan.labels))
    return written


def write_anomaly_shapenet(
    root: Path, categories: tuple[str, ...] = ("bunny0", "fandisk0"), nested: bool = False
) -> Written:
    """``<cat>/train/<cat>_template<i>.pcd``, ``<cat>/test/<cat>_positive<i>.pcd`` or
    ``<cat>_<defect><i>.pcd``, ``<cat>/GT/<name>.txt`` (comma-separated); optionally
    under ``dataset/pcd``."""
    base = root / "dataset" / "pcd" if nested else root
    written = Written(base)
    rng = np.random.default_rng(1)
    for cat in categories:
        model = cat.rstrip("0123456789")
        for i in range(2):
            write_pcd(base / cat / "train" / f"{cat}_template{i}.pcd", normal_scan(model, seed=i).points)
        written.train[cat] = 2
        written.test[cat] = []
        for i, (defect, scan) in enumerate(_samples(model, rng)):
            stem = f"{cat}_{'positive' if defect == 'good' else defect}{i}"
            write_pcd(base / cat / "test" / f"{stem}.pcd", scan.points)
            write_gt(base / cat / "GT" / f"{stem}.txt", scan.points, scan.labels, ",")
            written.test[cat].append(Expected(stem, defect, _rounded(scan.points), scan.labels))
    return written


def height_image(scan: Scan, size: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Rasterise a scan seen from +z like a structured-light sensor: the top point per
    pixel. Returns ``(xyz image (H, W, 3) float32 with zeros where empty, flat pixel
    index of each kept point's row in ``scan``)``."""
    pts = scan.points.astype(np.float64)
    lo, hi = pts[:, :2].min(axis=0), pts[:, :2].max(axis=0)
    cell = np.minimum(((pts[:, :2] - lo) / (hi - lo) * size).astype(int), size - 1)
    flat = cell[:, 1] * size + cell[:, 0]
    order = np.lexsort((-pts[:, 2], flat))
    first = np.r_[True, np.diff(flat[order]) != 0]
    rows = order[first]
    image = np.zeros((size * size, 3), dtype=np.float32)
    image[flat[rows]] = pts[rows]
    return image.reshape(size, size, 3), rows


def write_mvtec3d(root: Path, categories: tuple[str, ...] = ("bunny",)) -> Written:
    """``<cat>/{train,validation,test}/<defect>/{xyz,rgb,gt}/NNN.{tiff,png}``."""
    import tifffile
    from PIL import Image

    written = Written(root)
    rng = np.random.default_rng(2)
    for cat in categories:
        for split, seeds in (("train", (0, 1, 2)), ("validation", (3,))):
            for i, seed in enumerate(seeds):
                image, _ = height_image(normal_scan(cat, 3000, seed))
                out = root / cat / split / "good" / "xyz" / f"{i:03d}.tiff"
                out.parent.mkdir(parents=True, exist_ok=True)
                tifffile.imwrite(out, image, photometric="rgb")
        written.train[cat] = 3
        written.test[cat] = []
        for i, kind in enumerate((None, None, DefectKind.BULGE, DefectKind.CONCAVITY)):
            image, _ = height_image(normal_scan(cat, 3000, 30 + i))
            h, w = image.shape[:2]
            top = Scan(points=image.reshape(-1, 3)[np.any(image.reshape(-1, 3) != 0, axis=1)])
            pixels = np.flatnonzero(np.any(image.reshape(-1, 3) != 0, axis=1))
            labelled = top if kind is None else synthesize_defect(top, kind, rng)
            labels = np.zeros(len(top), np.uint8) if labelled.labels is None else labelled.labels
            flat = image.reshape(-1, 3).copy()
            flat[pixels] = labelled.points
            mask = np.zeros(h * w, dtype=np.uint8)
            mask[pixels] = labels
            defect = "good" if kind is None else kind.value
            folder = root / cat / "test" / defect
            for sub in ("xyz", "rgb", "gt"):
                (folder / sub).mkdir(parents=True, exist_ok=True)
            tifffile.imwrite(folder / "xyz" / f"{i:03d}.tiff", flat.reshape(h, w, 3), photometric="rgb")
            Image.fromarray(mask.reshape(h, w) * 255).save(folder / "gt" / f"{i:03d}.png")
            Image.fromarray(np.full((h, w, 3), 128, np.uint8)).save(folder / "rgb" / f"{i:03d}.png")
            written.test[cat].append(Expected(f"{i:03d}", defect, labelled.points, labels))
    return written


def write_folder(root: Path) -> Written:
    """``train/`` scans, ``test/good`` and ``test/<defect>`` PCDs with a label field, and a
    flat ``test/`` scan with a ``.labels.npy`` sidecar."""
    written = Written(root)
    rng = np.random.default_rng(3)
    for i in range(2):
        write_pcd(root / "train" / f"part_{i}.pcd", normal_scan("fandisk", seed=i).points)
    written.train[root.name] = 2
    written.test[root.name] = []
    for i, (defect, scan) in enumerate(_samples("fandisk", rng)):
        write_pcd(root / "test" / defect / f"scan_{i}.pcd", scan.points, scan.labels)
        written.test[root.name].append(Expected(f"scan_{i}", defect, _rounded(scan.points), scan.labels))
    flat = synthesize_defect(normal_scan("fandisk", seed=40), DefectKind.CONCAVITY, rng)
    write_pcd(root / "test" / "loose.pcd", flat.points)
    np.save(root / "test" / "loose.labels.npy", flat.labels)
    written.test[root.name].append(Expected("loose", "defect", _rounded(flat.points), flat.labels))
    return written
