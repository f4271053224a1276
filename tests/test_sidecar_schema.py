"""Annotation sidecars are checked against the schema; an unusable one is moved aside byte for byte."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import numpy as np
import pytest

from casl_core.annotation_sidecar import backup_sidecar, load_annotations, save_annotations
from casl_core.annotations import MAX_POINTS_IN_FILE, AnnotationSet, point_labels
from casl_core.errors import ConfigError, ScanFormatError


def _doc(**changes) -> dict:
    ann = {"id": 1, "label": "defect", "created": "2026-01-31T09:15:02Z", "selection": "points", "points": [1, 2]}
    ann.update(changes.pop("ann", {}))
    doc = {
        "format": "casl-annotations",
        "version": 1,
        "scan": {"file": "a.ply", "points_in_file": 10},
        "annotations": [ann],
    }
    doc.update(changes)
    return doc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (json.dumps(_doc(version=True)), "'version' must be an integer, got True"),
        (json.dumps(_doc(version=1.0)), "'version' must be an integer"),
        (json.dumps(_doc(ann={"id": 1.7})), "'id' must be an integer, got 1.7"),
        (json.dumps(_doc(ann={"id": True})), "'id' must be an integer"),
        (json.dumps(_doc()).replace('"id": 1', '"id": 1e400'), "'id' must be an integer, got inf"),
        (json.dumps(_doc(ann={"points": [1, 2**70]})), "point index 1180591620717411303424 is outside"),
        (json.dumps(_doc(ann={"points": [1, -1]})), "point index -1 is outside"),
        (json.dumps(_doc(ann={"points": [1, 10]})), "point index 10 is outside the file's 10 points"),
        (json.dumps(_doc(ann={"points": [1, True]})), "'points' must hold integers"),
        (json.dumps(_doc(scan={"file": "a.ply", "points_in_file": 10**18})), "points_in_file must be in 1.."),
        (json.dumps(_doc(scan={"file": "a.ply", "points_in_file": 0})), "points_in_file must be in 1.."),
        (json.dumps(_doc(scan={"file": 3, "points_in_file": 10})), "'file' must be a string"),
        (json.dumps(_doc(ann={"note": {"a": 1}})), "'note' and 'selection' must be strings"),
        (json.dumps(_doc(annotations={})), "'annotations' must be a list"),
        (json.dumps(_doc(annotations=[5])), "annotation 1: must be an object"),
        ("[" * 100_000 + "]" * 100_000, "nested too deep"),
        ('{"a": ' * 100_000 + "1" + "}" * 100_000, "nested too deep"),
        ("{", "invalid JSON"),
        ("\xff", "invalid JSON"),
    ],
)
def test_a_sidecar_breaking_the_schema_is_refused_on_one_line(tmp_path, text, expected):
    path = tmp_path / "a.ply.casl-annotations.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape") if text != "\xff" else b"\xff")
    with pytest.raises(ScanFormatError) as info:
        load_annotations(path)
    message = str(info.value)
    assert expected in message and str(path) in message and "\n" not in message


def test_a_valid_sidecar_still_reads(tmp_path):
    path = tmp_path / "a.ply.casl-annotations.json"
    path.write_text(json.dumps(_doc(ann={"points": [7, 2, 2]})))
    got = load_annotations(path)
    assert got.points_in_file == 10
    assert got.annotations[0].points.tolist() == [2, 7]
    np.testing.assert_array_equal(point_labels(got), [-1, -1, 1, -1, -1, -1, -1, 1, -1, -1])


def test_point_labels_refuses_a_giant_count_before_allocating():
    with pytest.raises(ConfigError, match="more than"):
        point_labels(AnnotationSet("a.ply", 10**18))
    assert MAX_POINTS_IN_FILE <= 10**9


def test_backup_keeps_the_bytes_and_never_replaces_an_earlier_backup(tmp_path):
    path = tmp_path / "scan.ply.casl-annotations.json"
    when = datetime(2026, 12, 3, 10, 15, 0, tzinfo=UTC)
    path.write_bytes(b"first \x00 bytes")
    first = backup_sidecar(path, now=when)
    assert first.name == "scan.ply.casl-annotations.json.bak-20261203T101500"
    assert not path.exists() and first.read_bytes() == b"first \x00 bytes"
    path.write_bytes(b"second")
    second = backup_sidecar(path, now=when)
    assert second != first and second.read_bytes() == b"second" and first.read_bytes() == b"first \x00 bytes"
    save_annotations(path, AnnotationSet("scan.ply", 5).add("defect", [1]))
    assert sorted(os.listdir(tmp_path)) == sorted([path.name, first.name, second.name])


def test_backup_of_a_missing_file_is_a_clean_error(tmp_path):
    with pytest.raises(ScanFormatError, match="cannot move the file aside"):
        backup_sidecar(tmp_path / "none.json")
