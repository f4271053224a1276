"""tools/pretrain_corpus.py: one-sided views and the corpus it writes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from casl_core.io import read_scan
from casl_core.train.data import find_scan_files

_SPEC = importlib.util.spec_from_file_location(
    "pretrain_corpus", Path(__file__).resolve().parents[1] / "tools" / "pretrain_corpus.py"
)
corpus = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(corpus)


def test_a_view_of_a_sphere_is_the_cap_facing_the_viewpoint():
    rng = np.random.default_rng(0)
    points = rng.standard_normal((4000, 3))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    seen = corpus.visible_from(points, np.array([0.0, 0.0, 2.0]))
    # From 3 radii away the visible cap is z > 1/3: a third of a uniform sphere.
    assert (points[seen, 2] > 0.25).mean() > 0.99  # hidden-point removal may keep a few near the rim
    assert 0.3 < len(seen) / len(points) < 0.4
    assert (np.isin(np.flatnonzero(points[:, 2] > 0.45), seen)).mean() > 0.95


def test_the_corpus_holds_every_source_at_every_density_whole_and_in_views(scans_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "MESHES", ("common-3d-test-models/fandisk.obj",))
    written = corpus.write_corpus(tmp_path, scans_dir, [800, 1500], views=1, part_seeds=1, seed=0)
    files = find_scan_files([tmp_path])
    assert written == len(files) == (1 + len(corpus.PART_KINDS)) * 2 * 2
    whole = read_scan(tmp_path / "fandisk" / "fandisk_1500_full.ply")
    view = read_scan(tmp_path / "fandisk" / "fandisk_1500_view0.ply")
    assert len(whole) == 1500 and 0.2 * 1500 < len(view) < 0.9 * 1500
    assert {tuple(p) for p in view.points} <= {tuple(p) for p in whole.points}
    again = tmp_path / "again"
    corpus.write_corpus(again, scans_dir, [800], views=1, part_seeds=1, seed=0)
    np.testing.assert_array_equal(
        read_scan(again / "hex_nut_0" / "hex_nut_0_800_view0.ply").points,
        read_scan(tmp_path / "hex_nut_0" / "hex_nut_0_800_view0.ply").points,
    )
    with pytest.raises(ValueError):
        corpus.source_scan("hex_nut:x", 100, 0, scans_dir)
