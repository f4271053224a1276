"""The window's application state is plain Python: opened, coloured and picked without Qt or a display.

Scans are the shared fandisk and beetle meshes, read and given curvature by the same job
functions the window runs in the background.
"""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest

from casl_core.errors import ConfigError
from casl_core.fields import CASL_SCORE, CURVATURE_SCORE
from casl_gui import jobs
from casl_gui.colouring import COLOUR_MAPS, HEIGHT, FieldScale, curvature_fields, default_scale, field_values
from casl_gui.state import AppState

EVENTS = ("scans_changed", "active_changed", "field_changed", "style_changed", "pick_changed", "compare_changed")


@pytest.fixture(scope="module")
def raw(scans_dir):
    """fandisk as read from its file, before curvature."""
    return jobs.read_only(scans_dir / "common-3d-test-models" / "fandisk.obj", None, None)


@pytest.fixture(scope="module")
def fandisk(raw):
    """fandisk with curvature and the curvature baseline's score."""
    return jobs.with_curvature(raw, None, None)


@pytest.fixture(scope="module")
def beetle(scans_dir):
    return jobs.with_curvature(
        jobs.read_only(scans_dir / "common-3d-test-models" / "beetle.obj", None, None), None, None
    )


def record(state: AppState) -> list[tuple]:
    """Every event of ``state`` as (name, *args), in the order emitted."""
    log: list[tuple] = []
    for name in EVENTS:
        getattr(state, name).connect(lambda *args, name=name: log.append((name, *args)))
    state.scan_updated.connect(lambda key: log.append(("scan_updated", key)))
    return log


def test_opening_and_closing_scans_moves_the_active_one_and_emits_in_order(fandisk, beetle):
    state = AppState()
    log = record(state)
    first = state.add_scan(fandisk)
    assert log == [("scans_changed",), ("active_changed",), ("pick_changed",)]
    second = state.add_scan(beetle, name="left beetle")
    assert (first, second) == (1, 2) and state.active_key == second
    assert [e.name for e in state.scans] == ["fandisk", "left beetle"]
    assert state.scans[1].title == f"left beetle ({len(beetle):,} points)"
    assert state.active_scan() is beetle
    log.clear()
    state.remove_scan(second)
    assert log == [("scans_changed",), ("active_changed",), ("pick_changed",)]
    assert state.active_key == first and state.active_scan() is fandisk
    state.remove_scan(first)
    assert state.scans == () and state.active_key is None and state.active_scan() is None
    with pytest.raises(ConfigError, match="no open scan has key 7"):
        state.remove_scan(7)
    with pytest.raises(ConfigError, match="no open scan has key 7"):
        state.set_active(7)
    with pytest.raises(ConfigError, match="no open scan has key 7"):
        state.entry(7)


def test_each_scan_keeps_the_field_chosen_for_it(fandisk, beetle):
    state = AppState()
    a = state.add_scan(fandisk)
    smallest = curvature_fields(fandisk)[0]
    assert state.field == smallest  # curvature is preferred over RGB and height
    state.set_field(CURVATURE_SCORE)
    b = state.add_scan(beetle, field=HEIGHT)
    assert state.field == HEIGHT
    assert state.field_of(a) == CURVATURE_SCORE and state.field_of(b) == HEIGHT
    log = record(state)
    state.set_active(a)
    assert state.field == CURVATURE_SCORE and state.field_of(b) == HEIGHT
    assert log == [("active_changed",), ("pick_changed",)]
    log.clear()
    state.set_field(CURVATURE_SCORE)  # the same field again: nothing to tell
    assert log == []
    state.set_field(HEIGHT)
    assert log == [("field_changed",)]


def test_fields_a_scan_cannot_show_are_refused_with_the_reason(fandisk):
    state = AppState()
    with pytest.raises(ConfigError, match="no scan is open"):
        state.set_field(HEIGHT)
    state.add_scan(fandisk)
    with pytest.raises(ConfigError, match="fandisk: no field 'intensity'"):
        state.set_field("intensity")
    with pytest.raises(ConfigError, match="fandisk: cannot colour by"):
        state.set_field(CASL_SCORE)  # not scored by CASL: listed, but disabled


def test_a_scan_gaining_curvature_switches_from_the_automatic_field(raw, fandisk):
    state = AppState()
    key = state.add_scan(raw)
    assert state.field == HEIGHT  # no colours and no curvature yet
    log = record(state)
    state.replace_scan(key, fandisk)
    assert state.field == curvature_fields(fandisk)[0]
    assert log == [("scan_updated", key), ("field_changed",)]
    with pytest.raises(ConfigError, match="the new scan has 10 points"):
        state.replace_scan(key, fandisk.subset(np.arange(10)))
    with pytest.raises(ConfigError, match="no open scan has key 9"):
        state.replace_scan(9, fandisk)


def test_a_chosen_field_survives_new_scores_and_compare_shows_casl_on_the_right(fandisk):
    state = AppState()
    key = state.add_scan(fandisk)
    state.set_field(HEIGHT)
    scored = fandisk.with_fields(**{CASL_SCORE: fandisk.fields[CURVATURE_SCORE] * 4.0 - 1.0})
    state.replace_scan(key, scored)
    assert state.field == HEIGHT  # the person's choice stays
    assert state.second_field == CASL_SCORE  # the right view shows the new score
    changes: list[bool] = []
    state.compare_changed.connect(changes.append)
    state.set_compare(True)
    state.set_compare(True)
    state.set_compare(False)
    assert changes == [True, False] and not state.compare
    state.set_second_field(CURVATURE_SCORE)
    assert state.second_field == CURVATURE_SCORE


def test_scales_thresholds_and_style_are_shared_and_validated(fandisk, beetle):
    state = AppState()
    state.add_scan(fandisk)
    state.set_field(CURVATURE_SCORE)
    assert state.scale(CURVATURE_SCORE) == default_scale(CURVATURE_SCORE, field_values(fandisk, CURVATURE_SCORE))
    styles: list[str] = []
    state.style_changed.connect(lambda: styles.append(state.cmap))
    width = state.scale(CURVATURE_SCORE).half_width
    state.set_threshold(0.25)
    assert state.threshold() == 0.25 and state.scale(CURVATURE_SCORE) == FieldScale(0.25, width)
    state.add_scan(beetle)  # scales are shared: the other scan sees the same threshold
    state.set_field(CURVATURE_SCORE)
    assert state.threshold() == 0.25
    state.set_scale(CURVATURE_SCORE, FieldScale(0.25, width))  # unchanged: no event
    assert len(styles) == 1
    state.set_cmap(COLOUR_MAPS[-1])
    assert state.colour_spec(beetle, CURVATURE_SCORE).cmap == COLOUR_MAPS[-1]
    state.set_grey_below(True)
    state.set_point_size(7)
    assert (state.grey_below, state.point_size, len(styles)) == (True, 7.0, 4)
    with pytest.raises(ConfigError, match="unknown colour map 'rainbow-ish'"):
        state.set_cmap("rainbow-ish")
    with pytest.raises(ConfigError, match="between 0.5 and 30 pixels, got 31"):
        state.set_point_size(31)
    state.set_field(HEIGHT)
    assert state.threshold() is not None  # height is a scalar field: it has a threshold too


def test_height_spans_the_active_scan_until_set_and_no_scan_has_no_threshold(fandisk, beetle):
    state = AppState()
    assert state.threshold() is None  # nothing open
    with pytest.raises(ConfigError, match="no threshold"):
        state.set_threshold(0.1)
    state.add_scan(fandisk)
    assert state.scale(HEIGHT) == default_scale(HEIGHT, field_values(fandisk, HEIGHT))
    state.add_scan(beetle)
    assert state.scale(HEIGHT) == default_scale(HEIGHT, field_values(beetle, HEIGHT))
    assert state.scale(HEIGHT) != default_scale(HEIGHT, field_values(fandisk, HEIGHT))


def test_picks_are_checked_and_cleared_when_another_scan_shows(fandisk, beetle):
    state = AppState()
    a = state.add_scan(fandisk)
    picks: list[int | None] = []
    state.pick_changed.connect(lambda: picks.append(state.picked_index))
    state.set_pick(len(fandisk) - 1)
    with pytest.raises(ConfigError, match=f"picked index {len(fandisk)} is outside the scan's {len(fandisk)} points"):
        state.set_pick(len(fandisk))
    state.add_scan(beetle)
    state.set_active(a)
    assert picks == [len(fandisk) - 1, None, None] and state.picked_index is None


def test_events_trim_arguments_disconnect_and_refuse_other_threads():
    state = AppState()
    calls: list[str] = []

    def refresh() -> None:  # a dock slot that takes no argument, as Qt allows
        calls.append("refresh")

    state.compare_changed.connect(refresh)
    state.compare_changed.connect(lambda on: calls.append(f"on={on}"))
    state.set_compare(True)
    state.compare_changed.disconnect(refresh)
    state.compare_changed.disconnect(refresh)  # unknown now: ignored
    state.set_compare(False)
    assert calls == ["refresh", "on=True", "on=False"]
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            state.set_compare(True)
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert len(errors) == 1 and "compare_changed was emitted off the thread" in str(errors[0])


def test_the_state_modules_import_no_qt_or_vtk():
    code = (
        "import sys, casl_gui.state, casl_gui.inspection, casl_gui.view_style, casl_gui.events; "
        "toolkits = {'PySide6', 'shiboken6', 'vtk', 'vtkmodules', 'pyvista'}; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & toolkits))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
