"""German credit, 5-fold stratified cross-validation (shuffled, seed 0), as the issue
measures the peers: toad 0.785 AUC, optbinning WOE + logistic 0.794, LightGBM 0.801.

Every choice the models make (C and the WOE prior of the scorecard, the boosting rounds
and the calibration of the challenger) is made inside each training fold; the test folds
only judge.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from lendguard.risk.datasets import Dataset
from lendguard.risk.training import fold_scores


@pytest.fixture(scope="module")
def cv_aucs(german: Dataset) -> dict[str, list[float]]:
    y = german.frame["creditability"].to_numpy()
    aucs: dict[str, list[float]] = {"scorecard": [], "lightgbm": []}
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    for train, test in folds.split(np.zeros(len(y)), y):
        scores = fold_scores(german.frame[train], german.frame[test], german.feature_set,
                             "both")
        for name, score in scores.items():
            aucs[name].append(float(roc_auc_score(y[test], score)))
    print({name: (round(float(np.mean(v)), 4), round(float(np.std(v)), 4))
           for name, v in aucs.items()})
    return aucs


@pytest.mark.slow
def test_scorecard_beats_optbinning_and_toad(cv_aucs: dict[str, list[float]]) -> None:
    aucs = cv_aucs["scorecard"]
    assert np.mean(aucs) >= 0.795
    assert np.std(aucs) < 0.03   # fold spread


@pytest.mark.slow
def test_lightgbm_challenger(cv_aucs: dict[str, list[float]]) -> None:
    aucs = cv_aucs["lightgbm"]
    # 0.7960 ± 0.016 (0.7942 before rare categories were pooled; 0.7925 with every
    # inferred trend constrained, noise included)
    assert np.mean(aucs) >= 0.795
    assert np.std(aucs) < 0.03


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="issue #5 goal not met: the challenger measures "
                   "0.7960; see docs/benchmarks.md, 'The challenger on German credit'")
def test_lightgbm_challenger_reaches_the_goal(cv_aucs: dict[str, list[float]]) -> None:
    # strict: the day this passes, the marker must go and the goal is met
    assert np.mean(cv_aucs["lightgbm"]) >= 0.800
