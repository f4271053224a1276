"""The inspection state (regions, verdicts, selection, annotations) is plain Python, tested without Qt."""

from __future__ import annotations

import numpy as np
import pytest

from casl_core.annotations import AnnotationSet
from casl_core.errors import ConfigError
from casl_core.fields import CURVATURE_SCORE
from casl_core.inspection.regions import find_regions
from casl_gui import jobs
from casl_gui.inspection import DEFAULT_FAIL_POINTS, DEFAULT_MIN_POINTS, InspectionState, ScanRegions

EVENTS = ("settings_changed", "regions_changed", "selection_changed")


@pytest.fixture(scope="module")
def fandisk(scans_dir):
    return jobs.with_curvature(
        jobs.read_only(scans_dir / "common-3d-test-models" / "fandisk.obj", None, None), None, None
    )


def record(ins: InspectionState) -> list[tuple]:
    log: list[tuple] = []
    for name in EVENTS:
        getattr(ins, name).connect(lambda *args, name=name: log.append((name, *args)))
    ins.annotations_changed.connect(lambda key: log.append(("annotations_changed", key)))
    return log


def test_settings_are_validated_and_a_new_failing_size_changes_the_verdicts():
    ins = InspectionState()
    assert (ins.min_points, ins.fail_points) == (DEFAULT_MIN_POINTS, DEFAULT_FAIL_POINTS)
    log = record(ins)
    with pytest.raises(ConfigError, match="at least 1 point, got 0"):
        ins.set_min_points(0)
    with pytest.raises(ConfigError, match="at least 1 point, got -3"):
        ins.set_fail_points(-3)
    ins.set_min_points(DEFAULT_MIN_POINTS)  # unchanged: nothing emitted
    ins.set_min_points(4)
    ins.set_fail_points(9)
    assert log == [("settings_changed",), ("settings_changed",), ("regions_changed",)]
    assert (ins.min_points, ins.fail_points) == (4, 9)


def test_verdicts_follow_the_regions_found_on_a_real_scan(fandisk):
    scores = fandisk.fields[CURVATURE_SCORE]
    threshold = float(np.quantile(scores, 0.97))
    result = find_regions(fandisk.points, scores, threshold, min_points=1)
    largest = result.largest()
    assert largest > 1
    ins = InspectionState()
    assert ins.regions(1) is None and ins.verdict(1) is None and ins.verdict(None) is None
    log = record(ins)
    ins.set_regions({1: ScanRegions(CURVATURE_SCORE, result)})
    assert ins.regions(1).result is result and log == [("regions_changed",)]
    ins.set_fail_points(largest + 1)
    assert ins.verdict(1).passed and ins.verdict(1).largest_region == largest
    ins.set_fail_points(largest)
    assert not ins.verdict(1).passed
    ins.set_regions({1: None})
    assert ins.regions(1) is None and ins.verdict(1) is None


def test_selection_is_sorted_unique_and_empty_clears_it_once():
    ins = InspectionState()
    log = record(ins)
    ins.set_selection(np.array([5, 2, 5, 9]), "sphere")
    assert ins.selection.indices.tolist() == [2, 5, 9] and ins.selection.indices.dtype == np.int64
    assert ins.selection.kind == "sphere"
    ins.set_selection(np.array([], dtype=np.int64))
    ins.set_selection(None)  # already clear: nothing emitted
    assert ins.selection is None and log == [("selection_changed",), ("selection_changed",)]


def test_annotations_are_kept_per_scan_and_forgotten_on_close(fandisk):
    ins = InspectionState()
    log = record(ins)
    marks = AnnotationSet("fandisk.obj", len(fandisk))
    ins.set_annotations(3, marks)
    assert ins.annotations(3) is marks and ins.annotations(None) is None
    ins.forget(3)
    assert ins.annotations(3) is None
    assert log == [("annotations_changed", 3), ("regions_changed",)]
