"""Newton logistic regression: the same model as scikit-learn's, whether the Hessian comes
from every row or from a sample of them, from a cold or a warm start."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from lendguard.risk.logistic import NewtonLogistic


def data(n: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """k columns of WOE-like values; a rare event (about 5%) driven by all of them."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, k)) * 0.6
    log_odds = X @ rng.normal(size=k) - 3.0
    return X, (rng.random(n) < 1 / (1 + np.exp(-log_odds))).astype(np.int64)


@pytest.mark.parametrize("C", [0.03, 1.0, 1e6])
def test_the_model_is_scikit_learns(C: float) -> None:
    X, y = data(3000, 6)
    theirs = LogisticRegression(C=C, solver="newton-cholesky", tol=1e-10,
                                max_iter=1000).fit(X, y)
    ours = NewtonLogistic(C=C).fit(X, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-7)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, atol=1e-7)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-8)


def test_a_hessian_from_a_sample_of_rows_finds_the_same_optimum() -> None:
    # the gradient is always from every row, so only the number of steps may differ
    X, y = data(20_000, 8, seed=1)
    exact = NewtonLogistic().fit(X, y)
    sampled = NewtonLogistic(hessian_rows=2_000).fit(X, y)
    np.testing.assert_allclose(sampled.coef_, exact.coef_, atol=1e-6)
    np.testing.assert_allclose(sampled.intercept_, exact.intercept_, atol=1e-6)


def test_a_warm_start_finds_the_same_optimum_in_fewer_steps() -> None:
    X, y = data(20_000, 8, seed=2)
    cold = NewtonLogistic().fit(X, y)
    sample = NewtonLogistic().fit(X[:4000], y[:4000])
    warm = NewtonLogistic().fit(X, y, sample.coef_[0], float(sample.intercept_[0]))
    np.testing.assert_allclose(warm.coef_, cold.coef_, atol=1e-6)
    assert warm.n_iter_ < cold.n_iter_


def test_no_columns_is_the_default_rate() -> None:
    _, y = data(2000, 1)
    model = NewtonLogistic().fit(np.empty((2000, 0)), y)
    assert model.coef_.shape == (1, 0)
    assert 1 / (1 + np.exp(-model.intercept_[0])) == pytest.approx(y.mean())


def test_a_constant_column_is_penalised_to_nothing_not_a_crash() -> None:
    X, y = data(2000, 2)
    X = np.column_stack([X, np.zeros(2000)])
    model = NewtonLogistic().fit(X, y)
    assert model.coef_[0, 2] == 0.0


def test_c_must_be_positive() -> None:
    X, y = data(100, 2)
    with pytest.raises(ValueError):
        NewtonLogistic(C=0.0).fit(X, y)
