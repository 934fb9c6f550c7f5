"""Behaviour features and the behaviour target on hand-built logs, through the real
``Ledger`` commands and close of business (``lendguard.risk.behaviour``,
``lendguard.asof``).

Conventions: the as-of date D is read at the end of its day; "last N months" is
``(D - N months, D]``; a statement is judged by what was repaid from its statement day to
its due day (the health report's rule); a credit-line repayment is loan-funded when it
comes 0..3 days after a drawdown at least half its size.
"""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

import polars as pl
import pytest

from lendguard.asof import behaviour_sample, fold_log
from lendguard.clock import DEFAULT_TZ, FixedClock
from lendguard.errors import AsOfOutOfRange, InvalidCommand
from lendguard.ledger import credit_line
from lendguard.money import Money
from lendguard.risk.behaviour import (
    BEHAVIOUR_FEATURES,
    FEATURE_NAMES,
    AsOf,
)
from lendguard.service import Ledger
from lendguard.store.base import EventStore
from tests.closure.support import close
from tests.conftest import BusinessDays

M = Money.of
LINE, LOAN, CUSTOMER = "L-1", "K-1", "C-1"
LATE_LINE, LATE = "L-2", "C-2"


def buy(ledger: Ledger, account: str, order: str, amount: str, hour: int = 9) -> None:
    clock = ledger.clock
    assert isinstance(clock, FixedClock)
    clock.set(datetime.combine(clock.today(), time(hour, 30), DEFAULT_TZ))
    ledger.purchase(account, order, M(amount), "JD.com", "electronics", "app",
                    key=f"buy-{order}")
    ledger.settle(account, order, key=f"settle-{order}")


def pay_what_is_due(ledger: Ledger, account: str, repayment: str) -> None:
    due = credit_line.amount_due(ledger.credit_line(account), ledger.clock.today())
    ledger.repay(account, repayment, Money(due), key=repayment)


def row(store: EventStore, as_of: date, customer: str = CUSTOMER,
        window_months: int = 0) -> dict[str, object]:
    frame = behaviour_sample(store, as_of, window_months).frame
    found = frame.filter(pl.col("customer_id") == customer)
    assert found.height == 1, frame
    return found.row(0, named=True)


def first_quarter(ledger: Ledger, days: BusinessDays) -> None:
    """C-1's first quarter: a line of 10,000.00 and a cash-loan limit of 20,000.00.

    5 Jan: 2,000.00 at 09:30 and 123.45 at 23:30. 1 Feb: statement of 2,123.45, paid in
    full on 8 Feb. 15 Feb: 500.00. 1 Mar: statement of 500.00 (minimum 50.00), of which
    only the minimum is paid on 9 Mar. 20 Mar: a loan of 3,000.00; 22 Mar: the rest of
    the line repaid with it (以贷养贷). Days are closed through 31 Mar.
    """
    ledger.open_credit_line(LINE, CUSTOMER, M("10000"), key="open-line")
    ledger.open_cash_loan(LOAN, CUSTOMER, M("20000"), key="open-loan")
    days.go_to(date(2026, 1, 5))
    buy(ledger, LINE, "O-1", "2000")
    buy(ledger, LINE, "O-2", "123.45", hour=23)
    days.go_to(date(2026, 2, 8))
    ledger.repay(LINE, "R-1", M("2123.45"), key="R-1")
    days.go_to(date(2026, 2, 15))
    buy(ledger, LINE, "O-3", "500")
    days.go_to(date(2026, 3, 9))
    ledger.repay(LINE, "R-2", M("50"), key="R-2")
    days.go_to(date(2026, 3, 20))
    ledger.draw(LOAN, "N-1", M("3000"), 6, "equal_principal", key="N-1")
    days.go_to(date(2026, 3, 22))
    pay_what_is_due(ledger, LINE, "R-3")
    days.close_through(date(2026, 3, 31))


def test_worked_example_of_a_first_quarter(ledger: Ledger, days: BusinessDays) -> None:
    first_quarter(ledger, days)
    features = row(ledger.store, date(2026, 3, 31))
    assert features["as_of"] == date(2026, 3, 31)
    assert features["excluded"] is None
    expected = {
        "months_on_book": 2,  # 1 Jan → 1 Mar, and 1 Mar → 31 Mar is not a whole month
        # In use on 31 Jan 2,123.45 (unbilled), 28 Feb 500.00 (unbilled), 31 Mar nothing;
        # the checkpoints of Dec, Nov and Oct are before the line existed.
        "line_utilisation": 0.0,
        "line_utilisation_avg_3m": (0.212345 + 0.05 + 0.0) / 3,
        "line_utilisation_avg_6m": (0.212345 + 0.05 + 0.0) / 3,
        "line_utilisation_max_3m": 0.212345,
        "line_utilisation_max_6m": 0.212345,
        # S2026-02 (2,123.45) paid in full; S2026-03 (500.00) only its minimum by 10 Mar.
        "statements_count": 2, "paid_in_full_share": 0.5, "minimum_only_share": 0.5,
        "missed_minimum_share": 0.0, "minimum_only_streak": 1,
        "days_past_due": 0, "max_dpd_3m": 0, "max_dpd_12m": 0,
        "delinquency_cycles_12m": 0,
        # Nothing bought since 28 Feb; since 31 Dec: 2,000.00 + 123.45 + 500.00.
        "purchases_1m": 0, "purchases_3m": 3, "purchase_amount_1m_fen": 0,
        "purchase_amount_3m_fen": 262_345,
        "late_night_share_90d": 12_345 / 262_345,
        "round_amount_share_3m": 2 / 3,  # 2,000.00 and 500.00 are whole hundreds
        "refund_share_3m": 0.0,
        "days_since_last_purchase": 44,  # 15 Feb → 31 Mar
        "loan_draws_3m": 1, "loan_drawn_3m_fen": 300_000,
        "loan_balance_fen": 300_000, "loan_utilisation": 300_000 / 2_000_000,
        # Line repayments since 30 Sep: 8 Feb, 9 Mar, 22 Mar; the last came 2 days after
        # the 3,000.00 drawdown.
        "loan_funded_repayments_6m": 1, "loan_funded_repayment_share_6m": 1 / 3,
        "instalment_conversions_6m": 0, "limit_increases_12m": 0,
        "limit_decreases_12m": 0,
    }
    assert {name: features[name] for name in expected} == pytest.approx(expected)
    # The line opened after 31 Dec: a 3-month average of spending does not exist yet.
    assert features["spend_trend"] is None


def test_features_at_a_date_ignore_everything_after_it(
        ledger: Ledger, days: BusinessDays) -> None:
    first_quarter(ledger, days)
    before = behaviour_sample(ledger.store, date(2026, 3, 31)).frame
    # April: night spending, a limit cut, a conversion, a second loan, and from then on
    # nothing repaid.
    days.go_to(date(2026, 4, 2))
    for n in range(5):
        buy(ledger, LINE, f"O-4{n}", "800", hour=1)
    ledger.change_limit(LINE, M("6000"), "risk review", key="cut")
    ledger.convert_purchase(LINE, "O-40", 3, "P-1", key="P-1")
    ledger.draw(LOAN, "N-2", M("5000"), 3, "equal_instalment", key="N-2")
    days.close_through(date(2026, 6, 30))
    after = behaviour_sample(ledger.store, date(2026, 3, 31)).frame
    assert after.equals(before)
    moved = behaviour_sample(ledger.store, date(2026, 5, 31)).frame.row(0, named=True)
    assert moved["limit_decreases_12m"] == 1 and moved["instalment_conversions_6m"] == 1
    # Both accounts fell past due: the line after 10 Apr, the loan after 20 Apr.
    assert moved["delinquency_cycles_3m"] == 2 and moved["days_past_due"] > 30


def unpaid_statement(ledger: Ledger, days: BusinessDays) -> None:
    """C-2 buys 1,000.00 on 5 Jan and never pays: the 1 Feb statement is due 10 Feb, so
    the line is 1 day past due on 11 Feb (M1), 31 on 13 Mar (M2), 61 on 12 Apr (M3) and
    91 on 12 May (M3+). C-1 keeps the log going to 31 Jul with a purchase that day."""
    ledger.open_credit_line(LINE, CUSTOMER, M("10000"), key="open-line")
    ledger.open_credit_line(LATE_LINE, LATE, M("5000"), key="open-late")
    days.go_to(date(2026, 1, 5))
    buy(ledger, LATE_LINE, "O-9", "1000")
    days.go_to(date(2026, 7, 31))
    buy(ledger, LINE, "O-1", "10")


def test_delinquency_features_and_the_target_window(ledger: Ledger,
                                                   days: BusinessDays) -> None:
    unpaid_statement(ledger, days)
    store = ledger.store
    march = row(store, date(2026, 3, 31), LATE, window_months=1)
    assert march["days_past_due"] == 49  # 10 Feb → 31 Mar
    assert (march["max_dpd_3m"], march["delinquency_cycles_3m"]) == (49, 1)
    assert march["missed_minimum_share"] == 1.0 and march["paid_in_full_share"] == 0.0
    # 90+ is reached on 12 May: not within April, within April and May.
    assert march["bad"] == 0
    assert row(store, date(2026, 3, 31), LATE, window_months=2)["bad"] == 1
    assert row(store, date(2026, 3, 31), CUSTOMER, window_months=2)["bad"] == 0
    # On 31 May C-2 is already 110 days past due: left out of the sample, features kept.
    may = row(store, date(2026, 5, 31), LATE, window_months=2)
    assert (may["excluded"], may["bad"], may["days_past_due"]) == ("already_bad", None, 110)
    assert may["max_dpd_3m"] == 110 and may["delinquency_cycles_3m"] == 0
    assert may["delinquency_cycles_6m"] == 1


def test_the_target_reads_only_the_window(ledger: Ledger, days: BusinessDays) -> None:
    """Events after the window's end, however bad, never make a customer bad."""
    unpaid_statement(ledger, days)
    sample = behaviour_sample(ledger.store, date(2026, 1, 31), window_months=3)
    bads = dict(sample.frame.select("customer_id", "bad").iter_rows())
    assert bads == {CUSTOMER: 0, LATE: 0}  # C-2 goes 90+ on 12 May, after 30 Apr


def test_missing_is_not_zero(ledger: Ledger, days: BusinessDays) -> None:
    """A line with no statement due and nothing bought yet: shares are missing, counts
    zero, and every cash-loan feature missing (no cash-loan account). C-2's purchase
    keeps the log going to 20 Jan."""
    ledger.open_credit_line(LINE, CUSTOMER, M("10000"), key="open-line")
    ledger.open_credit_line(LATE_LINE, LATE, M("5000"), key="open-late")
    days.go_to(date(2026, 1, 20))
    buy(ledger, LATE_LINE, "O-1", "10")
    features = row(ledger.store, date(2026, 1, 20))
    assert features["statements_count"] == 0 and features["purchases_3m"] == 0
    assert features["days_past_due"] == 0 and features["line_utilisation"] == 0.0
    for name in ("paid_in_full_share", "minimum_only_streak", "late_night_share_90d",
                 "refund_share_3m", "days_since_last_purchase", "spend_trend",
                 "loan_balance_fen", "loan_draws_3m", "loan_funded_repayments_6m"):
        assert features[name] is None, name


def test_closed_customers_are_excluded(ledger: Ledger, days: BusinessDays) -> None:
    ledger.open_credit_line(LINE, CUSTOMER, M("10000"), key="open-line")
    ledger.open_credit_line(LATE_LINE, LATE, M("5000"), key="open-late")
    days.go_to(date(2026, 1, 10))
    close(ledger, LINE)
    days.go_to(date(2026, 3, 5))
    buy(ledger, LATE_LINE, "O-1", "10")
    sample = behaviour_sample(ledger.store, date(2026, 1, 31), window_months=1)
    assert dict(sample.frame.select("customer_id", "excluded").iter_rows()) == {
        CUSTOMER: "closed", LATE: None}
    assert sample.excluded_counts() == {"closed": 1}
    assert sample.training_frame().columns == [*FEATURE_NAMES, "bad"]


def test_the_as_of_date_must_lie_within_the_log(ledger: Ledger, days: BusinessDays) -> None:
    store = ledger.store
    with pytest.raises(AsOfOutOfRange, match="holds no events"):
        behaviour_sample(store, date(2026, 1, 1))
    unpaid_statement(ledger, days)
    with pytest.raises(AsOfOutOfRange, match="before the log's first event"):
        behaviour_sample(store, date(2025, 12, 31))
    with pytest.raises(AsOfOutOfRange, match="after the log's last event"):
        behaviour_sample(store, date(2026, 8, 1))
    with pytest.raises(AsOfOutOfRange, match="on or before 2026-01-31, or a shorter"):
        behaviour_sample(store, date(2026, 3, 31), window_months=6)
    with pytest.raises(InvalidCommand, match=r"0\.\.60 months"):
        behaviour_sample(store, date(2026, 3, 31), window_months=-1)


def test_the_sample_reports_the_business_dates_it_read(ledger: Ledger,
                                                       days: BusinessDays) -> None:
    """The check before reading looks at the first and last events appended; the dates
    actually read come back with the sample and are checked again."""
    unpaid_statement(ledger, days)
    events = list(ledger.store.read_all())
    accounts = {s.stream_id: (s.category, s.customer_id) for s in ledger.store.streams()}
    sample = fold_log(events, accounts, AsOf.of(date(2026, 3, 31), 2))
    assert (sample.first_day, sample.last_day) == (date(2026, 1, 1), date(2026, 7, 31))


def test_every_feature_is_declared_once_with_both_descriptions() -> None:
    names = [f.name for f in BEHAVIOUR_FEATURES]
    assert len(names) == len(set(names)) >= 30
    assert all(f.description and f.description_zh for f in BEHAVIOUR_FEATURES)


def test_the_docs_list_every_feature_as_declared() -> None:
    text = (Path(__file__).parents[2] / "docs" / "behaviour.md").read_text()
    missing = [f.name for f in BEHAVIOUR_FEATURES
               if f"| `{f.name}` | {f.description} | {f.description_zh} |" not in text]
    assert missing == []
