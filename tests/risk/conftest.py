"""Shared fixtures of the risk-model tests: the public data sets, and scorecards trained on
them once per session with fixed settings (tuning is tested where it matters, in the
cross-validation of German credit)."""

from __future__ import annotations

import pytest

from lendguard.risk.challenger import Challenger, train_challenger
from lendguard.risk.datasets import Dataset, german_credit, uci_credit_card
from lendguard.risk.scorecard import ScorecardOptions, TrainedScorecard, train_scorecard

FIXED = ScorecardOptions(C=0.3, woe_prior=10.0)


@pytest.fixture(scope="session")
def german() -> Dataset:
    return german_credit()


@pytest.fixture(scope="session")
def uci() -> Dataset:
    return uci_credit_card()


@pytest.fixture(scope="session")
def german_scorecard(german: Dataset) -> TrainedScorecard:
    return train_scorecard(german.frame, german.feature_set, FIXED)


@pytest.fixture(scope="session")
def german_challenger(german: Dataset, german_scorecard: TrainedScorecard) -> Challenger:
    return train_challenger(german.frame, german.feature_set,
                            binnings=german_scorecard.binnings)
