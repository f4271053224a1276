"""Colour modes are table entries keyed by field kind: tested without Qt or a display."""

from __future__ import annotations

import numpy as np
import pytest

from casl_core.fields import CASL_SCORE, CURVATURE_FLAGS, DEVIATION, DEVIATION_SCORE, FieldKind, normalised_field
from casl_core.synth.parts import make_part
from casl_gui.colour_modes import FIELD_MODES, NORMALISED_SCALE, TOLERANCE_SHARE, ModeKind, mode
from casl_gui.colouring import colour_spec, default_scale, field_choices, is_scalar


@pytest.fixture
def scan():
    part = make_part("hex_nut", seed=4, n_points=800)
    rng = np.random.default_rng(1)
    deviation = rng.normal(0.0, 0.02, len(part)).astype(np.float32)
    deviation[:8] = 0.3  # a bulge
    return part.with_fields(
        **{
            DEVIATION: deviation,
            DEVIATION_SCORE: np.abs(deviation),
            normalised_field(CASL_SCORE): rng.uniform(0.0, 1.0, len(part)).astype(np.float32),
            CURVATURE_FLAGS: np.zeros(len(part), np.uint8),
            "intensity": rng.uniform(10.0, 20.0, len(part)).astype(np.float32),
        }
    )


def test_every_field_kind_that_is_coloured_has_one_rule_and_flags_are_not_offered(scan):
    assert set(FIELD_MODES) == {
        FieldKind.CURVATURE,
        FieldKind.SCORE,
        FieldKind.NORMALISED,
        FieldKind.SIGNED,
        FieldKind.OTHER,
    }
    keys = [c.key for c in field_choices(scan)]
    assert CURVATURE_FLAGS not in keys
    for name in (DEVIATION, DEVIATION_SCORE, normalised_field(CASL_SCORE), "intensity"):
        assert name in keys
    casl = next(c for c in field_choices(scan) if c.key == CASL_SCORE)
    assert not casl.enabled and "CASL" in casl.reason


def test_signed_deviation_is_diverging_about_zero_with_a_grey_tolerance_band(scan):
    assert mode(DEVIATION).kind is ModeKind.DIVERGING and not is_scalar(DEVIATION)
    values = scan.fields[DEVIATION]
    scale = default_scale(DEVIATION, values)
    reach = np.percentile(np.abs(values.astype(np.float64)), 99.0)
    assert scale.threshold == 0.0 and scale.half_width == pytest.approx(reach)
    spec = colour_spec(scan, DEVIATION, scale, "viridis")
    assert spec.cmap == "coolwarm" and spec.clim == pytest.approx((-reach, reach))
    assert spec.grey_band == pytest.approx((-TOLERANCE_SHARE * reach, TOLERANCE_SHARE * reach))


def test_calibrated_scores_share_one_fixed_zero_to_one_scale(scan):
    name = normalised_field(CASL_SCORE)
    assert mode(name).kind is ModeKind.SCALAR and is_scalar(name)
    assert default_scale(name, scan.fields[name]) == NORMALISED_SCALE
    assert NORMALISED_SCALE.clim == (0.0, 1.0) and NORMALISED_SCALE.threshold == 0.5
    assert default_scale(normalised_field(DEVIATION_SCORE), None) == NORMALISED_SCALE
