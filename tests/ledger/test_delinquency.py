"""Days past due, buckets and write-off, driven by close of business.

Days past due count from the oldest unpaid due date: an amount due on the 10th is
1 day past due on the 11th. Buckets: M0 current, M1 1–30, M2 31–60, M3 61–90, M3+
beyond; the account is written off when days past due exceed 180 (default
``write_off_days``). Close of business records each change of bucket
(``DelinquencyChanged``) and the write-off (``AccountWrittenOff``, which takes off
exactly what is outstanding). Running close of business again for the same date
appends nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from lendguard.errors import AccountNotActive
from lendguard.events import Event, decode_event
from lendguard.ledger import cash_loan, credit_line
from lendguard.ledger.account import Status
from lendguard.ledger.delinquency import bucket, days_past_due, is_write_off_due
from lendguard.ledger.events import (
    AccountWrittenOff,
    DelinquencyChanged,
    PenaltyInterestCharged,
    RepaymentReceived,
)
from lendguard.money import Money
from lendguard.replay import ReplayReport
from lendguard.service import Ledger
from lendguard.store.base import EventStore
from tests.conftest import BusinessDays, events_of

M = Money.of
LINE = "CL-1"
ACCOUNT = "CA-1"


@pytest.mark.parametrize(("dpd", "expected"), [
    (0, "M0"), (1, "M1"), (30, "M1"), (31, "M2"), (60, "M2"), (61, "M3"), (90, "M3"),
    (91, "M3+"), (180, "M3+"), (181, "M3+")])
def test_buckets(dpd: int, expected: str) -> None:
    assert bucket(dpd) == expected


def test_days_past_due_count_from_the_due_date() -> None:
    due = date(2026, 2, 10)
    assert days_past_due(None, date(2026, 2, 11)) == 0  # nothing unpaid
    assert days_past_due(due, date(2026, 2, 10)) == 0  # the due day is still on time
    assert days_past_due(due, date(2026, 2, 11)) == 1
    assert days_past_due(due, date(2026, 8, 9)) == 180
    assert not is_write_off_due(180, 180)
    assert is_write_off_due(181, 180)


def transitions(store: EventStore, stream_id: str) -> list[tuple[str, str, int, date]]:
    return [(e.old_bucket, e.new_bucket, e.days_past_due, e.on)
            for e in events_of(store, stream_id, DelinquencyChanged)]


def unpaid_statement(ledger: Ledger, days: BusinessDays) -> None:
    """1,000.00 bought 5 Jan; statement 1 Feb due 10 Feb (minimum 100.00), never paid."""
    ledger.open_credit_line(LINE, "C-1", M("10000"), key="open-line")
    days.go_to(date(2026, 1, 5))
    ledger.purchase(LINE, "O-1", M("1000"), "JD.com", "electronics", "app", key="buy")
    ledger.settle(LINE, "O-1", key="settle")


def test_credit_line_ages_through_every_bucket_and_is_written_off_after_180_days(
        ledger: Ledger, days: BusinessDays, store: EventStore,
        books: Callable[[], ReplayReport]) -> None:
    # Due 10 Feb. Days past due: 11 Feb = 1 (M1); 13 Mar = 31 (M2); 12 Apr = 61 (M3);
    # 12 May = 91 (M3+); 9 Aug = 180, still M3+; 10 Aug = 181 > 180: written off.
    unpaid_statement(ledger, days)
    days.close_through(date(2026, 8, 9))
    assert ledger.credit_line(LINE).status is Status.ACTIVE
    days.close_through(date(2026, 8, 10))
    assert transitions(store, LINE) == [
        ("M0", "M1", 1, date(2026, 2, 11)),
        ("M1", "M2", 31, date(2026, 3, 13)),
        ("M2", "M3", 61, date(2026, 4, 12)),
        ("M3", "M3+", 91, date(2026, 5, 12)),
        ("M3+", "written_off", 181, date(2026, 8, 10)),
    ]
    # Penalty on 1,000.00 at 0.05% is exactly 0.50 a day, posted on each statement and at
    # write-off: 19 + 31 + 30 + 31 + 30 + 31 days to 1 Aug, then 9 days (2–10 Aug):
    # 181 days (11 Feb – 10 Aug) × 0.50 = 90.50.
    posted = events_of(store, LINE, PenaltyInterestCharged)
    assert [(p.to_date - p.from_date).days for p in posted] == [19, 31, 30, 31, 30, 31, 9]
    assert sum(p.amount.fen for p in posted) == 9_050
    (written,) = events_of(store, LINE, AccountWrittenOff)
    assert (written.principal, written.interest, written.fees, written.penalties) == (
        M("1000"), M("0"), M("0"), M("90.50"))
    assert (written.days_past_due, written.on) == (181, date(2026, 8, 10))

    # The journal takes off exactly what was outstanding: nothing is left receivable and
    # 1,090.50 is a credit loss.
    journal = books().journal
    for receivable in ("1200", "1310", "1320"):
        assert journal.stream_balance(LINE, receivable) == 0
    assert journal.stream_balance(LINE, "5100") == 109_050

    # A written-off line takes nothing new; money that still arrives is a recovery.
    with pytest.raises(AccountNotActive):
        ledger.purchase(LINE, "O-2", M("1"), "JD.com", "electronics", "app", key="buy-2")
    result = ledger.repay(LINE, "R-late", M("300"), key="R-late")
    (late,) = result.of_type(RepaymentReceived)
    assert isinstance(late, RepaymentReceived)
    assert (late.allocations, late.recovered) == ((), M("300"))
    days.go_to(date(2026, 10, 2))
    assert len(events_of(store, LINE, DelinquencyChanged)) == 5  # nothing after write-off


def test_paying_the_minimum_late_cures_the_line(
        ledger: Ledger, days: BusinessDays, store: EventStore) -> None:
    # 45 days past due on 27 Mar (M2). Two minimums are missing: February's 100.00 and
    # March's 10% × 1,000.00 carried + 9.50 of penalty (19 days × 0.50) = 109.50.
    # Paying February's 100.00 leaves March's missed: past due since 10 Mar, 17 days (M1).
    # Paying the other 109.50 cures the line at that day's close. Penalties are posted
    # first and paid first, yet every fen counts toward the missing minimums.
    unpaid_statement(ledger, days)
    days.go_to(date(2026, 3, 27))
    assert ledger.credit_line(LINE).days_past_due(days.today) == 45
    assert ledger.credit_line(LINE).minimum_due() == 20_950
    ledger.repay(LINE, "R-1", M("100"), key="R-1")
    days.close_today()
    assert transitions(store, LINE)[-1] == ("M2", "M1", 17, date(2026, 3, 27))
    ledger.repay(LINE, "R-2", M("109.50"), key="R-2")
    days.close_today()
    assert transitions(store, LINE)[-1] == ("M1", "M0", 0, date(2026, 3, 27))


def test_cash_loan_ages_through_every_bucket_and_is_written_off_after_180_days(
        ledger: Ledger, days: BusinessDays, store: EventStore) -> None:
    # 10,000.00 interest first over 3 months drawn 1 Jan, never paid. Interest falls due
    # 1 Feb (31 days: 124.00), 1 Mar (28 days: 112.00), 1 Apr (31 days: 124.00) with all
    # the principal. Days past due count from 1 Feb: 2 Feb = 1 (M1), 4 Mar = 31 (M2),
    # 3 Apr = 61 (M3), 3 May = 91 (M3+), 1 Aug = 181: written off.
    ledger.open_cash_loan(ACCOUNT, "C-1", M("50000"), key="open")
    ledger.draw(ACCOUNT, "L-1", M("10000"), 3, "interest_first", key="draw")
    days.close_through(date(2026, 8, 1))
    assert transitions(store, ACCOUNT) == [
        ("M0", "M1", 1, date(2026, 2, 2)),
        ("M1", "M2", 31, date(2026, 3, 4)),
        ("M2", "M3", 61, date(2026, 4, 3)),
        ("M3", "M3+", 91, date(2026, 5, 3)),
        ("M3+", "written_off", 181, date(2026, 8, 1)),
    ]
    # Penalty only on the principal overdue since 1 Apr, 10,000.00 × 0.06% = 6.00 a day,
    # posted at each month's end and at write-off: 29 + 31 + 30 + 31 + 1 = 122 days
    # (2 Apr – 1 Aug) = 732.00.
    posted = events_of(store, ACCOUNT, PenaltyInterestCharged)
    assert [(p.item, p.from_date, p.to_date, p.amount.fen) for p in posted] == [
        ("L-1#3", date(2026, 4, 1), date(2026, 4, 30), 17_400),
        ("L-1#3", date(2026, 4, 30), date(2026, 5, 31), 18_600),
        ("L-1#3", date(2026, 5, 31), date(2026, 6, 30), 18_000),
        ("L-1#3", date(2026, 6, 30), date(2026, 7, 31), 18_600),
        ("L-1#3", date(2026, 7, 31), date(2026, 8, 1), 600)]
    (written,) = events_of(store, ACCOUNT, AccountWrittenOff)
    assert (written.principal, written.interest, written.fees, written.penalties) == (
        M("10000"), M("360"), M("0"), M("732"))
    state = ledger.cash_loan(ACCOUNT)
    assert state.status is Status.WRITTEN_OFF
    assert state.balances() == {"1210": 0, "1300": 0, "1320": 0, "2200": 0}
    with pytest.raises(AccountNotActive):
        ledger.draw(ACCOUNT, "L-2", M("100"), 3, "interest_first", key="draw-2")


# ---- close of business is idempotent ---------------------------------------------------------


def test_close_of_business_twice_for_the_same_date_appends_nothing(
        ledger: Ledger, days: BusinessDays, store: EventStore) -> None:
    unpaid_statement(ledger, days)
    ledger.open_cash_loan(ACCOUNT, "C-1", M("50000"), key="open-loan")
    ledger.draw(ACCOUNT, "L-1", M("10000"), 3, "equal_principal", key="draw")  # due 5th
    # 5 Feb: the loan's first instalment falls due; 11 Feb: the line turns M1;
    # 1 Mar: a statement with February's penalty.
    for day in (date(2026, 2, 1), date(2026, 2, 5), date(2026, 2, 11), date(2026, 3, 1)):
        days.go_to(day)
        assert days.close_today() > 0
        position = store.last_position()
        assert days.close_today() == 0
        # A second service with a cold cache, and the pure decisions on folded state,
        # agree: there is nothing left to do for that date.
        assert Ledger(store, days.clock).close_of_business(day) == 0
        assert store.last_position() == position
        line = credit_line.fold(LINE, _decoded(store, LINE))
        loans = cash_loan.fold(ACCOUNT, _decoded(store, ACCOUNT))
        assert credit_line.decide_close_of_business(line, day) == []
        assert cash_loan.decide_close_of_business(loans, day) == []


def _decoded(store: EventStore, stream_id: str) -> list[Event]:
    return [decode_event(e.type, e.version, e.data) for e in store.read_stream(stream_id)]
