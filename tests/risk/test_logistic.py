"""Newton logistic regression: the same model as scikit-learn's, whether the Hessian comes
from every row or from a sample of them, from a cold or a warm start; and with every
coefficient bounded at 0 (the scorecard's sign rule), the constrained optimum: scikit-learn's
model when the bound holds nothing, the Karush-Kuhn-Tucker conditions when it does, and
never a worse fit than dropping wrong-signed columns one by one and refitting."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize
from scipy.special import expit
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


# ------------------------------------------------------------------ coefficients at most 0

def collinear(seed: int, n: int = 2000, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """k correlated columns; every true effect lowers the event's odds but one, so some
    fitted coefficients come out positive, as a collinear scorecard's do on WOE."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(k, k)) * 0.7 + np.eye(k)
    X = rng.normal(size=(n, k)) @ mixing.T
    beta = -np.abs(rng.normal(size=k)) * 0.6
    beta[rng.integers(k)] *= -1
    return X, (rng.random(n) < expit(X @ beta - 2.0)).astype(np.int64)


def protective(seed: int, n: int = 3000, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """k independent columns, each lowering the event's odds: the unconstrained optimum
    lies inside the bound."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, k)) * 0.6
    beta = -(0.3 + np.abs(rng.normal(size=k)))
    return X, (rng.random(n) < expit(X @ beta - 2.0)).astype(np.int64)


def objective(X: np.ndarray, y: np.ndarray, coef: np.ndarray, intercept: float,
              C: float) -> float:
    """scikit-learn's: summed log-loss plus ||coef||² / (2C); lower is a better fit."""
    eta = X @ coef + intercept
    return float(np.sum(np.logaddexp(0, eta) - y * eta) + 0.5 / C * coef @ coef)


def gradient(X: np.ndarray, y: np.ndarray, coef: np.ndarray, intercept: float,
             C: float) -> np.ndarray:
    """The objective's gradient: the coefficients', then the intercept's."""
    residual = expit(X @ coef + intercept) - y
    return np.append(X.T @ residual + coef / C, residual.sum())


def drop_and_refit(X: np.ndarray, y: np.ndarray, C: float) -> tuple[float, list[int]]:
    """The old way round the sign rule, with scikit-learn: drop the column of the largest
    positive coefficient, refit, until none is positive; the objective and columns left."""
    columns = list(range(X.shape[1]))
    while True:
        if not columns:   # every column dropped: the intercept alone, at the base rate
            rate = float(np.mean(y))
            return objective(X[:, []], y, np.zeros(0), float(np.log(rate / (1 - rate))),
                             C), columns
        model = LogisticRegression(C=C, solver="newton-cholesky", tol=1e-10,
                                   max_iter=1000).fit(X[:, columns], y)
        coefs = model.coef_[0]
        if coefs.max() <= 0:
            return objective(X[:, columns], y, coefs, model.intercept_[0], C), columns
        del columns[int(np.argmax(coefs))]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), C=st.sampled_from([0.1, 1.0, 1e4]))
def test_with_no_bound_reached_the_bounded_fit_is_scikit_learns(seed: int, C: float) -> None:
    X, y = protective(seed)
    theirs = LogisticRegression(C=C, solver="newton-cholesky", tol=1e-10,
                                max_iter=1000).fit(X, y)
    assume(theirs.coef_.max() < -0.01)   # the unconstrained optimum is inside the bound
    ours = NewtonLogistic(C=C, upper_bound=0.0).fit(X, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-7)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, atol=1e-7)
    assert not ours.at_bound().any()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), C=st.sampled_from([0.1, 1.0, 1e4]))
def test_with_the_bound_reached_the_fit_meets_the_kkt_conditions(seed: int, C: float) -> None:
    X, y = collinear(seed)
    unconstrained = NewtonLogistic(C=C).fit(X, y)
    assume(unconstrained.coef_.max() > 0.01)   # the bound must hold something
    model = NewtonLogistic(C=C, upper_bound=0.0).fit(X, y)
    coef, intercept = model.coef_[0], float(model.intercept_[0])
    held = model.at_bound()
    assert held.any()
    assert np.all(coef <= 0)
    g = gradient(X, y, coef, intercept, C)
    # free coefficients and the intercept: stationary; held ones: the objective would
    # fall if they rose past 0, never if they moved back below it
    np.testing.assert_allclose(g[:-1][~held], 0.0, atol=1e-5)
    assert g[-1] == pytest.approx(0.0, abs=1e-5)
    assert np.all(g[:-1][held] <= 1e-5)
    # and the objective is at least as low as scipy's bounded quasi-Newton gets it
    bounds = [(None, 0.0)] * X.shape[1] + [(None, None)]
    theirs = minimize(lambda t: (objective(X, y, t[:-1], t[-1], C),
                                 gradient(X, y, t[:-1], t[-1], C)),
                      np.zeros(X.shape[1] + 1), jac=True, method="L-BFGS-B", bounds=bounds,
                      options={"ftol": 1e-14, "gtol": 1e-9, "maxiter": 10_000})
    # (its coefficients can stop short of the optimum on collinear columns: compare fits)
    assert objective(X, y, coef, intercept, C) <= theirs.fun + 1e-7


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), C=st.sampled_from([0.1, 1.0, 1e4]))
@example(seed=1306, C=0.1)   # drop-and-refit drops every column
def test_the_bounded_fit_is_never_worse_than_drop_and_refit(seed: int, C: float) -> None:
    X, y = collinear(seed)
    dropped_objective, _ = drop_and_refit(X, y, C)
    model = NewtonLogistic(C=C, upper_bound=0.0).fit(X, y)
    bounded = objective(X, y, model.coef_[0], float(model.intercept_[0]), C)
    assert bounded <= dropped_objective + 1e-6


def test_the_bound_keeps_a_column_that_drop_and_refit_loses() -> None:
    # seed 153: dropping the largest positive coefficient and refitting leaves columns
    # 0, 1 and 4; the constrained optimum holds only column 3 at 0 and keeps column 2,
    # with a log-likelihood 0.27 higher
    X, y = collinear(153)
    dropped_objective, left = drop_and_refit(X, y, 1.0)
    model = NewtonLogistic(C=1.0, upper_bound=0.0).fit(X, y)
    bounded = objective(X, y, model.coef_[0], float(model.intercept_[0]), 1.0)
    assert left == [0, 1, 4]
    assert model.at_bound().tolist() == [False, False, False, True, False]
    assert dropped_objective - bounded == pytest.approx(0.27, abs=0.01)


def test_a_bounded_fit_with_a_sampled_hessian_and_a_warm_start_finds_the_same_optimum(
        ) -> None:
    X, y = collinear(49, n=20_000)
    exact = NewtonLogistic(upper_bound=0.0).fit(X, y)
    assert exact.at_bound().any()
    sampled = NewtonLogistic(upper_bound=0.0, hessian_rows=2_000).fit(X, y)
    start = NewtonLogistic().fit(X[:4000], y[:4000])   # unconstrained: clipped to the bound
    warm = NewtonLogistic(upper_bound=0.0).fit(X, y, start.coef_[0],
                                               float(start.intercept_[0]))
    for other in (sampled, warm):
        np.testing.assert_allclose(other.coef_, exact.coef_, atol=1e-6)
        np.testing.assert_allclose(other.intercept_, exact.intercept_, atol=1e-6)
        assert other.at_bound().tolist() == exact.at_bound().tolist()
