"""Closed-form symmetric 3x3 eigenvalues and smallest eigenvectors against numpy.linalg."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from casl_core.geometry.eigen3 import SYM6_PAIRS, eigvalsh3, smallest_eigenvector3, sym6_to_matrix


def _sym6(mats: np.ndarray) -> np.ndarray:
    return np.stack([mats[:, i, j] for i, j in SYM6_PAIRS], axis=-1)


def _rotations(rng: np.random.Generator, n: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(n, 3, 3)))
    return q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]


def _with_eigenvalues(rng: np.random.Generator, values: np.ndarray) -> np.ndarray:
    q = _rotations(rng, len(values))
    return np.einsum("nij,nj,nkj->nik", q, values, q)


def test_eigenvalues_match_eigvalsh_on_random_symmetric_matrices():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(20000, 3, 3)) * rng.lognormal(0, 3, size=(20000, 1, 1))
    mats = (m + m.transpose(0, 2, 1)) / 2
    got = np.stack(eigvalsh3(_sym6(mats)), axis=-1)
    want = np.linalg.eigvalsh(mats)
    scale = np.abs(want).max(axis=1, keepdims=True)
    assert np.all(np.abs(got - want) <= 1e-12 * scale + 1e-300)
    assert np.all(np.diff(got, axis=1) >= 0)


@pytest.mark.parametrize(
    "values",
    [
        (0.0, 0.0, 1.0),  # a line
        (0.0, 1.0, 1.0),  # a disc: repeated largest
        (1.0, 1.0, 1.0),  # isotropic
        (1e-9, 1.0, 1.0 + 1e-9),  # almost flat, almost repeated
        (0.0, 0.0, 0.0),  # all points at one place
        (2.0, 2.0 + 1e-7, 5.0),  # nearly repeated smallest
    ],
)
def test_eigenvalues_of_nearly_degenerate_matrices(values):
    rng = np.random.default_rng(1)
    vals = np.tile(np.asarray(values, dtype=np.float64), (500, 1)) * rng.lognormal(0, 2, size=(500, 1))
    mats = _with_eigenvalues(rng, vals)
    got = np.stack(eigvalsh3(_sym6(mats)), axis=-1)
    want = np.linalg.eigvalsh(mats)
    scale = np.abs(want).max(axis=1, keepdims=True) + 1e-300
    # acos near +-1 loses half the digits when two eigenvalues coincide
    assert np.all(np.abs(got - want) <= 1e-7 * scale)


def test_smallest_eigenvector_matches_eigh_up_to_sign():
    rng = np.random.default_rng(2)
    vals = np.sort(rng.lognormal(0, 1, size=(5000, 3)), axis=1)
    vals[:, 0] *= rng.uniform(0, 1, size=5000) ** 4  # many nearly flat neighbourhoods
    mats = _with_eigenvalues(rng, vals)
    a = _sym6(mats)
    l0 = eigvalsh3(a)[0]
    got = smallest_eigenvector3(a, l0)
    want = np.linalg.eigh(mats)[1][:, :, 0]
    gap = (vals[:, 1] - vals[:, 0]) / vals[:, 2]
    sep = gap > 1e-6
    assert sep.mean() > 0.9
    assert np.all(np.abs(np.einsum("ij,ij->i", got, want))[sep] > 1 - 1e-6)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0)


def test_smallest_eigenvector_lies_in_a_repeated_eigenspace():
    rng = np.random.default_rng(3)
    n = 300
    for values in ((0.0, 0.0, 1.0), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), (0.0, 2.0, 2.0)):
        mats = _with_eigenvalues(rng, np.tile(values, (n, 1)).astype(np.float64))
        a = _sym6(mats)
        l0 = eigvalsh3(a)[0]
        v = smallest_eigenvector3(a, l0)
        assert np.allclose(np.linalg.norm(v, axis=1), 1.0)
        residual = np.einsum("nij,nj->ni", mats, v) - l0[:, None] * v
        # the eigenvalue itself is only good to ~1e-8 when repeated (acos near +-1)
        assert np.abs(residual).max() <= 1e-7 * max(1.0, max(values))


def test_torch_tensors_give_the_numpy_numbers():
    rng = np.random.default_rng(4)
    m = rng.normal(size=(2000, 3, 3))
    a = _sym6(m @ m.transpose(0, 2, 1))
    l_np = eigvalsh3(a)
    l_t = eigvalsh3(torch.from_numpy(a))
    for x, y in zip(l_np, l_t):
        assert isinstance(y, torch.Tensor)
        np.testing.assert_allclose(y.numpy(), x, rtol=1e-12, atol=1e-12)
    v_np = smallest_eigenvector3(a, l_np[0])
    v_t = smallest_eigenvector3(torch.from_numpy(a), l_t[0])
    np.testing.assert_allclose(v_t.numpy(), v_np, atol=1e-10)


def test_sym6_round_trip():
    rng = np.random.default_rng(5)
    m = rng.normal(size=(10, 3, 3))
    mats = m + m.transpose(0, 2, 1)
    np.testing.assert_array_equal(sym6_to_matrix(_sym6(mats)), mats)
