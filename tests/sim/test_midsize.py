"""A mid-size run of the default configuration (one block of 2,048 borrowers over the
full 13-month horizon): the calibration figures land in their documented ranges, and
each segment shows its signature in the event log."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from lendguard.replay import replay
from lendguard.sim import load_config
from lendguard.sim.run import CALIBRATION_RANGES, RunSummary, simulate
from lendguard.store import open_store

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("midsize")]


class Log:
    """The run's events by customer: (day, stream kind, type, payload)."""

    def __init__(self, path: Path) -> None:
        self.by_customer: dict[str, list[tuple[date, str, str, dict[str, object]]]] = \
            defaultdict(list)
        with open_store(f"sqlite:///{path}") as store:
            for e in store.read_all():
                kind, customer = e.stream_id.split("-", 1)
                day = datetime.fromisoformat(e.occurred_at).date()
                self.by_customer[customer].append((day, kind, e.type, json.loads(e.data)))

    def of(self, customer: str, kind: str, type_: str) -> list[tuple[date, dict[str, object]]]:
        return [(d, p) for d, k, t, p in self.by_customer[customer] if k == kind and t == type_]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunSummary, pl.DataFrame, Log]:
    out = tmp_path_factory.mktemp("midsize")
    summary = simulate(load_config(), 2_048, 13, 2026, out, workers=1)
    labels = pl.read_parquet(out / "labels.parquet")
    return summary, labels, Log(out / "events.db")


def test_calibration_figures_are_in_their_ranges(
        run: tuple[RunSummary, pl.DataFrame, Log]) -> None:
    figures = run[0].manifest["figures"]
    outside = {name: figures[name] for name, (low, high) in CALIBRATION_RANGES.items()
               if not low <= figures[name] <= high}
    assert not outside, f"outside the documented ranges: {outside}"


def test_riskier_segments_default_more(run: tuple[RunSummary, pl.DataFrame, Log]) -> None:
    labels = run[1].filter(pl.col("approved"))
    rates = dict(labels.group_by("segment").agg(pl.col("defaulted_12m").mean()).iter_rows())
    assert rates["prudent"] < rates["revolver"] < rates["over_borrower"]
    assert rates["income_shock"] > rates["prudent"]


def test_over_borrowers_repay_the_line_from_loans_within_days(
        run: tuple[RunSummary, pl.DataFrame, Log]) -> None:
    _, labels, log = run
    over = labels.filter((pl.col("segment") == "over_borrower") & pl.col("approved"))
    funded = 0
    for customer in over["customer_id"]:
        draws = [d for d, _ in log.of(customer, "K", "LoanDrawn")]
        repayments = [d for d, _ in log.of(customer, "L", "RepaymentReceived")]
        if any(timedelta(0) <= r - d <= timedelta(days=3) for d in draws for r in repayments):
            funded += 1
    prudent = labels.filter((pl.col("segment") == "prudent") & pl.col("approved"))
    prudent_funded = sum(
        any(timedelta(0) <= r - d <= timedelta(days=3)
            for d, _ in log.of(c, "K", "LoanDrawn") for r, _ in log.of(c, "L", "RepaymentReceived"))
        for c in prudent["customer_id"])
    assert funded / over.height > 0.3
    assert funded / over.height > 5 * prudent_funded / prudent.height


def test_dormant_takeovers_are_silent_for_months_then_burst(
        run: tuple[RunSummary, pl.DataFrame, Log]) -> None:
    _, labels, log = run
    takeovers = labels.filter((pl.col("fraud_type") == "account_takeover")
                              & pl.col("fraud_started_on").is_not_null())
    assert takeovers.height >= 3
    for customer, started in takeovers.select("customer_id", "fraud_started_on").iter_rows():
        purchases = [d for d, _ in log.of(customer, "L", "PurchaseMade")]
        before = [d for d in purchases if started - timedelta(days=90) <= d < started]
        burst = [d for d in purchases if started <= d < started + timedelta(days=10)]
        assert len(before) <= 2, (customer, before)
        assert len(burst) >= 3, (customer, burst)


def test_cash_out_is_round_amounts_at_colluding_merchants(
        run: tuple[RunSummary, pl.DataFrame, Log]) -> None:
    _, labels, log = run
    cash_out = labels.filter((pl.col("fraud_type") == "cash_out")
                             & pl.col("fraud_started_on").is_not_null())
    assert cash_out.height >= 5
    for (customer,) in cash_out.select("customer_id").iter_rows():
        colluding = [p for _, p in log.of(customer, "L", "PurchaseMade")
                     if str(p["merchant"]).startswith("M-collude")]
        assert colluding
        assert all(int(str(p["amount"])) % 50_000 == 0 for p in colluding)


def test_synthetic_identities_max_out_and_never_pay_again(
        run: tuple[RunSummary, pl.DataFrame, Log]) -> None:
    _, labels, log = run
    synthetic = labels.filter((pl.col("fraud_type") == "synthetic_identity")
                              & pl.col("fraud_started_on").is_not_null())
    assert synthetic.height >= 3
    for customer, started in synthetic.select("customer_id", "fraud_started_on").iter_rows():
        paid_after = [d for kind in ("L", "K")
                      for d, _ in log.of(customer, kind, "RepaymentReceived") if d > started]
        assert not paid_after, (customer, paid_after)


def test_the_run_replays_and_balances(run: tuple[RunSummary, pl.DataFrame, Log],
                                      tmp_path: Path) -> None:
    summary = run[0]
    with open_store(f"sqlite:///{summary.out / 'events.db'}") as store:
        report = replay(store, verify=True)
    assert report.ok, report.problems[:5]
    assert report.events == summary.manifest["events"]
