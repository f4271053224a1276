"""The scorer registry: one entry per method, the CLI's --method built from it."""

from __future__ import annotations

import numpy as np
import pytest

from casl_core import fields
from casl_core.cli import build_parser, eval_scorer, main
from casl_core.errors import ConfigError
from casl_core.methods import SCORERS, ScorerOptions, make_scorer, scorer_entry
from casl_core.scorers.curvature import CurvatureBaseline, fuse_curvature
from casl_core.synth.parts import make_part


def _eval_args(*extra: str):
    return build_parser().parse_args(["eval", "--root", "r", "--out", "o", *extra])


def test_eval_method_choices_are_the_registry(capsys):
    assert list(SCORERS)[:2] == ["curvature", "casl"] and "fused" in SCORERS
    assert _eval_args().method == "curvature"
    for name in SCORERS:
        assert _eval_args("--method", name).method == name
    with pytest.raises(SystemExit):
        build_parser().parse_args(["eval", "--help"])
    help_text = "".join(capsys.readouterr().out.split())  # argparse wraps lines (and hyphenated words)
    assert "{" + ",".join(SCORERS) + "}" in help_text
    for entry in SCORERS.values():
        assert "".join(f"{entry.name}: {entry.description}".split()) in help_text


def test_each_entry_declares_the_field_its_scorer_writes():
    for name, entry in SCORERS.items():
        assert entry.name == name
        assert entry.score_field == fields.score_field(name)
        assert fields.field_kind(entry.score_field) is fields.FieldKind.SCORE
    assert CurvatureBaseline().score_field == SCORERS["curvature"].score_field == fields.CURVATURE_SCORE


def test_the_curvature_entry_builds_the_baseline_from_the_options_and_writes_its_field():
    scorer = eval_scorer(_eval_args("--fusion", "max", "--k", "8", "16", "--device", "cpu"))
    assert isinstance(scorer, CurvatureBaseline)
    assert (scorer.fusion, tuple(scorer.ks), scorer.device) == ("max", (8, 16), "cpu")
    scan = make_part("flange", seed=0, n_points=3000)
    result = scorer.score(scan)
    assert set(result.scan.fields) >= {fields.curvature_field(8, exact=True), fields.curvature_field(16, exact=True)}
    np.testing.assert_array_equal(result.scan.fields[scorer.score_field], result.point_scores)
    np.testing.assert_array_equal(result.point_scores, fuse_curvature(result.scan, "max"))


def test_unknown_method_and_missing_checkpoint_are_config_errors(capsys):
    with pytest.raises(ConfigError, match="unknown scoring method 'nope'; choose from curvature, casl"):
        make_scorer("nope")
    with pytest.raises(ConfigError, match="--checkpoint"):
        scorer_entry("casl").make(ScorerOptions(device="cpu"))
    assert main(["eval", "--root", "r", "--out", "o", "--method", "casl"]) == 1
    assert (
        capsys.readouterr().err.strip()
        == "casl: error: --method casl needs --checkpoint PATH (a fine-tuned checkpoint)"
    )
    with pytest.raises(SystemExit):
        _eval_args("--method", "nope")
