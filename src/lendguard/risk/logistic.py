"""L2-penalised logistic regression by Newton's method, for tall and narrow design matrices:
a scorecard's WOE columns, millions of rows and a few dozen columns.

The objective is scikit-learn's (``LogisticRegression(C=C)``): the summed log-loss plus
``||coef||² / (2 C)``, the intercept not penalised, so both find the same model. What
differs is the cost on many rows. A Newton step needs the gradient (two passes over the
rows) and the Hessian ``X' diag(p(1-p)) X`` (the costly part). The gradient is always
taken on every row, so the optimum is exactly the full data's; the Hessian is taken on
at most ``hessian_rows`` of them (a fixed random subset), which on a million rows still
points each step within a percent or so of the exact Newton direction: a few steps,
each checked by a line search on the full objective, reach the optimum. On data no
larger than ``hessian_rows`` every step is an exact Newton step.

The fit runs BLAS on one thread: products of a million rows by a dozen columns are bound
by memory, not arithmetic, so a second thread gains little, and where the cores are
shared (a laptop, a CI runner, a busy server) threads that wait for each other made the
same fit two to three times slower in our measurements.

Nothing here knows about WOE or scorecards; ``scorecard`` and ``selection`` use it.
"""

from __future__ import annotations

import math
from typing import Self

import numpy as np
from scipy.special import expit
from threadpoolctl import threadpool_limits

from lendguard.risk.features import FloatArray, IntArray

HESSIAN_ROWS = 200_000


class NewtonLogistic:
    """Binary logistic regression, the scikit-learn way round (``fit``, ``coef_``,
    ``intercept_``, ``decision_function``, ``predict_proba``).

    Attributes:
      C: inverse strength of the L2 penalty on the coefficients.
      tol: converged when no coefficient's Newton step exceeds ``tol`` (in units of the
        coefficient plus one) and the mean gradient is below it too.
      max_iter: the most Newton steps.
      hessian_rows: rows the Hessian is computed on (all of them when there are fewer).
      coef_, intercept_: the fitted model, shaped as scikit-learn's (1 × features, 1).
      n_iter_: Newton steps taken.
    """

    def __init__(self, C: float = 1.0, tol: float = 1e-6, max_iter: int = 100,
                 hessian_rows: int = HESSIAN_ROWS) -> None:
        self.C = C
        self.tol = tol
        self.max_iter = max_iter
        self.hessian_rows = hessian_rows

    def fit(self, X: FloatArray, y: IntArray, coef_init: FloatArray | None = None,
            intercept_init: float | None = None) -> Self:
        """Fit on ``X`` (rows × features) and the 0/1 target ``y``, starting from
        ``coef_init``/``intercept_init`` when given (a warm start: the model of a sample,
        or of the same columns less one)."""
        if not self.C > 0:
            raise ValueError(f"C must be positive, got {self.C}")
        X = np.asarray(X, dtype=np.float64)
        target = np.asarray(y, dtype=np.float64)
        rate = float(np.clip(target.mean(), 1e-12, 1 - 1e-12))
        # the parameters: the coefficients, then the intercept
        theta = np.zeros(X.shape[1] + 1)
        theta[-1] = math.log(rate / (1 - rate)) if intercept_init is None else intercept_init
        if coef_init is not None:
            theta[:-1] = coef_init
        problem = _Problem(X, target, 1.0 / self.C, _hessian_rows(len(target),
                                                                  self.hessian_rows))
        with threadpool_limits(limits=1, user_api="blas"):
            theta, self.n_iter_ = problem.solve(theta, self.tol, self.max_iter)
        self.coef_ = theta[None, :-1].copy()
        self.intercept_ = theta[-1:].copy()
        return self

    def decision_function(self, X: FloatArray) -> FloatArray:
        """Log-odds of the event (``y == 1``) for every row."""
        return np.asarray(X @ self.coef_[0] + self.intercept_[0], dtype=np.float64)

    def predict_proba(self, X: FloatArray) -> FloatArray:
        """Probabilities of ``y == 0`` and ``y == 1``, one row each, like scikit-learn."""
        p = expit(self.decision_function(X))
        return np.column_stack([1 - p, p])


def _hessian_rows(rows: int, size: int) -> IntArray | None:
    """The rows the Hessian is computed on: all of them (``None``) when few enough, else
    a fixed random subset in row order (so a model never depends on the clock)."""
    if rows <= size:
        return None
    chosen = np.random.default_rng(0).choice(rows, size, replace=False)
    return np.sort(chosen).astype(np.int64)


class _Problem:
    """One fit: the rows, the penalty and the Hessian's rows, and Newton's method on them."""

    def __init__(self, X: FloatArray, y: FloatArray, penalty: float,
                 hessian_rows: IntArray | None) -> None:
        self.X, self.y, self.penalty = X, y, penalty
        self.hessian_rows = hessian_rows
        # single precision is plenty for the Hessian, which only steers the steps (the
        # gradient, in double, decides where they end), and halves its cost
        self.hessian_X = (X if hessian_rows is None else X[hessian_rows]).astype(np.float32)
        self.hessian_scale = 1.0 if hessian_rows is None else len(y) / len(hessian_rows)

    def solve(self, theta: FloatArray, tol: float, max_iter: int) -> tuple[FloatArray, int]:
        """Damped Newton steps from ``theta`` until no parameter moves by more than
        ``tol`` times (its size plus one); the parameters and the steps taken."""
        eta = self.X @ theta[:-1] + theta[-1]
        loss = self.objective(eta, theta)
        for steps in range(1, max_iter + 1):
            p = expit(eta)
            residual = p - self.y
            gradient = np.append(self.X.T @ residual, residual.sum())
            gradient[:-1] += self.penalty * theta[:-1]
            step = np.linalg.solve(self.hessian(p), -gradient)
            moved, theta, eta, loss = self.line_search(theta, eta, loss, step, gradient)
            if not moved or np.all(np.abs(step) <= tol * (1 + np.abs(theta))):
                return theta, steps
        return theta, max_iter

    def hessian(self, p: FloatArray) -> FloatArray:
        """X' diag(p(1-p)) X bordered by the intercept's row and column, with the
        penalty on the coefficients' diagonal; from the Hessian's rows, scaled up."""
        if self.hessian_rows is not None:
            p = p[self.hessian_rows]
        weight = (p * (1 - p)).astype(np.float32)
        X = self.hessian_X
        weighted = X * weight[:, None]
        k = X.shape[1]
        hessian = np.empty((k + 1, k + 1))
        hessian[:k, :k] = weighted.T @ X
        hessian[:k, k] = hessian[k, :k] = weighted.sum(axis=0, dtype=np.float64)
        hessian[k, k] = weight.sum(dtype=np.float64)
        hessian *= self.hessian_scale
        diagonal = np.arange(k)
        hessian[diagonal, diagonal] += self.penalty
        return hessian

    def line_search(self, theta: FloatArray, eta: FloatArray, loss: float, step: FloatArray,
                    gradient: FloatArray) -> tuple[bool, FloatArray, FloatArray, float]:
        """Halve the step until the objective falls enough (Armijo). A fall within the
        objective's rounding counts, so that being at the optimum is not taken for a
        failure. Whether it moved, and the new parameters, log-odds and objective."""
        slope = float(gradient @ step)
        direction = self.X @ step[:-1] + step[-1]
        for halvings in range(40):
            t = 0.5**halvings
            candidate = theta + t * step
            candidate_eta = eta + t * direction
            candidate_loss = self.objective(candidate_eta, candidate)
            if candidate_loss <= loss + 1e-4 * t * slope + 1e-12 * abs(loss):
                return True, candidate, candidate_eta, candidate_loss
        return False, theta, eta, loss

    def objective(self, eta: FloatArray, theta: FloatArray) -> float:
        """Summed log-loss at log-odds ``eta`` plus the penalty: log(1 + e^eta) - y·eta,
        computed without overflow."""
        softplus = np.maximum(eta, 0) + np.log1p(np.exp(-np.abs(eta)))
        return float(softplus.sum() - self.y @ eta
                     + 0.5 * self.penalty * theta[:-1] @ theta[:-1])
