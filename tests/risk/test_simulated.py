"""The scorecard on the simulator's own data (issue #5, "real data, measured").

The real engine runs one block of 2,048 borrowers over 13 months; the scorecard is trained
on what a lender saw at application (``applications.parquet``, approved borrowers only,
plus debt to income derived from those columns) against ``defaulted_12m`` from
``labels.parquet``, and judged on a held-out third. Two things must hold:

- it ranks the simulated defaulters (AUC and KS on the held-out rows, printed);
- what it leans on is what truly drives default in the simulation. Two things do
  (docs/simulation.md): the inputs of ``risk_propensity`` (inquiries, lenders, debt to
  income, income, youth; employment stands in for income volatility), and the segment,
  of which the application shows one clear trace: synthetic identities (every one of them
  defaults) come on new devices and new phone numbers, so device age and phone tenure
  are true signals too. The device's make and the channel drive nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.model_selection import train_test_split

from lendguard.risk.features import Feature, FeatureSet, Kind
from lendguard.risk.scorecard import TrainedScorecard, train_scorecard
from lendguard.risk.validation import discrimination

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("simulated")]

TARGET = "defaulted_12m"
NO_FILE = {-1: "no bureau file"}
FEATURES = FeatureSet(TARGET, (
    Feature("age", Kind.NUMERIC, "age", "年龄"),
    Feature("city_tier", Kind.NUMERIC, "city tier", "城市等级"),
    Feature("employment", Kind.CATEGORICAL, "employment", "就业类型"),
    Feature("monthly_income_fen", Kind.NUMERIC, "monthly income", "月收入"),
    Feature("existing_debt_fen", Kind.NUMERIC, "existing debt", "现有负债", NO_FILE),
    Feature("debt_to_income", Kind.NUMERIC, "debt to annual income", "负债收入比", NO_FILE),
    Feature("inquiries_6m", Kind.NUMERIC, "credit inquiries in 6 months", "近6个月查询次数",
            NO_FILE),
    Feature("lenders_count", Kind.NUMERIC, "lenders with open credit", "借贷机构数", NO_FILE),
    Feature("device", Kind.CATEGORICAL, "device", "设备"),
    Feature("device_age_days", Kind.NUMERIC, "device age in days", "设备使用天数"),
    Feature("phone_tenure_months", Kind.NUMERIC, "phone number tenure", "手机号在网时长"),
    Feature("channel", Kind.CATEGORICAL, "application channel", "申请渠道"),
))
# What risk_propensity is made of (employment: the volatility proxy; age: youth).
PROPENSITY = {"inquiries_6m", "lenders_count", "debt_to_income", "existing_debt_fen",
              "monthly_income_fen", "employment", "age"}
# The synthetic-identity segment's trace in the application.
SYNTHETIC_IDENTITY = {"device_age_days", "phone_tenure_months"}
DRIVERS = PROPENSITY | SYNTHETIC_IDENTITY
NOT_DRIVERS = {"device", "channel"}


@pytest.fixture(scope="module")
def split(simulated_run: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    out = simulated_run
    labels = pl.read_parquet(out / "labels.parquet").select("customer_id", TARGET)
    frame = (pl.read_parquet(out / "applications.parquet")
             .filter(pl.col("approved"))
             .join(labels, on="customer_id", how="inner")
             .with_columns(
                 pl.col("employment").cast(pl.String),
                 pl.col("device").cast(pl.String),
                 pl.col("channel").cast(pl.String),
                 pl.when(pl.col("has_bureau_file"))
                 .then(pl.col("existing_debt_fen") / (12.0 * pl.col("monthly_income_fen")))
                 .otherwise(-1.0).alias("debt_to_income"),
                 pl.col(TARGET).cast(pl.Int64))
             .select([*FEATURES.names, TARGET]))
    train, test = train_test_split(np.arange(frame.height), test_size=1 / 3, random_state=0,
                                   stratify=frame[TARGET].to_numpy())
    return frame[np.sort(train)], frame[np.sort(test)]


@pytest.fixture(scope="module")
def trained(split: tuple[pl.DataFrame, pl.DataFrame]) -> TrainedScorecard:
    return train_scorecard(split[0], FEATURES)


def points_ranges(trained: TrainedScorecard) -> list[tuple[str, int]]:
    """Features by the spread of their points, widest first: what moves a score most."""
    spread = [(f.feature.name, max(f.points) - min(f.points)) for f in trained.scorecard.features]
    return sorted(spread, key=lambda item: -item[1])


def test_the_scorecard_ranks_the_simulated_defaulters(
        split: tuple[pl.DataFrame, pl.DataFrame], trained: TrainedScorecard) -> None:
    test = split[1]
    scores = trained.scorecard.score_frame(test)
    measured = discrimination(test[TARGET].to_numpy(), scores, n_bootstrap=200)
    summary = (f"held-out AUC {measured.auc.value:.3f} "
               f"[{measured.auc.low:.3f}, {measured.auc.high:.3f}], "
               f"KS {measured.ks.value:.3f}, {test.height} rows, "
               f"{int(test[TARGET].sum())} defaulters; kept {trained.scorecard.names}")
    print(summary)
    assert measured.auc.value >= 0.62, summary
    assert measured.ks.value >= 0.18, summary


def test_the_scorecard_leans_on_what_truly_drives_default(trained: TrainedScorecard) -> None:
    ranges = points_ranges(trained)
    by_iv = sorted(trained.binnings.values(), key=lambda b: -b.iv)
    summary = f"points ranges {ranges}; top IV {[(b.name, round(b.iv, 3)) for b in by_iv[:6]]}"
    print(summary)
    top_points = [name for name, _ in ranges[:5]]
    assert len(PROPENSITY & set(top_points)) >= 2, summary
    assert len(PROPENSITY & {b.name for b in by_iv[:5]}) >= 2, summary
    assert not NOT_DRIVERS & set(top_points[:3]), summary
    assert not NOT_DRIVERS & {b.name for b in by_iv[:3]}, summary

def test_reason_codes_name_the_drivers(split: tuple[pl.DataFrame, pl.DataFrame],
                                       trained: TrainedScorecard) -> None:
    """The first reason code of the riskiest held-out applicants is a true driver."""
    test = split[1]
    scores = trained.scorecard.score_frame(test)
    riskiest = test[np.argsort(scores)[:100]]
    first = [reasons[0].feature for row in riskiest.iter_rows(named=True)
             if (reasons := trained.scorecard.reasons(row, top=1))]
    share = sum(name in DRIVERS for name in first) / max(len(first), 1)
    print(f"first reason codes of the 100 riskiest: driver share {share:.2f}, "
          f"{ {name: first.count(name) for name in sorted(set(first))} }")
    assert share >= 0.9, first
