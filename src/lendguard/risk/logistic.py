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

``upper_bound`` turns the fit into a box-constrained one: every coefficient at most the
bound (0 for the scorecard's sign rule), the maximum of the same penalised likelihood over
those coefficients only. It is found by projected Newton steps (Bertsekas, 1982): a
coefficient at its bound whose gradient pushes it further out is held there (the active
set), the Newton step is solved for the others, and the line search follows the step
clipped back to the bound. At the optimum every held coefficient's gradient still pushes
outwards (the Karush-Kuhn-Tucker conditions); with no bound reached it is the
unconstrained optimum, the same model as scikit-learn's.

Nothing here knows about WOE or scorecards; ``scorecard`` and ``selection`` use it.
"""

from __future__ import annotations

import math
from typing import Self

import numpy as np
import numpy.typing as npt
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
      upper_bound: every coefficient is at most this (``inf``: unconstrained; 0: none
        positive). The intercept is never bounded.
      coef_, intercept_: the fitted model, shaped as scikit-learn's (1 × features, 1).
      n_iter_: Newton steps taken.
    """

    def __init__(self, C: float = 1.0, tol: float = 1e-6, max_iter: int = 100,
                 hessian_rows: int = HESSIAN_ROWS, upper_bound: float = math.inf) -> None:
        self.C = C
        self.tol = tol
        self.max_iter = max_iter
        self.hessian_rows = hessian_rows
        self.upper_bound = upper_bound

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
            theta[:-1] = np.minimum(coef_init, self.upper_bound)
        problem = _Problem(X, target, 1.0 / self.C, _hessian_rows(len(target),
                                                                  self.hessian_rows),
                           self.upper_bound)
        with threadpool_limits(limits=1, user_api="blas"):
            theta, self.n_iter_ = problem.solve(theta, self.tol, self.max_iter)
        self.coef_ = theta[None, :-1].copy()
        self.intercept_ = theta[-1:].copy()
        return self

    def at_bound(self) -> npt.NDArray[np.bool_]:
        """Which coefficients the bound holds (equal to it): with a bound of 0, the
        columns the model does without."""
        return np.asarray(self.coef_[0] >= self.upper_bound)

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
    """One fit: the rows, the penalty, the Hessian's rows and the coefficients' upper
    bound, and (projected) Newton's method on them."""

    def __init__(self, X: FloatArray, y: FloatArray, penalty: float,
                 hessian_rows: IntArray | None, upper_bound: float = math.inf) -> None:
        self.X, self.y, self.penalty = X, y, penalty
        self.upper_bound = upper_bound
        self.hessian_rows = hessian_rows
        # single precision is plenty for the Hessian, which only steers the steps (the
        # gradient, in double, decides where they end), and halves its cost
        self.hessian_X = (X if hessian_rows is None else X[hessian_rows]).astype(np.float32)
        self.hessian_scale = 1.0 if hessian_rows is None else len(y) / len(hessian_rows)

    def solve(self, theta: FloatArray, tol: float, max_iter: int) -> tuple[FloatArray, int]:
        """Damped (projected) Newton steps from ``theta`` until no parameter moves by
        more than ``tol`` times (its size plus one); the parameters and the steps taken."""
        eta = self.X @ theta[:-1] + theta[-1]
        loss = self.objective(eta, theta)
        for steps in range(1, max_iter + 1):
            p = expit(eta)
            residual = p - self.y
            gradient = np.append(self.X.T @ residual, residual.sum())
            gradient[:-1] += self.penalty * theta[:-1]
            step = self.newton_step(self.hessian(p), gradient, self.held(theta, gradient))
            # how far the full step would move each parameter once clipped to the bound
            reach = self.clipped(theta + step) - theta
            moved, theta, eta, loss = self.line_search(theta, eta, loss, step, gradient)
            if not moved or np.all(np.abs(reach) <= tol * (1 + np.abs(theta))):
                return theta, steps
        return theta, max_iter

    def held(self, theta: FloatArray, gradient: FloatArray) -> npt.NDArray[np.bool_]:
        """The parameters the bound holds this step: coefficients at (or within rounding
        of) their bound whose gradient says "further out" (the objective falls as they
        rise). Those at the bound with the gradient pointing back in are free to leave."""
        held = np.zeros(len(theta), dtype=bool)
        if math.isfinite(self.upper_bound):
            near = theta[:-1] >= self.upper_bound - 1e-12 * (1 + abs(self.upper_bound))
            held[:-1] = near & (gradient[:-1] < 0)
        return held

    @staticmethod
    def newton_step(hessian: FloatArray, gradient: FloatArray,
                    held: npt.NDArray[np.bool_]) -> FloatArray:
        """The Newton step of the parameters not held (the Hessian's rows and columns of
        the held ones left out: Bertsekas' scaling, which keeps the projected step a
        descent direction); zero for the held ones."""
        step = np.zeros(len(gradient))
        free = ~held
        step[free] = np.linalg.solve(hessian[np.ix_(free, free)], -gradient[free])
        return step

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
        """Halve the step until the objective falls enough (Armijo, along the step
        clipped to the bound: the fall wanted is that of the move actually made). A fall
        within the objective's rounding counts, so that being at the optimum is not taken
        for a failure. Whether it moved, and the new parameters, log-odds and objective."""
        direction = self.X @ step[:-1] + step[-1]
        for halvings in range(40):
            t = 0.5**halvings
            candidate = self.clipped(theta + t * step)
            if np.array_equal(candidate, theta + t * step):
                candidate_eta = eta + t * direction
            else:
                candidate_eta = self.X @ candidate[:-1] + candidate[-1]
            candidate_loss = self.objective(candidate_eta, candidate)
            slope = float(gradient @ (candidate - theta))
            if candidate_loss <= loss + 1e-4 * slope + 1e-12 * abs(loss):
                return True, candidate, candidate_eta, candidate_loss
        return False, theta, eta, loss

    def clipped(self, theta: FloatArray) -> FloatArray:
        """``theta`` with every coefficient above the bound put back on it."""
        if not math.isfinite(self.upper_bound):
            return theta
        return np.append(np.minimum(theta[:-1], self.upper_bound), theta[-1])

    def objective(self, eta: FloatArray, theta: FloatArray) -> float:
        """Summed log-loss at log-odds ``eta`` plus the penalty: log(1 + e^eta) - y·eta,
        computed without overflow."""
        softplus = np.maximum(eta, 0) + np.log1p(np.exp(-np.abs(eta)))
        return float(softplus.sum() - self.y @ eta
                     + 0.5 * self.penalty * theta[:-1] @ theta[:-1])
