"""Data a model cannot learn from is refused with errors that name the column, all at once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from lendguard.errors import (
    ConstantTarget,
    InvalidCommand,
    InvalidTarget,
    ManyDataProblems,
    MissingTargetValues,
    NoFeatureKept,
    NonNumericValues,
    TooFewRows,
    UnknownColumn,
    UnsupportedColumnType,
)
from lendguard.risk.features import Feature, FeatureSet, Kind, binary_target, infer_feature_set
from lendguard.risk.scorecard import train_scorecard
from lendguard.risk.training import SCHEMA_ROWS, read_table

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


@pytest.mark.parametrize(("values", "bad_value"), [
    (["good", "bad"] * 10, "bad"), ([1, 2] * 10, "2"), ([1.0, 2.0] * 10, "2"),
    ([" no", "yes "] * 10, "yes"), ([False, True] * 10, "true"), ([0, 1] * 10, "1")])
def test_a_target_named_by_its_bad_value_is_read_as_0_1(values: list[object],
                                                         bad_value: str) -> None:
    recoded = binary_target(frame(bad=values), "bad", bad_value)
    assert recoded["bad"].to_list() == [0, 1] * 10
    assert recoded.drop("bad").equals(frame().drop("bad"))


def test_a_bad_value_keeps_missing_targets_missing_for_the_usual_refusal() -> None:
    recoded = binary_target(frame(bad=["good", None, "bad", None] + ["good", "bad"] * 8),
                            "bad", "bad")
    with pytest.raises(MissingTargetValues, match="'bad' has 2 missing"):
        train_scorecard(recoded, FEATURES)


@pytest.mark.parametrize(("values", "bad_value", "message"), [
    (["good", "bad", "unknown", "bad"] * 5, "bad", r"holds 3 values.*'unknown'"),
    (["good", "bad"] * 10, "Bad", r"'Bad' does not occur.*\['bad', 'good'\]"),
    ([1, 2] * 10, "two", "'two' is not a number"),
    ([1, 2] * 10, "3", "'3' does not occur")])
def test_a_bad_value_that_cannot_split_the_target_in_two_is_refused(
        values: list[object], bad_value: str, message: str) -> None:
    with pytest.raises(InvalidTarget, match=message) as caught:
        binary_target(frame(bad=values), "bad", bad_value)
    assert caught.value.column == "bad"


def test_a_target_that_is_not_0_1_points_at_bad_value() -> None:
    with pytest.raises(InvalidTarget, match="--bad-value"):
        train_scorecard(frame(bad=[1, 2] * 10), FEATURES)


def test_a_scorecard_with_no_feature_left_is_refused_with_every_reason() -> None:
    rng = np.random.default_rng(5)
    n = 20_000
    noise = pl.DataFrame({"income": rng.normal(size=n), "city": rng.choice(["a", "b"], n),
                          "bad": (rng.random(n) < 0.3).astype(np.int64)})
    with pytest.raises(NoFeatureKept, match=r"'bad'.*income: IV .*city: IV") as caught:
        train_scorecard(noise, FEATURES)
    assert caught.value.column == "bad"


def test_csv_markers_of_missing_values_keep_a_numeric_column_numeric(tmp_path: Path) -> None:
    path = tmp_path / "apps.csv"
    path.write_text("income,city,bad\n1200,NA,0\nNA,b,1\nN/A,a,0\n#N/A,a,1\n3.5,NULL,0\n")
    table = read_table(path)
    assert table["income"].dtype == pl.Float64
    assert table["income"].to_list() == [1200.0, None, None, None, 3.5]
    assert table["city"].to_list() == [None, "b", "a", "a", None]


def test_a_csv_whose_types_change_after_the_first_rows_is_read_whole(tmp_path: Path) -> None:
    rows = [str(i % 90) for i in range(SCHEMA_ROWS + 500)] + ["7.25", "NA"]
    path = tmp_path / "late.csv"
    path.write_text("income\n" + "\n".join(rows) + "\n")
    table = read_table(path)
    assert table["income"].dtype == pl.Float64
    assert table.height == len(rows)
    assert table["income"].to_list()[-2:] == [7.25, None]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("empty.csv", b"", "the file is empty"),
    ("broken.parquet", b"not parquet at all", "cannot be read as parquet"),
    ("quoted.csv", b'a,b\n1,"2\n', "cannot be read as csv"),
    ("apps.xlsx", b"PK", "must be .csv or .parquet")])
def test_a_file_that_cannot_be_read_is_refused_by_name(tmp_path: Path, name: str,
                                                       content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InvalidCommand, match=message):
        read_table(path)


def test_a_column_of_lists_is_refused_by_name_with_what_to_do() -> None:
    nested = frame().with_columns(pl.Series("tags", [[1, 2]] * 20))
    features = FeatureSet("bad", (*FEATURES.features, Feature("tags", Kind.CATEGORICAL)))
    with pytest.raises(UnsupportedColumnType, match=r"'tags' holds List.*--exclude tags"):
        train_scorecard(nested, features)
    with pytest.raises(UnsupportedColumnType):
        train_scorecard(nested, infer_feature_set(nested, "bad"))
