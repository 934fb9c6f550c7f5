"""Shared fixtures of the risk-model tests: the public data sets, and scorecards trained on
them once per session with fixed settings (tuning is tested where it matters, in the
cross-validation of German credit); and simulated runs, made once per session: a small
one (160 borrowers over 6 months) and the mid-size one of the xdist group "simulated"
(one block of 2,048 borrowers over 13 months: every test that uses it is in that group,
so they share one worker and one run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lendguard.risk.challenger import Challenger, train_challenger
from lendguard.risk.datasets import Dataset, german_credit, uci_credit_card
from lendguard.risk.scorecard import ScorecardOptions, TrainedScorecard, train_scorecard
from lendguard.sim import load_config
from lendguard.sim.run import simulate

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


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with a small simulated run: events.db and its tables."""
    out = tmp_path_factory.mktemp("small-sim")
    simulate(load_config(), 160, 6, 11, out, workers=1)
    return out


@pytest.fixture(scope="session")
def simulated_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mid-size simulated run (seed 7); only for tests in the "simulated" group."""
    out = tmp_path_factory.mktemp("simulated")
    simulate(load_config(), 2_048, 13, 7, out, workers=1)
    return out
