"""Feature selection: each filter drops what it should and says why."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from scipy.stats import chi2_contingency

from lendguard.risk.binning import FeatureBinning, fit_feature
from lendguard.risk.card import model_card
from lendguard.risk.datasets import Dataset
from lendguard.risk.features import Feature, FeatureSet, Kind
from lendguard.risk.scorecard import ScorecardOptions, train_scorecard
from lendguard.risk.selection import (
    Selection,
    SelectionOptions,
    bins_p_value,
    forward_stepwise,
    select_features,
    variance_inflation,
    woe_parameters,
)


def data(seed: int = 0, n: int = 20_000) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """strong and medium drive default; twin copies strong with a little noise; noise is
    noise; sparse is missing in 97% of rows."""
    rng = np.random.default_rng(seed)
    strong, medium, noise = rng.normal(size=(3, n))
    twin = strong + 0.05 * rng.normal(size=n)
    sparse = np.where(rng.random(n) < 0.97, np.nan, rng.normal(size=n))
    p = 1 / (1 + np.exp(-(-1.5 + 1.2 * strong + 0.5 * medium)))
    y = (rng.random(n) < p).astype(np.int64)
    return {"strong": strong, "medium": medium, "twin": twin, "noise": noise,
            "sparse": sparse}, y


def fitted(columns: dict[str, np.ndarray], y: np.ndarray
           ) -> tuple[np.ndarray, dict[str, FeatureBinning]]:
    binnings = {name: fit_feature(Feature(name, Kind.NUMERIC), values, y)
                for name, values in columns.items()}
    woe = np.column_stack([binnings[n].transform(columns[n]) for n in columns])
    return woe, binnings


def test_the_filters_keep_the_informative_and_say_why_they_drop() -> None:
    columns, y = data()
    woe, binnings = fitted(columns, y)
    selection = select_features(woe, y, list(columns), binnings)
    # strong and its twin carry the same information: whichever has the higher IV stays
    kept_twin = "strong" if "strong" in selection.kept else "twin"
    other = "twin" if kept_twin == "strong" else "strong"
    assert sorted(selection.kept) == sorted([kept_twin, "medium"])
    assert f"correlates > 0.8 with {kept_twin}" in selection.dropped[other]
    assert binnings[kept_twin].iv >= binnings[other].iv
    assert "missing in 97" in selection.dropped["sparse"]
    assert selection.dropped["noise"].startswith("IV ")


def test_vif_drops_the_collinear_feature_when_correlation_allows_it() -> None:
    columns, y = data()
    woe, binnings = fitted(columns, y)
    options = SelectionOptions(max_correlation=1.0, max_vif=5.0)
    selection = select_features(woe, y, list(columns), binnings, options)
    assert "twin" in selection.dropped or "strong" in selection.dropped
    assert "VIF" in (selection.dropped.get("twin") or selection.dropped["strong"])


def test_variance_inflation_of_independent_columns_is_one() -> None:
    rng = np.random.default_rng(3)
    matrix = rng.normal(size=(50_000, 3))
    np.testing.assert_allclose(variance_inflation(matrix), 1.0, atol=0.01)
    # a column that is the sum of the others is (nearly) perfectly explained by them
    collinear = np.column_stack([matrix, matrix.sum(axis=1) + 0.01 * rng.normal(size=50_000)])
    assert variance_inflation(collinear).min() > 100


def test_forward_stepwise_adds_what_lowers_the_bic() -> None:
    columns, y = data()
    woe, binnings = fitted(columns, y)
    names = ["noise", "medium", "strong"]
    selection = Selection(list(names))
    index = {name: list(columns).index(name) for name in names}
    forward_stepwise(selection, woe, y, index, max_features=5,
                     parameters={name: woe_parameters(binnings[name]) for name in names})
    assert set(selection.kept) == {"strong", "medium"}
    assert "BIC" in selection.dropped["noise"]


def test_under_the_sign_rule_stepwise_never_adds_a_feature_that_helps_only_backwards(
        ) -> None:
    # suppressor alone predicts default like strong (it is strong plus noise), but given
    # strong, more of it means less default: it lowers the BIC only with a coefficient
    # that would make its safer bins worth fewer points
    rng = np.random.default_rng(5)
    strong, medium = rng.normal(size=(2, 20_000))
    suppressor = strong + rng.normal(size=20_000)
    p = 1 / (1 + np.exp(-(-2.5 + 1.5 * strong - 0.6 * suppressor + 0.5 * medium)))
    y = (rng.random(20_000) < p).astype(np.int64)
    columns = {"strong": strong, "suppressor": suppressor, "medium": medium}
    woe, binnings = fitted(columns, y)
    index = {name: i for i, name in enumerate(columns)}
    parameters = {name: woe_parameters(binnings[name]) for name in columns}
    chosen = {}
    for sign_rule in (False, True):
        selection = Selection(list(columns))
        forward_stepwise(selection, woe, y, index, 5, sign_rule, parameters)
        chosen[sign_rule] = set(selection.kept)
    assert chosen[False] == {"strong", "suppressor", "medium"}
    assert chosen[True] == {"strong", "medium"}


def test_a_binning_read_from_an_artefact_is_judged_by_a_g_test_on_its_bins() -> None:
    columns, y = data()
    binning = fit_feature(Feature("medium", Kind.NUMERIC), columns["medium"], y)
    loaded = replace(binning, association_p_value=math.nan)   # artefacts do not keep it
    occupied = [b for b in loaded.bins if b.count > 0]
    table = np.array([[b.events, b.non_events] for b in occupied])
    expected = chi2_contingency(table, correction=False, lambda_="log-likelihood").pvalue
    assert bins_p_value(loaded) == pytest.approx(expected, rel=1e-9, abs=1e-300)
    assert bins_p_value(binning) == binning.association_p_value


def test_the_optional_noise_filter_drops_noise_the_iv_filter_lets_in(german: Dataset) -> None:
    """Two pure-noise columns on German credit's 1,000 rows: their fitted bins pass the
    IV line (0.02); the honest association test at 0.2 drops them and nothing else."""
    rng = np.random.default_rng(0)
    frame = german.frame.with_columns(pl.Series("noise_a", rng.normal(size=1000)),
                                      pl.Series("noise_b", rng.random(1000)))
    features = FeatureSet(german.feature_set.target, (
        *german.feature_set.features, Feature("noise_a", Kind.NUMERIC),
        Feature("noise_b", Kind.NUMERIC)))
    default = train_scorecard(frame, features, ScorecardOptions(C=1.0, woe_prior=0.0))
    assert {"noise_a", "noise_b"} <= set(default.selection.kept)
    filtered = train_scorecard(frame, features, ScorecardOptions(
        C=1.0, woe_prior=0.0, selection=SelectionOptions(noise_p_value=0.2)))
    assert set(default.selection.kept) - set(filtered.selection.kept) == {"noise_a", "noise_b"}
    assert "no sign the default rate depends on it" in filtered.selection.dropped["noise_a"]
    assert "that test at p ≤ 0.2 whatever the IV" in model_card("x.csv", filtered, None)
