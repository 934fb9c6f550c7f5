"""Data a model cannot learn from is refused with errors that name the column, all at once."""

from __future__ import annotations

import polars as pl
import pytest

from lendguard.errors import (
    ConstantTarget,
    InvalidTarget,
    ManyDataProblems,
    MissingTargetValues,
    NonNumericValues,
    TooFewRows,
    UnknownColumn,
)
from lendguard.risk.features import Feature, FeatureSet, Kind, infer_feature_set
from lendguard.risk.scorecard import train_scorecard

FEATURES = FeatureSet("bad", (Feature("income", Kind.NUMERIC), Feature("city", Kind.CATEGORICAL)))


def frame(**overrides: list[object]) -> pl.DataFrame:
    """Twenty applications, half of them defaulted; ``overrides`` replace the first rows."""
    columns: dict[str, list[object]] = {"income": [float(i) for i in range(20)],
                                        "city": ["a", "b"] * 10, "bad": [0, 1] * 10}
    for name, values in overrides.items():
        columns[name] = values + columns[name][len(values):]
    return pl.DataFrame(columns, strict=False)


def test_an_unknown_column_is_named() -> None:
    with pytest.raises(UnknownColumn, match="'income'") as caught:
        train_scorecard(frame().drop("income"), FEATURES)
    assert caught.value.column == "income"


def test_an_unknown_target_is_named() -> None:
    with pytest.raises(UnknownColumn, match="'defaulted'"):
        infer_feature_set(frame(), "defaulted")


def test_a_constant_target_is_named() -> None:
    with pytest.raises(ConstantTarget, match="'bad'") as caught:
        train_scorecard(frame(bad=[0] * 20), FEATURES)
    assert caught.value.column == "bad"


def test_missing_target_values_are_counted_and_named() -> None:
    with pytest.raises(MissingTargetValues, match="'bad' has 2 missing"):
        train_scorecard(frame(bad=[0, None, 1, None]), FEATURES)


def test_a_target_that_is_not_0_1_is_named() -> None:
    with pytest.raises(InvalidTarget, match="'bad'"):
        train_scorecard(frame(bad=["good", "bad"] * 10), FEATURES)


def test_non_numeric_values_in_a_numeric_feature_are_named_with_examples() -> None:
    with pytest.raises(NonNumericValues, match=r"'income'.*'lots'") as caught:
        train_scorecard(frame(income=["1.5", "lots", "3", ""]), FEATURES)
    assert caught.value.column == "income"


def test_too_few_defaulters_are_refused() -> None:
    with pytest.raises(TooFewRows, match="'bad' has 3 defaulter"):
        train_scorecard(frame(bad=[1, 1, 1] + [0] * 17), FEATURES)


def test_numbers_written_as_text_are_accepted() -> None:
    income = [str(i) for i in range(20)]
    income[:2] = [" 3 ", ""]
    trained = train_scorecard(frame(income=income), FEATURES)
    assert trained.rows == 20


def test_every_problem_is_reported_at_once() -> None:
    bad = frame(income=["x", "2", "3", "4"], bad=[0, None, 1, 1]).drop("city")
    with pytest.raises(ManyDataProblems) as caught:
        train_scorecard(bad, FEATURES)
    assert [p.column for p in caught.value.problems] == ["income", "city", "bad"]
    assert [type(p) for p in caught.value.problems] == [NonNumericValues, UnknownColumn,
                                                        MissingTargetValues]
