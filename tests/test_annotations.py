"""Annotation sidecars: JSON round trip in file order, CSV export, per-point training labels."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from casl_core.annotation_sidecar import export_csv, load_annotations, save_annotations, to_json
from casl_core.annotations import (
    SCHEMA_VERSION,
    UNLABELLED,
    Label,
    empty_for,
    file_rows,
    point_labels,
    scan_indices,
    scan_point_labels,
    sidecar_path,
)
from casl_core.errors import ConfigError, ScanFormatError
from casl_core.io import read_scan


@pytest.fixture
def holey_scan(tmp_path, scans_dir):
    """The fandisk vertices written as XYZ with every 7th row made NaN (the reader drops those)."""
    fandisk = read_scan(scans_dir / "common-3d-test-models" / "fandisk.obj")
    rows = fandisk.points_f64()
    rows[::7] = np.nan
    path = tmp_path / "fandisk_holes.xyz"
    np.savetxt(path, rows, fmt="%.6f")
    return path, rows


@pytest.mark.shared_scans
def test_indices_are_saved_in_file_order_when_points_were_dropped(holey_scan):
    path, rows = holey_scan
    scan = read_scan(path)
    assert scan.metadata.dropped_nonfinite == len(rows[::7])
    picked = np.array([0, 1, 2, 500, len(scan) - 1])
    file_idx = file_rows(scan, picked)
    np.testing.assert_allclose(rows[file_idx], scan.points_f64()[picked], atol=1e-5)
    back = scan_indices(scan, np.r_[file_idx, 0, 7])  # rows 0 and 7 were dropped by the reader
    np.testing.assert_array_equal(back, picked)


@pytest.mark.shared_scans
def test_a_sidecar_round_trips_and_is_plain_json(holey_scan):
    path, _ = holey_scan
    scan = read_scan(path)
    notes = empty_for(scan)
    notes = notes.add(Label.DEFECT, file_rows(scan, [10, 11, 12]), "dent near the rim", "rectangle")
    notes = notes.add("normal", file_rows(scan, [100, 101]), "sharp edge, fine", "sphere")
    side = sidecar_path(path)
    assert side.name == "fandisk_holes.xyz.casl-annotations.json"
    save_annotations(side, notes)
    doc = json.loads(side.read_text())
    assert doc["version"] == SCHEMA_VERSION and doc["scan"]["points_in_file"] == 6475
    assert doc["scan"]["file"] == "fandisk_holes.xyz"
    first = doc["annotations"][0]
    assert first["label"] == "defect" and first["selection"] == "rectangle"
    assert first["points"] == file_rows(scan, [10, 11, 12]).tolist()
    assert first["created"].endswith("Z")
    loaded = load_annotations(side)
    assert [a.id for a in loaded.annotations] == [1, 2]
    assert [a.note for a in loaded.annotations] == ["dent near the rim", "sharp edge, fine"]
    for a, b in zip(loaded.annotations, notes.annotations):
        np.testing.assert_array_equal(a.points, b.points)
    assert loaded.remove(1).annotations[0].id == 2
    assert loaded.remove(1).next_id() == 3


@pytest.mark.shared_scans
def test_training_labels_follow_the_file_and_the_scan_and_the_later_annotation_wins(holey_scan):
    path, rows = holey_scan
    scan = read_scan(path)
    notes = empty_for(scan).add("defect", file_rows(scan, np.arange(0, 20)))
    notes = notes.add("normal", file_rows(scan, np.arange(15, 25)))
    labels = point_labels(notes)
    assert labels.shape == (len(rows),) and labels.dtype == np.int8
    in_file = file_rows(scan, np.arange(len(scan)))
    per_scan = labels[in_file]
    assert (per_scan[:15] == 1).all() and (per_scan[15:25] == 0).all() and (per_scan[25:] == UNLABELLED).all()
    np.testing.assert_array_equal(scan_point_labels(notes, scan), per_scan)
    with pytest.raises(ConfigError, match="6475"):
        point_labels(notes, 100)


@pytest.mark.shared_scans
def test_csv_export_has_one_row_per_point_with_its_coordinates(holey_scan, tmp_path):
    path, rows = holey_scan
    scan = read_scan(path)
    picked = file_rows(scan, [3, 4, 5])
    notes = empty_for(scan).add("defect", picked, 'a "quoted", note', "sphere")
    out = tmp_path / "notes.csv"
    export_csv(out, notes, scan)
    with out.open(newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [int(r["point"]) for r in table] == picked.tolist()
    assert {r["note"] for r in table} == {'a "quoted", note'}
    got = np.array([[float(r[c]) for c in "xyz"] for r in table])
    np.testing.assert_allclose(got, rows[picked], atol=1e-5)


@pytest.mark.parametrize(
    "mutate, problem",
    [
        (lambda d: d.update(version=SCHEMA_VERSION + 1), "not supported"),
        (lambda d: d["annotations"][0].update(points=[0, 99999]), "outside"),
        (lambda d: d["annotations"][0].update(label="scratch"), "label"),
        (lambda d: d.pop("scan"), "missing key"),
    ],
)
def test_a_bad_sidecar_is_refused_naming_the_file(tmp_path, mutate, problem):
    notes = empty_for(read_scan_stub(tmp_path)).add("defect", [1, 2])
    side = tmp_path / "x.ply.casl-annotations.json"
    doc = json.loads(to_json(notes))
    mutate(doc)
    side.write_text(json.dumps(doc))
    with pytest.raises(ScanFormatError, match=problem) as info:
        load_annotations(side)
    assert str(side) in str(info.value)


def test_invalid_json_and_bad_additions_are_refused(tmp_path):
    side = tmp_path / "y.ply.casl-annotations.json"
    side.write_text("{not json")
    with pytest.raises(ScanFormatError, match="invalid JSON"):
        load_annotations(side)
    notes = empty_for(read_scan_stub(tmp_path))
    with pytest.raises(ConfigError, match="at least one point"):
        notes.add("defect", [])
    with pytest.raises(ConfigError, match="selection kind"):
        notes.add("defect", [1], selection="lasso")


def read_scan_stub(tmp_path):
    """A small real file read back: 10 points on a line."""
    path = tmp_path / "line.xyz"
    np.savetxt(path, np.c_[np.arange(10.0), np.zeros(10), np.zeros(10)])
    return read_scan(path)
