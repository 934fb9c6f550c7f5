"""The challenger: constraints from the binning trends, a calibrated PD, and reason codes
from LightGBM's feature contributions."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from lendguard.errors import NoFeatureKept
from lendguard.risk.binning import BinningOptions, FeatureBinning, fit_feature, trend_p_value
from lendguard.risk.challenger import (
    Challenger,
    booster_names,
    choose_calibration,
    monotone_constraints,
    train_challenger,
)
from lendguard.risk.datasets import Dataset
from lendguard.risk.features import Feature, FeatureSet, Kind
from lendguard.risk.scorecard import TrainedScorecard


def test_constraints_follow_the_binning_trends(german: Dataset,
                                               german_scorecard: TrainedScorecard) -> None:
    binnings = german_scorecard.binnings
    constraints = monotone_constraints(german.feature_set, binnings)
    for feature, constraint in zip(german.feature_set.features, constraints, strict=True):
        binning = binnings[feature.name]
        if trend_p_value(binning) >= 0.05:
            assert constraint == 0    # the data cannot tell this "trend" from flat
        elif feature.kind is Kind.CATEGORICAL:
            assert constraint == -1   # entered as WOE: a higher WOE is a safer bin
        else:
            assert constraint == {"ascending": 1, "descending": -1}.get(binning.trend, 0)
    by_name = dict(zip(german.feature_set.names, constraints, strict=True))
    # duration: longer loans default more, so the challenger may only rise with it
    assert by_name["duration_in_month"] == 1
    assert by_name["age_in_years"] == -1
    assert by_name["status_of_existing_checking_account"] == -1
    # years at present residence: 27.7% default under 2 years, 30.3% from 2 on, p = 0.54
    assert binnings["present_residence_since"].trend == "ascending"
    assert by_name["present_residence_since"] == 0


def noise_and_weak_trend(trend: str) -> tuple[FeatureSet, dict[str, FeatureBinning]]:
    """One feature whose two values default at 30% and 32% (100 rows each)."""
    x = np.array([0.0] * 100 + [1.0] * 100)
    y = np.array([1] * 30 + [0] * 70 + [1] * 32 + [0] * 68, dtype=np.int64)
    feature = Feature("x", Kind.NUMERIC, trend=trend)
    binning = fit_feature(feature, x, y, BinningOptions(min_prebin_size=0.1))
    assert binning.trend == "ascending" and trend_p_value(binning) > 0.5
    return FeatureSet("y", (feature,)), {"x": binning}


def test_an_inferred_trend_chance_explains_is_no_constraint() -> None:
    assert monotone_constraints(*noise_and_weak_trend("auto")) == [0]
    # ...unless the level says every inferred trend counts
    assert monotone_constraints(*noise_and_weak_trend("auto"), level=1.01) == [1]


def test_a_declared_trend_always_constrains() -> None:
    # a trend the modeller declared is a rule, however little this sample shows of it
    assert monotone_constraints(*noise_and_weak_trend("ascending")) == [1]


def test_special_values_leave_a_feature_unconstrained() -> None:
    rng = np.random.default_rng(1)
    x = rng.random(3000)
    y = (rng.random(3000) < 0.1 + 0.3 * x).astype(np.int64)
    feature = Feature("x", Kind.NUMERIC, special_values={-1: "no file"})
    binning = fit_feature(feature, x, y)
    assert binning.trend == "ascending"
    assert monotone_constraints(FeatureSet("y", (feature,)), {"x": binning}) == [0]


def test_the_pd_never_falls_as_a_risk_raising_feature_grows(
        german: Dataset, german_challenger: Challenger) -> None:
    rows = german.frame.head(40)
    pds = [german_challenger.probability_of_default(
        rows.with_columns(pl.lit(months).alias("duration_in_month")))
        for months in (6, 12, 24, 36, 48, 60)]
    assert np.all(np.diff(np.vstack(pds), axis=0) >= -1e-12)


def test_the_pd_is_calibrated_on_held_out_data(german: Dataset,
                                               german_challenger: Challenger) -> None:
    pd_ = german_challenger.probability_of_default(german.frame)
    assert np.all((pd_ > 0) & (pd_ < 1))
    assert abs(pd_.mean() - 0.3) < 0.03
    losses = german_challenger.calibration_losses
    assert set(losses) == {"isotonic", "platt"}
    assert german_challenger.calibration.method == min(losses, key=lambda m: losses[m])
    assert german_challenger.rounds > 0


def test_isotonic_wins_when_the_raw_score_is_not_a_sigmoid() -> None:
    rng = np.random.default_rng(0)
    raw = rng.normal(size=20_000)
    # the true PD is a step in the raw score, which no sigmoid fits
    y = (rng.random(20_000) < np.where(raw > 0.5, 0.6, 0.05)).astype(np.int64)
    calibration, losses = choose_calibration(raw, y, seed=0)
    assert calibration.method == "isotonic"
    assert losses["isotonic"] < losses["platt"]


def test_reason_codes_are_the_largest_risk_raising_contributions(
        german: Dataset, german_challenger: Challenger) -> None:
    rows = german.frame.head(5)
    contributions = german_challenger.booster.predict(german_challenger.matrix(rows),
                                                      pred_contrib=True)
    for row, reasons in enumerate(german_challenger.reasons(rows, top=3)):
        contrib = contributions[row, :-1]
        expected = [german.feature_set.names[i] for i in np.argsort(-contrib)[:3]
                    if contrib[i] > 0]
        assert [r.feature for r in reasons] == expected
        for reason in reasons:
            assert reason.contribution > 0
            assert "raised the risk of default" in reason.text_en
            assert "提高了违约风险" in reason.text_zh


def test_the_challenger_reads_a_categorical_code_alike_from_integers_and_floats(
        uci: Dataset) -> None:
    """UCI's EDUCATION and MARRIAGE are codes held as categories: a file that carries them
    as floats (pandas with a gap) must get the same PDs."""
    frame = uci.frame.head(3000).with_columns(pl.col("EDUCATION").cast(pl.Int64),
                                              pl.col("MARRIAGE").cast(pl.Int64))
    challenger = train_challenger(frame, uci.feature_set)
    as_float = frame.with_columns(pl.col("EDUCATION").cast(pl.Float64),
                                  pl.col("MARRIAGE").cast(pl.Float64))
    assert np.array_equal(challenger.probability_of_default(frame),
                          challenger.probability_of_default(as_float))


def test_column_names_lightgbm_refuses_still_train_and_explain(german: Dataset) -> None:
    """LightGBM refuses JSON's special characters in feature names; a file's column names
    are whatever its author chose."""
    renamed = {"duration_in_month": "duration [months]", "credit_amount": 'debt:income, "x"',
               "age_in_years": "年龄 {岁}"}
    frame = german.frame.rename(renamed)
    features = FeatureSet(german.feature_set.target, tuple(
        Feature(renamed.get(f.name, f.name), f.kind, f.description, f.description_zh)
        for f in german.feature_set.features))
    challenger = train_challenger(frame, features)
    assert challenger.booster.num_feature() == len(features.features)
    reasons = challenger.reasons(frame.head(50), top=3)
    named = {r.feature for row in reasons for r in row}
    assert named & set(renamed.values())
    assert booster_names(["a b", "a_b", "x[1]", ""]) == ["a_b", "a_b_2", "x_1_", "_"]


def test_an_id_column_is_left_out_of_the_challenger_as_if_it_were_not_there(
        german: Dataset) -> None:
    frame = german.frame.with_columns(
        pl.Series("customer_id", [f"C{i:05d}" for i in range(german.frame.height)]))
    features = FeatureSet(german.feature_set.target, (
        *german.feature_set.features, Feature("customer_id", Kind.CATEGORICAL)))
    with_id = train_challenger(frame, features)
    without = train_challenger(german.frame, german.feature_set)
    assert with_id.left_out == ("customer_id",)
    assert "customer_id" not in with_id.encodings
    assert with_id.feature_set == without.feature_set
    assert np.array_equal(with_id.probability_of_default(frame),
                          without.probability_of_default(german.frame))


def test_the_challenger_encodes_an_unseen_category_as_its_rare_pool(uci: Dataset) -> None:
    """As the scorecard scores it: a value never seen is rarer than the pooled ones.
    A missing value stays NaN, LightGBM's own branch."""
    challenger = train_challenger(uci.frame.head(3000), uci.feature_set)
    assert "EDUCATION" in challenger.unseen
    rows = uci.frame.head(3).with_columns(pl.Series("EDUCATION", ["9", None, "2"]))
    column = challenger.feature_set.names.index("EDUCATION")
    encoded = challenger.matrix(rows)[:, column]
    assert encoded[0] == challenger.unseen["EDUCATION"]
    assert np.isnan(encoded[1])
    assert encoded[2] == challenger.encodings["EDUCATION"]["2"]
    pooled = [v for v, w in challenger.encodings["EDUCATION"].items()
              if w == challenger.unseen["EDUCATION"]]
    assert pooled and "2" not in pooled


def test_a_challenger_with_nothing_to_split_on_is_refused() -> None:
    rng = np.random.default_rng(3)
    frame = pl.DataFrame({"customer_id": [f"C{i}" for i in range(500)],
                          "bad": (rng.random(500) < 0.3).astype(np.int64)})
    features = FeatureSet("bad", (Feature("customer_id", Kind.CATEGORICAL),))
    with pytest.raises(NoFeatureKept, match="customer_id: every value encodes to one WOE"):
        train_challenger(frame, features)
