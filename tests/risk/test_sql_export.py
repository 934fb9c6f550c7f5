"""The exported SQL scores a table inside SQLite and PostgreSQL exactly as Python does,
including missing values, special values, unseen categories and values on the cut points."""

from __future__ import annotations

import math
import os
import sqlite3
import uuid
from collections.abc import Iterator

import numpy as np
import polars as pl
import psycopg
import pytest
from psycopg import sql

from lendguard.risk.artefact import scorecard_sql
from lendguard.risk.datasets import Dataset
from lendguard.risk.features import Feature, FeatureSet, Kind
from lendguard.risk.scorecard import Scorecard, ScorecardOptions, train_scorecard
from lendguard.risk.selection import SelectionOptions

PG_URL = os.environ.get("LENDGUARD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="module")
def card_and_rows(uci: Dataset) -> tuple[Scorecard, pl.DataFrame]:
    """A scorecard with a special value (a zero bill: no statement yet), and rows to score:
    the data, rows exactly on every cut point, specials, missing and unseen values."""
    features = tuple(Feature(f.name, f.kind, f.description, f.description_zh,
                             {0: "no statement"} if f.name == "BILL_AMT1" else {})
                     for f in uci.feature_set.features)
    feature_set = FeatureSet("default", features)
    frame = uci.frame.with_columns(
        pl.when(pl.int_range(pl.len()) % 17 == 0).then(None).otherwise(pl.col("LIMIT_BAL"))
        .alias("LIMIT_BAL"))
    options = ScorecardOptions(C=1.0, woe_prior=0.0, selection=SelectionOptions(min_iv=0.0))
    card = train_scorecard(frame, feature_set, options).scorecard
    assert card.names == feature_set.names
    edges: list[dict[str, object]] = []
    for scored in card.features:
        for cut in scored.binning.splits:
            for value in (cut, math.nextafter(cut, -math.inf)):
                edges.append({scored.feature.name: value})
    odd = [{"EDUCATION": "9", "MARRIAGE": None, "LIMIT_BAL": None, "BILL_AMT1": 0.0},
           {"EDUCATION": None, "MARRIAGE": "7", "LIMIT_BAL": -5.0, "BILL_AMT1": None},
           {"EDUCATION": "", "MARRIAGE": "", "LIMIT_BAL": 1.0, "BILL_AMT1": 1.0},
           {"EDUCATION": "1", "MARRIAGE": "1", "LIMIT_BAL": math.nan, "BILL_AMT1": math.nan}]
    extra = pl.DataFrame(edges + odd, schema={n: frame.schema[n] for n in card.names})
    rows = pl.concat([frame.select(card.names), extra]).with_row_index("id")
    return card, rows


def test_the_exported_sql_has_one_case_per_feature(
        card_and_rows: tuple[Scorecard, pl.DataFrame]) -> None:
    card, _ = card_and_rows
    text = scorecard_sql(card, "applications", key="id")
    assert text.count("CASE ") == len(card.features)
    assert '"BILL_AMT1" = 0.0 THEN' in text


def test_sqlite_scores_equal_python_scores(card_and_rows: tuple[Scorecard, pl.DataFrame]
                                          ) -> None:
    card, rows = card_and_rows
    with sqlite3.connect(":memory:") as conn:
        conn.execute('CREATE TABLE applications (id INTEGER, "EDUCATION" TEXT, '
                     '"MARRIAGE" TEXT, "LIMIT_BAL" REAL, "BILL_AMT1" REAL)')
        conn.executemany("INSERT INTO applications VALUES (?, ?, ?, ?, ?)", rows.rows())
        scored = dict(conn.execute(scorecard_sql(card, "applications", key="id")).fetchall())
    python = card.score_frame(rows)
    assert [scored[i] for i in range(rows.height)] == python.tolist()
    assert len(np.unique(python)) > 20


def as_numbers(rows: pl.DataFrame) -> list[tuple[object, ...]]:
    """The rows with the category codes as numbers: EDUCATION a float, MARRIAGE an int
    (an empty text becomes NULL, as it is missing in Python)."""
    return rows.with_columns(pl.col("EDUCATION").cast(pl.Float64, strict=False),
                             pl.col("MARRIAGE").cast(pl.Int64, strict=False)).rows()


def test_sqlite_scores_category_codes_stored_as_numbers_as_python_does(
        card_and_rows: tuple[Scorecard, pl.DataFrame]) -> None:
    """A category code in a REAL column casts to '2.0' in SQLite: the SQL knows it as '2'."""
    card, rows = card_and_rows
    with sqlite3.connect(":memory:") as conn:
        conn.execute('CREATE TABLE applications (id INTEGER, "EDUCATION" REAL, '
                     '"MARRIAGE" INTEGER, "LIMIT_BAL" REAL, "BILL_AMT1" REAL)')
        conn.executemany("INSERT INTO applications VALUES (?, ?, ?, ?, ?)", as_numbers(rows))
        scored = dict(conn.execute(scorecard_sql(card, "applications", key="id")).fetchall())
    assert [scored[i] for i in range(rows.height)] == card.score_frame(rows).tolist()
    assert "'2', '2.0'" in scorecard_sql(card)


@pytest.fixture
def pg_schema() -> Iterator[str]:
    schema = f"lg_risk_{uuid.uuid4().hex[:12]}"
    try:
        yield schema
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE")
                          .format(sql.Identifier(schema)))


def postgres_scores(schema: str, columns: str, rows: list[tuple[object, ...]],
                    query: str) -> dict[object, int]:
    """``query``'s (id, score) pairs over a fresh ``applications`` table in ``schema``."""
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        conn.execute(f"CREATE TABLE applications ({columns})".encode())
        with conn.cursor() as cursor:
            marks = ", ".join(["%s"] * len(rows[0]))
            cursor.executemany(f"INSERT INTO applications VALUES ({marks})".encode(), rows)
            cursor.execute(query.encode())
            return dict(cursor.fetchall())


@pytest.mark.postgres
def test_postgresql_scores_equal_python_scores(card_and_rows: tuple[Scorecard, pl.DataFrame],
                                               pg_schema: str) -> None:
    card, rows = card_and_rows
    scored = postgres_scores(pg_schema, 'id INTEGER, "EDUCATION" TEXT, "MARRIAGE" TEXT, '
                             '"LIMIT_BAL" DOUBLE PRECISION, "BILL_AMT1" DOUBLE PRECISION',
                             rows.rows(), scorecard_sql(card, "applications", key="id"))
    python = card.score_frame(rows)
    assert [scored[i] for i in range(rows.height)] == python.tolist()


@pytest.mark.postgres
def test_postgresql_scores_category_codes_stored_as_numbers_as_python_does(
        card_and_rows: tuple[Scorecard, pl.DataFrame], pg_schema: str) -> None:
    card, rows = card_and_rows
    scored = postgres_scores(pg_schema, 'id INTEGER, "EDUCATION" NUMERIC(4, 1), "MARRIAGE" '
                             'BIGINT, "LIMIT_BAL" DOUBLE PRECISION, "BILL_AMT1" DOUBLE PRECISION',
                             as_numbers(rows), scorecard_sql(card, "applications", key="id"))
    assert [scored[i] for i in range(rows.height)] == card.score_frame(rows).tolist()


@pytest.mark.postgres
def test_a_boolean_feature_scores_alike_in_python_sqlite_and_postgresql(pg_schema: str) -> None:
    """SQLite keeps a boolean as 1/0, PostgreSQL as a boolean that casts to 'true'."""
    rng = np.random.default_rng(2)
    flag = rng.random(4000) < 0.4
    frame = pl.DataFrame({"flag": flag,
                          "bad": (rng.random(4000) < np.where(flag, 0.4, 0.2)).astype(int)})
    card = train_scorecard(frame, FeatureSet("bad", (Feature("flag", Kind.CATEGORICAL),)),
                           ScorecardOptions(C=1.0, woe_prior=0.0)).scorecard
    rows = pl.DataFrame({"flag": [True, False, None]}).with_row_index("id")
    python = card.score_frame(rows).tolist()
    assert python[0] != python[1]
    with sqlite3.connect(":memory:") as lite:
        lite.execute("CREATE TABLE applications (id INTEGER, flag BOOLEAN)")
        lite.executemany("INSERT INTO applications VALUES (?, ?)", rows.rows())
        assert [s for _, s in sorted(lite.execute(scorecard_sql(card, key="id")))] == python
    scored = postgres_scores(pg_schema, "id INTEGER, flag BOOLEAN", rows.rows(),
                             scorecard_sql(card, key="id"))
    assert [s for _, s in sorted(scored.items())] == python
