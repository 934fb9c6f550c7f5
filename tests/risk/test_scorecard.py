"""The scorecard: points-to-double-odds arithmetic, one record scored like millions, the
points table, reason codes in English and Chinese, and the sign rule of training (on
data of any size)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from lendguard.errors import NonNumericValues
from lendguard.risk.binning import BinningOptions
from lendguard.risk.card import model_card
from lendguard.risk.datasets import Dataset
from lendguard.risk.features import Feature, FeatureSet, Kind
from lendguard.risk.scorecard import (
    Scaling,
    Scorecard,
    ScorecardOptions,
    TrainedScorecard,
    train_scorecard,
)
from lendguard.risk.selection import SelectionOptions


def test_600_points_at_odds_50_to_1_and_20_more_double_them() -> None:
    scaling = Scaling()
    # factor = 20 / ln 2 = 28.8539; offset = 600 - factor * ln 50 = 487.1229
    assert scaling.factor == pytest.approx(28.8539008)
    assert scaling.offset == pytest.approx(487.1228762)
    assert scaling.score(50) == pytest.approx(600)
    assert scaling.score(100) == pytest.approx(620)
    assert scaling.score(25) == pytest.approx(580)
    assert scaling.probability_of_default(600) == pytest.approx(1 / 51)


@given(base_score=st.floats(100, 1000), base_odds=st.floats(0.5, 500),
       pdo=st.floats(5, 100), odds=st.floats(1e-3, 1e4))
def test_doubling_the_odds_adds_pdo_points(base_score: float, base_odds: float, pdo: float,
                                           odds: float) -> None:
    scaling = Scaling(base_score, base_odds, pdo)
    assert scaling.score(base_odds) == pytest.approx(base_score)
    assert scaling.score(2 * odds) - scaling.score(odds) == pytest.approx(pdo)
    assert scaling.odds(scaling.score(odds)) == pytest.approx(odds)
    pd_ = scaling.probability_of_default(scaling.score(odds))
    assert pd_ == pytest.approx(1 / (1 + odds))


def test_scaling_is_refused_without_positive_pdo_and_odds() -> None:
    with pytest.raises(ValueError):
        Scaling(pdo=0)
    with pytest.raises(ValueError):
        Scaling(base_odds=-1)


def test_points_add_up_to_the_scaled_log_odds(german: Dataset,
                                              german_scorecard: TrainedScorecard) -> None:
    card = german_scorecard.scorecard
    # unrounded, the points of a record sum to offset + factor * ln(odds of repaying);
    # each feature's points are rounded to a whole number, so the sum is within n/2
    frame = german.frame.head(50)
    woe = np.column_stack([f.binning.transform(np.asarray(
        frame[f.feature.name].to_list(), dtype=float if f.feature.kind == "numeric"
        else object)) for f in card.features])
    coefs = np.array([f.coefficient for f in card.features])
    log_odds_good = -(card.intercept + woe @ coefs)
    exact = card.scaling.offset + card.scaling.factor * log_odds_good
    scores = card.score_frame(frame)
    assert np.all(np.abs(scores - exact) <= len(card.features) / 2)
    assert scores.dtype == np.int64


def test_one_record_scores_as_the_batch_does(german: Dataset,
                                             german_scorecard: TrainedScorecard) -> None:
    card = german_scorecard.scorecard
    batch = card.score_frame(german.frame)
    singles = [card.score_one(row) for row in german.frame.iter_rows(named=True)]
    assert singles == batch.tolist()


def test_higher_scores_default_less(german: Dataset, german_scorecard: TrainedScorecard) -> None:
    scores = german_scorecard.scorecard.score_frame(german.frame)
    bad = german.frame["creditability"].to_numpy() == 1
    low, high = scores < np.median(scores), scores >= np.median(scores)
    assert bad[low].mean() > 2 * bad[high].mean()


def test_missing_values_score_as_the_missing_bin_and_unseen_ones_as_the_rare_pool(
        german_scorecard: TrainedScorecard) -> None:
    card = german_scorecard.scorecard
    missing = sum(f.points[f.binning.missing_index] for f in card.features)
    assert card.score_one({}) == missing
    assert card.score_one({name: None for name in card.names}) == missing
    categorical = [f for f in card.features if f.feature.kind == "categorical"]
    assert any(f.binning.unseen is not None for f in categorical)    # purpose pools
    unseen = {f.feature.name: "never seen" for f in categorical}
    expected = sum(f.points[f.binning.unseen_index] if f.feature.kind == "categorical"
                   else f.points[f.binning.missing_index] for f in card.features)
    assert card.score_one(unseen) == expected
    frame = pl.DataFrame({name: [unseen.get(name)] for name in card.names},
                         schema={f.feature.name: pl.String if f.feature.kind == "categorical"
                                 else pl.Float64 for f in card.features})
    assert card.score_frame(frame).tolist() == [expected]


def test_a_non_numeric_value_of_a_numeric_feature_is_refused_by_name(
        german_scorecard: TrainedScorecard) -> None:
    with pytest.raises(NonNumericValues, match="duration_in_month"):
        german_scorecard.scorecard.score_one({"duration_in_month": "two years"})


def test_the_points_table_lists_every_bin(german_scorecard: TrainedScorecard) -> None:
    card = german_scorecard.scorecard
    table = card.points_table()
    assert table.height == sum(len(f.binning.bins) for f in card.features)
    assert set(table["feature"].unique()) == set(card.names)
    assert table["points"].dtype == pl.Int64


def test_reason_codes_name_the_features_that_cost_most_points(
        german: Dataset, german_scorecard: TrainedScorecard) -> None:
    card = german_scorecard.scorecard
    record = german.frame.row(1, named=True)   # a bad loan: 48 months, low checking balance
    reasons = card.reasons(record, top=3)
    assert len(reasons) == 3
    lost = [r.points_lost for r in reasons]
    assert lost == sorted(lost, reverse=True)
    for reason in reasons:
        scored = next(f for f in card.features if f.feature.name == reason.feature)
        index = scored.binning.bin_indices(np.array(
            [record[reason.feature]], dtype=float if scored.feature.kind == "numeric"
            else object))[0]
        assert reason.points_lost == scored.best_points - scored.points[index]
        assert reason.bin == scored.binning.bins[index].label
        assert f"cost {reason.points_lost} points" in reason.text_en
        assert f"扣减 {reason.points_lost} 分" in reason.text_zh
    # every other feature cost at most as much as the last reason given
    others = [f.best_points - f.points[f.binning.bin_indices(np.array(
        [record[f.feature.name]], dtype=float if f.feature.kind == "numeric"
        else object))[0]] for f in card.features
        if f.feature.name not in {r.feature for r in reasons}]
    assert max(others) <= lost[-1]


def test_a_record_in_the_best_bin_of_every_feature_has_no_reasons(
        german_scorecard: TrainedScorecard) -> None:
    card = german_scorecard.scorecard
    best: dict[str, object] = {}
    for scored in card.features:
        index = scored.points.index(scored.best_points)
        if scored.feature.kind == "numeric":
            splits = [-math.inf, *scored.binning.splits, math.inf]
            best[scored.feature.name] = (splits[index + 1] - 1e-6 if index < len(splits) - 2
                                         else splits[index] + 1)
        else:
            best[scored.feature.name] = scored.binning.groups[index][0]
    assert card.reasons(best) == []
    assert card.score_one(best) == sum(f.best_points for f in card.features)


# ---------------------------------------------------------------------------- training

def suppressed(n: int, seed: int = 0) -> tuple[pl.DataFrame, FeatureSet]:
    """x2 alone predicts default like x1 (it is x1 plus noise), but given x1 more x2
    means less default: the textbook collinear suppressor. x3 adds its own information,
    noise none."""
    rng = np.random.default_rng(seed)
    x1, x3, noise = rng.normal(size=(3, n))
    x2 = x1 + rng.normal(size=n)
    p = 1 / (1 + np.exp(-(-2.5 + 1.5 * x1 - 0.6 * x2 + 0.5 * x3)))
    frame = pl.DataFrame({"x1": x1, "x2": x2, "x3": x3, "noise": noise,
                          "bad": (rng.random(n) < p).astype(np.int64)})
    return frame, FeatureSet("bad", tuple(Feature(name, Kind.NUMERIC)
                                          for name in ("x1", "x2", "x3", "noise")))


def test_a_feature_whose_points_would_run_against_its_woe_is_dropped() -> None:
    frame, features = suppressed(20_000)
    trained = train_scorecard(frame, features, ScorecardOptions(C=1.0, woe_prior=0.0))
    assert trained.scorecard.names == ["x1", "x3"]
    assert "sign rule" in trained.selection.dropped["x2"]
    assert all(f.coefficient < 0 for f in trained.scorecard.features)


def test_the_sign_rule_can_be_switched_off() -> None:
    frame, features = suppressed(20_000)
    options = ScorecardOptions(C=1.0, woe_prior=0.0, points_follow_woe=False)
    card = train_scorecard(frame, features, options).scorecard
    coefficients = {f.feature.name: f.coefficient for f in card.features}
    assert coefficients["x1"] < 0 < coefficients["x2"]
    assert against_woe(card) == ["x2"]


def against_woe(card: Scorecard) -> list[str]:
    """Features with a bin worth more points than a bin of higher WOE (a safer bin)."""
    return [f.feature.name for f in card.features
            if any(woe_a < woe_b and points_a > points_b
                   for woe_a, points_a in zip(f.binning.woe, f.points, strict=True)
                   for woe_b, points_b in zip(f.binning.woe, f.points, strict=True))]


def test_every_features_points_follow_its_woe(german: Dataset,
                                              german_scorecard: TrainedScorecard) -> None:
    frame, features = suppressed(20_000, seed=3)
    for card in (train_scorecard(frame, features).scorecard, german_scorecard.scorecard,
                 train_scorecard(german.frame, german.feature_set,
                                 ScorecardOptions(C=100.0, woe_prior=0.0)).scorecard):
        assert against_woe(card) == []
        assert all(f.coefficient < 0 for f in card.features)


@pytest.mark.parametrize("stepwise", [False, True])
def test_the_sign_rule_is_a_constraint_of_the_fit_not_a_refit(stepwise: bool) -> None:
    # the model under the rule is the best model with every coefficient at most 0 over
    # the features the filters keep (x2 held at 0 and dropped): scikit-learn's
    # unconstrained fit of x1 and x3, whose coefficients are inside the bound
    frame, features = suppressed(20_000, seed=4)
    options = ScorecardOptions(C=1.0, woe_prior=0.0,
                               selection=SelectionOptions(stepwise=stepwise))
    trained = train_scorecard(frame, features, options)
    card = trained.scorecard
    assert card.names == ["x1", "x3"]
    # stepwise fits under the rule too, so it never adds x2 for the sign rule to drop
    assert ("stepwise" if stepwise else "sign rule") in trained.selection.dropped["x2"]
    y = frame["bad"].to_numpy()
    woe = np.column_stack([trained.binnings[n].transform(frame[n].to_numpy())
                           for n in card.names])
    theirs = LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-10).fit(woe, y)
    np.testing.assert_allclose([f.coefficient for f in card.features], theirs.coef_[0],
                               atol=1e-6)


@pytest.mark.slow
def test_on_more_rows_than_the_selection_sample_the_final_fit_uses_every_row() -> None:
    # 250,000 rows: the filters and the sign check judge on a 200,000-row sample, the
    # final model must still be the optimum of all the rows, and keep the sign rule
    frame, features = suppressed(250_000, seed=1)
    trained = train_scorecard(frame, features)
    card = trained.scorecard
    assert (trained.C, trained.woe_prior, trained.tuned) == (1.0, 0.0, False)
    assert card.names == ["x1", "x3"]
    y = frame["bad"].to_numpy()
    woe = np.column_stack([trained.binnings[n].transform(frame[n].to_numpy())
                           for n in card.names])
    everything = LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-10).fit(woe, y)
    np.testing.assert_allclose([f.coefficient for f in card.features],
                               everything.coef_[0], atol=1e-5)
    assert card.intercept == pytest.approx(everything.intercept_[0], abs=1e-5)


def test_the_model_card_states_the_bin_sizes_the_rows_resolved_to(
        german_scorecard: TrainedScorecard) -> None:
    card = model_card("german.csv", german_scorecard, None)
    assert "pre-bins of at least 5.00% and bins of at least 2.00% of the rows" in card
    large = replace(german_scorecard, rows=1_000_000, default_rate=0.035)
    assert "pre-bins of at least 0.50% and bins of at least 0.50%" in model_card("x", large,
                                                                                 None)
    fixed = replace(german_scorecard, binning=BinningOptions(min_prebin_size=0.1,
                                                             min_bin_size=0.04))
    text = model_card("x", fixed, None)
    assert "at least 10.00% and bins of at least 4.00%" in text
    assert "as fine as the rows support" not in text


def test_reasons_of_a_whole_frame_equal_each_records_reasons(
        german: Dataset, german_scorecard: TrainedScorecard) -> None:
    card = german_scorecard.scorecard
    frame = german.frame.with_columns(   # some missing values too
        pl.when(pl.int_range(pl.len()) % 7 == 0).then(None)
        .otherwise(pl.col(card.names[0])).alias(card.names[0]))
    for top in (1, 3, 40):
        expected = [card.reasons(row, top) for row in frame.select(card.names)
                    .iter_rows(named=True)]
        assert card.reasons_frame(frame, top) == expected
    assert card.reasons_frame(frame, 0) == [[] for _ in range(frame.height)]


def test_a_categorical_code_scores_alike_from_an_integer_a_float_or_one_record() -> None:
    """pandas writes an integer column with gaps as floats: a tier of 2 trained from
    integers must not become an unseen "2.0" when scored from such a file (or the
    reverse), nor a special value -1 lose its bin."""
    rng = np.random.default_rng(21)
    n = 6000
    tier = rng.choice([-1, 1, 2, 3, 4], n)
    flag = rng.random(n) < 0.4
    p = np.select([tier == -1, tier == 1, tier == 2, tier == 3], [0.5, 0.1, 0.2, 0.3], 0.4)
    y = (rng.random(n) < np.where(flag, p + 0.1, p)).astype(np.int64)
    features = FeatureSet("bad", (
        Feature("tier", Kind.CATEGORICAL, special_values={-1: "no tier"}),
        Feature("flag", Kind.CATEGORICAL)))
    as_int = pl.DataFrame({"tier": tier, "flag": flag, "bad": y})
    as_float = as_int.with_columns(pl.col("tier").cast(pl.Float64),
                                   pl.col("flag").cast(pl.String))
    card = train_scorecard(as_int, features, ScorecardOptions(C=1.0, woe_prior=0.0)).scorecard
    from_float = train_scorecard(as_float, features,
                                 ScorecardOptions(C=1.0, woe_prior=0.0)).scorecard
    expected = card.score_frame(as_int)
    assert expected.tolist() == card.score_frame(as_float).tolist()
    assert expected.tolist() == from_float.score_frame(as_int).tolist()
    tier_bins = next(f.binning for f in card.features if f.feature.name == "tier")
    assert tier_bins.bins[tier_bins.n_regular].label == "-1 no tier"
    assert tier_bins.bins[tier_bins.n_regular].count == int((tier == -1).sum())
    for record in ({"tier": 2, "flag": True}, {"tier": 2.0, "flag": "true"},
                   {"tier": np.int64(2), "flag": np.bool_(True)}, {"tier": "2", "flag": True}):
        assert card.score_one(record) == card.score_one({"tier": 2, "flag": True})
    assert card.score_one({"tier": -1.0, "flag": False}) == card.score_one(
        {"tier": -1, "flag": False})
    assert card.score_one({"tier": float("nan"), "flag": None}) == card.score_one({})


def test_an_empty_text_is_a_missing_value_in_every_way_of_scoring(uci: Dataset) -> None:
    """A CSV's empty field is read as missing; a Parquet file keeps the empty text, which
    must not be scored as a category never seen (UCI's education pools its rare codes,
    whose points differ from the missing bin's)."""
    card = train_scorecard(uci.frame, uci.feature_set,
                           ScorecardOptions(C=1.0, woe_prior=0.0,
                                            selection=SelectionOptions(min_iv=0.0))).scorecard
    education = next(f for f in card.features if f.feature.name == "EDUCATION")
    assert education.binning.unseen is not None
    assert education.points[education.binning.unseen] != education.points[-1]
    row = uci.frame.head(1).with_columns(pl.lit("").alias("EDUCATION"))
    expected = card.score_one({**uci.frame.head(1).to_dicts()[0], "EDUCATION": None})
    assert card.score_frame(row).tolist() == [expected]
    assert card.score_one(row.to_dicts()[0]) == expected
