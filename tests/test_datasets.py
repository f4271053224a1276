"""Data-set layouts: detection, listing, and loading points and labels as the protocols define."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_layouts import write_anomaly_shapenet, write_folder, write_mvtec3d, write_real3d

from casl_core.datasets import detect_layout, open_dataset
from casl_core.errors import DatasetError
from casl_core.io import read_scan

pytestmark = pytest.mark.shared_scans


def _check_samples(dataset, written) -> None:
    assert dataset.categories == sorted(written.test)
    for cat, expected in written.test.items():
        category = dataset.category(cat)
        assert len(category.train) == written.train[cat]
        by_name = {s.name: s for s in category.test}
        assert set(by_name) == {e.name for e in expected}
        for e in expected:
            sample = by_name[e.name]
            assert sample.defect == e.defect
            assert sample.is_anomalous == (e.defect != "good")
            scan = sample.load()
            assert scan.labels is not None and scan.labels.dtype == np.uint8
            np.testing.assert_array_equal(scan.labels, e.labels)
            np.testing.assert_allclose(scan.points, e.points, rtol=0, atol=1e-5 * np.abs(e.points).max())
            assert bool(scan.labels.any()) == sample.is_anomalous


@pytest.fixture(scope="module")
def real3d(tmp_path_factory):
    return write_real3d(tmp_path_factory.mktemp("real3d"))


def test_real3d_detected_listed_and_labels_come_from_gt_files(real3d) -> None:
    assert detect_layout(real3d.root) == "real3d"
    dataset = open_dataset(real3d.root)
    assert dataset.layout == "real3d" and dataset.root == real3d.root
    _check_samples(dataset, real3d)
    sample = next(s for s in dataset.category("fandisk").test if s.is_anomalous)
    assert sample.gt_path == real3d.root / "fandisk" / "gt" / f"{sample.name}.txt"
    gt = np.loadtxt(sample.gt_path)
    np.testing.assert_array_equal(sample.load().labels, gt[:, 3].astype(np.uint8))


def test_real3d_good_sample_reads_its_pcd_with_zero_labels(real3d) -> None:
    sample = next(s for s in open_dataset(real3d.root).category("rocker-arm").test if s.defect == "good")
    scan = sample.load()
    assert scan.metadata.source == str(sample.path) and not scan.labels.any()


def test_anomaly_shapenet_flat_and_nested(tmp_path) -> None:
    flat = write_anomaly_shapenet(tmp_path / "flat")
    assert detect_layout(flat.root) == "anomaly-shapenet"
    _check_samples(open_dataset(flat.root), flat)
    nested = write_anomaly_shapenet(tmp_path / "nested", categories=("bunny0",), nested=True)
    outer = tmp_path / "nested"
    assert detect_layout(outer) == "anomaly-shapenet"
    dataset = open_dataset(outer)
    assert dataset.root == outer / "dataset" / "pcd"
    _check_samples(dataset, nested)
    positive = [s for s in dataset.category("bunny0").test if s.name.startswith("bunny0_positive")]
    assert positive and all(s.defect == "good" and not s.is_anomalous for s in positive)


def test_mvtec3d_points_are_valid_pixels_and_labels_the_mask(tmp_path) -> None:
    written = write_mvtec3d(tmp_path / "mvtec")
    assert detect_layout(written.root) == "mvtec3d"
    dataset = open_dataset(written.root)
    _check_samples(dataset, written)
    category = dataset.category("bunny")
    assert len(category.validation) == 1
    for sample in category.test:
        scan = sample.load()
        mask = sample.mask()
        xyz = read_scan(sample.path)
        assert mask.shape == scan.metadata.image_shape == (40, 40)
        assert len(scan) == int(np.count_nonzero(np.any(np.asarray(_tiff(sample.path)) != 0, axis=2)))
        np.testing.assert_array_equal(scan.labels, mask.ravel()[scan.metadata.pixel_index])
        assert int(mask.sum()) == int(scan.labels.sum()) and len(xyz) == len(scan)


def _tiff(path):
    import tifffile

    return tifffile.imread(path)


def test_plain_folder_labels_from_fields_subfolders_and_sidecars(tmp_path) -> None:
    written = write_folder(tmp_path / "my_parts")
    assert detect_layout(written.root) == "folder"
    dataset = open_dataset(written.root)
    assert dataset.categories == ["my_parts"]
    _check_samples(dataset, written)


def test_missing_gt_file_is_an_error_naming_it(tmp_path) -> None:
    written = write_real3d(tmp_path / "r", categories=("fandisk",))
    gt = next((written.root / "fandisk" / "gt").glob("*.txt"))
    gt.unlink()
    with pytest.raises(DatasetError, match=gt.name):
        open_dataset(written.root).category("fandisk")


def test_no_training_scan_is_an_error_naming_the_folder(tmp_path) -> None:
    written = write_real3d(tmp_path / "r", categories=("fandisk",))
    for p in (written.root / "fandisk" / "train").iterdir():
        p.unlink()
    with pytest.raises(DatasetError, match="train"):
        open_dataset(written.root).category("fandisk")


def test_sidecar_length_mismatch_is_an_error_naming_it(tmp_path) -> None:
    written = write_folder(tmp_path / "f")
    side = written.root / "test" / "loose.labels.npy"
    np.save(side, np.zeros(7, dtype=np.uint8))
    sample = next(s for s in open_dataset(written.root).category("f").test if s.name == "loose")
    with pytest.raises(DatasetError, match="loose.labels.npy.*7 labels"):
        sample.load()


def test_gt_without_label_column_is_an_error(tmp_path) -> None:
    written = write_real3d(tmp_path / "r", categories=("fandisk",))
    gt = next((written.root / "fandisk" / "gt").glob("*.txt"))
    rows = np.loadtxt(gt)
    np.savetxt(gt, np.c_[rows[:, :3], rows[:, 3] + 0.5])
    sample = next(s for s in open_dataset(written.root).category("fandisk").test if s.gt_path == gt)
    with pytest.raises(DatasetError, match=gt.name):
        sample.load()


def test_unknown_root_and_unknown_category(tmp_path) -> None:
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "a.txt").write_text("hello")
    with pytest.raises(DatasetError, match="stuff"):
        detect_layout(tmp_path / "stuff")
    with pytest.raises(DatasetError, match="not a folder"):
        open_dataset(tmp_path / "missing")
    written = write_folder(tmp_path / "f")
    with pytest.raises(DatasetError, match="nosuch"):
        open_dataset(written.root).category("nosuch")
    with pytest.raises(DatasetError, match="real3d"):
        open_dataset(written.root, layout="real3d")
