"""Object score = mean of the top-k point scores."""

from __future__ import annotations

import numpy as np
import pytest

from casl_core.errors import ConfigError
from casl_core.scorers.pooling import object_score, top_k_count


def test_top_k_is_one_percent_rounded_up_and_at_least_one():
    assert top_k_count(1000) == 10
    assert top_k_count(1001) == 11
    assert top_k_count(5) == 1


def test_object_score_is_mean_of_largest_scores_against_a_sort():
    rng = np.random.default_rng(3)
    scores = rng.normal(size=12345)
    k = top_k_count(len(scores))
    expected = np.sort(scores)[-k:].mean()
    assert object_score(scores) == pytest.approx(expected, rel=1e-12)
    assert object_score(scores, top_fraction=1.0) == pytest.approx(scores.mean(), rel=1e-12)


@pytest.mark.parametrize("bad", [np.array([]), np.array([[1.0]]), np.array([1.0, np.nan])])
def test_object_score_refuses_bad_scores(bad):
    with pytest.raises(ConfigError):
        object_score(bad)


def test_top_fraction_out_of_range_is_refused():
    with pytest.raises(ConfigError):
        top_k_count(10, 0.0)
