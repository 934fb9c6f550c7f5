"""``lendguard train`` and ``lendguard score`` end to end, and their refusals."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from lendguard.cli import app
from lendguard.risk.datasets import Dataset

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


def test_train_then_score_a_parquet_file(tmp_path: Path, uci: Dataset) -> None:
    data = tmp_path / "uci.parquet"
    uci.frame.write_parquet(data)
    code, out = run("train", "--data", str(data), "--target", "default", "--out",
                    str(tmp_path / "model"), "--model", "both", "--cv", "3")
    assert code == 0, out
    assert "scorecard: 3-fold cross-validated AUC" in out
    assert "lightgbm: 3-fold cross-validated AUC" in out
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    assert manifest["kind"] == "both"
    card = (tmp_path / "model" / "model_card.md").read_text()
    assert "cross-validated AUC" in card and "Monotone constraints" in card

    code, out = run("score", "--model", str(tmp_path / "model"), "--data", str(data),
                    "--out", str(tmp_path / "scored.csv"), "--reasons", "2")
    assert code == 0, out
    scored = pl.read_csv(tmp_path / "scored.csv")
    assert scored.height == 6000
    assert {"score", "pd", "pd_challenger", "reason_1", "reason_2"} <= set(scored.columns)
    assert scored["model_version"].unique().to_list() == [manifest["model_version"]]


def test_train_a_scorecard_from_csv(tmp_path: Path, german: Dataset) -> None:
    data = tmp_path / "german.csv"
    german.frame.write_csv(data)
    code, out = run("train", "--data", str(data), "--target", "creditability", "--out",
                    str(tmp_path / "model"), "--model", "scorecard")
    assert code == 0, out
    assert "PDO 20" in out
    assert not (tmp_path / "model" / "challenger.txt").exists()
    assert "CASE" in (tmp_path / "model" / "scorecard.sql").read_text()


def test_a_tampered_model_is_refused_and_nothing_is_written(tmp_path: Path,
                                                             german: Dataset) -> None:
    data = tmp_path / "german.csv"
    german.frame.write_csv(data)
    assert run("train", "--data", str(data), "--target", "creditability", "--out",
               str(tmp_path / "model"), "--model", "scorecard")[0] == 0
    sql = tmp_path / "model" / "scorecard.sql"
    sql.write_text(sql.read_text().replace("THEN", "THEN 1 +", 1))
    code, out = run("score", "--model", str(tmp_path / "model"), "--data", str(data),
                    "--out", str(tmp_path / "scored.csv"))
    assert code == 2
    assert "artefact_tampered" in out and "scorecard.sql" in out
    assert not (tmp_path / "scored.csv").exists()


def test_bad_training_data_is_refused_naming_the_column(tmp_path: Path) -> None:
    data = tmp_path / "bad.csv"
    pl.DataFrame({"income": list(range(40)), "bad": [0, 1, None, 1] * 10}).write_csv(data)
    code, out = run("train", "--data", str(data), "--target", "bad", "--out",
                    str(tmp_path / "model"))
    assert code == 2
    assert "missing_target_values" in out and "'bad' has 10 missing" in out
    code, out = run("train", "--data", str(data), "--target", "defaulted", "--out",
                    str(tmp_path / "model"))
    assert code == 2
    assert "unknown_column" in out and "'defaulted'" in out
    assert not (tmp_path / "model").exists()


def test_from_db_needs_an_existing_store(tmp_path: Path) -> None:
    """(Training from the log itself is tested in test_behaviour_cli.)"""
    code, out = run("train", "--from-db", str(tmp_path / "l.db"), "--as-of", "2026-03-31",
                    "--target", "bad", "--out", str(tmp_path / "model"))
    assert code == 2
    assert "no event store at" in out
    assert list(tmp_path.iterdir()) == []


def test_one_data_source_exactly(tmp_path: Path) -> None:
    code, out = run("train", "--target", "bad", "--out", str(tmp_path / "model"))
    assert code == 2
    assert "exactly one of --data or --from-db" in out


def test_train_and_validate_read_a_good_bad_target_with_bad_value(tmp_path: Path,
                                                                  german: Dataset) -> None:
    data = tmp_path / "german.csv"
    german.frame.with_columns(
        pl.when(pl.col("creditability") == 1).then(pl.lit("bad")).otherwise(pl.lit("good"))
        .alias("creditability")).write_csv(data)
    code, out = run("train", "--data", str(data), "--target", "creditability", "--out",
                    str(tmp_path / "model"), "--model", "scorecard")
    assert code == 2 and "--bad-value" in out
    assert not (tmp_path / "model").exists()
    code, out = run("train", "--data", str(data), "--target", "creditability", "--out",
                    str(tmp_path / "model"), "--model", "scorecard", "--bad-value", "bad")
    assert code == 0, out
    card = (tmp_path / "model" / "model_card.md").read_text()
    assert "'bad' counted as a default (1)" in card
    as_01 = tmp_path / "german01.csv"
    german.frame.write_csv(as_01)
    assert run("train", "--data", str(as_01), "--target", "creditability", "--out",
               str(tmp_path / "model01"), "--model", "scorecard")[0] == 0
    same = json.loads((tmp_path / "model" / "scorecard.json").read_text())
    assert same == json.loads((tmp_path / "model01" / "scorecard.json").read_text())

    code, out = run("validate", "--model", str(tmp_path / "model"), "--data", str(data),
                    "--target", "creditability", "--bad-value", "bad", "--out",
                    str(tmp_path / "report"), "--bootstrap", "50")
    assert code == 0, out
    numbers = json.loads((tmp_path / "report" / "validation.json").read_text())
    assert numbers["samples"]["development"]["bads"] == 300


def test_an_identifier_and_a_date_column_do_not_become_features(tmp_path: Path,
                                                                german: Dataset) -> None:
    """Each category of a row or three: ordered by its sample default rate, a customer id
    or an application date would be the strongest feature of all (IV 2.7 for the date
    before rare categories were pooled)."""
    data = tmp_path / "german.csv"
    n = german.frame.height
    german.frame.with_columns(
        pl.Series("customer_id", [f"C{i:06d}" for i in range(n)]),
        pl.Series("applied_on", [date(2024, 1, 1) + timedelta(days=i * 37 % 366)
                                 for i in range(n)])).write_csv(data)
    code, out = run("train", "--data", str(data), "--target", "creditability", "--out",
                    str(tmp_path / "model"), "--model", "scorecard")
    assert code == 0, out
    card = (tmp_path / "model" / "model_card.md").read_text()
    assert "- customer_id: IV 0.0000" in card
    assert "- applied_on: IV 0.0000" in card


def test_a_number_of_folds_the_data_cannot_take_is_refused_before_any_work(
        tmp_path: Path) -> None:
    data = tmp_path / "few.csv"
    rows = 9 * [1] + 300 * [0]
    pl.DataFrame({"income": [float(i % 37) for i in range(len(rows))],
                  "bad": rows}).write_csv(data)
    for folds, message in (("1", "--cv must be 0 (no cross-validation) or at least 2"),
                           ("-3", "at least 2, got -3"),
                           ("10", "--cv 10: the rarer outcome has 9 rows"),
                           ("5", "--cv 5: a training fold would hold 7 rows of the rarer "
                                 "outcome (9 in all)")):
        code, out = run("train", "--data", str(data), "--target", "bad", "--out",
                        str(tmp_path / "model"), "--cv", folds)
        assert code == 2, out
        assert "invalid_command" in out and message in out
        assert not (tmp_path / "model").exists()


def test_decimal_categorical_and_timestamp_columns_train_and_score(tmp_path: Path,
                                                                   german: Dataset) -> None:
    """Parquet from a database or from pandas: amounts as decimals, categories as a
    categorical type, a timestamp that must not become a feature."""
    data = tmp_path / "typed.parquet"
    n = german.frame.height
    german.frame.with_columns(
        pl.col("credit_amount").cast(pl.Decimal(12, 2)),
        pl.col("purpose").cast(pl.Categorical),
        pl.Series("applied_at", [datetime(2024, 1, 1) + timedelta(minutes=i * 997)
                                 for i in range(n)])).write_parquet(data)
    code, out = run("train", "--data", str(data), "--target", "creditability", "--out",
                    str(tmp_path / "model"))
    assert code == 0, out
    card = (tmp_path / "model" / "model_card.md").read_text()
    assert "| credit_amount |" in card and "| purpose |" in card
    assert "- applied_at: IV 0.0000" in card
    code, out = run("score", "--model", str(tmp_path / "model"), "--data", str(data),
                    "--out", str(tmp_path / "scored.parquet"))
    assert code == 0, out
    assert pl.read_parquet(tmp_path / "scored.parquet")["score"].null_count() == 0
