"""The revolving credit line (花呗), rule by rule, as worked examples.

Conventions every example below relies on (PRODUCT.md, defaults of ``CreditLineTerms``):

- Money is integer fen. The statement is issued by close of business on the 1st; it
  bills the settled, unbilled purchases and one period of each running instalment plan,
  and is due on the 10th. Until the due day a purchase is interest-free.
- Minimum payment = round_half_up(10% × new purchases) + the instalment principal and
  instalment fees billed on that statement.
- Whatever of a statement's principal + fee is unpaid after the due day accrues penalty
  interest of 0.05% a day on a constant base, simple, from the day after the due day; a
  posting covers the days [from, to) and is rounded half-up to the fen
  (``ledger.account.accrue``). It is posted whenever the base is about to change or the
  books need it: at a repayment, a refund of a billed purchase, the next statement and
  write-off. So 3,290.22 unpaid after 10 Feb accrues 3,290.22 × 0.05% × 18 days
  (11–28 Feb) = 29.61, posted on the 1 Mar statement.
- The account is past due only while less than the statement's minimum was paid; days
  past due count from the due date (1 on the 11th).
- Instalment conversion: fee = round_half_up(principal × total fee rate) with defaults
  3/6/9/12 periods at 2.3/4.5/6.5/7.5%; principal and fee are each split evenly with the
  remainder fen on period 1; the periods are billed on the following statements; plan
  principal not yet billed occupies the limit.

All the scenarios start on 1 Jan 2026 with a 10,000.00 line; every one is replayed from
the log at the end of the test (see ``tests/conftest.py``).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from lendguard.errors import (
    AccountNotActive,
    InsufficientLimit,
    InvalidAmount,
    InvalidCommand,
    NotConvertible,
)
from lendguard.events import encode_event
from lendguard.ledger import credit_line
from lendguard.ledger.events import (
    AccountClosed,
    Allocation,
    CreditBalanceRefunded,
    InstalmentPlanCreated,
    LineItem,
    PenaltyInterestCharged,
    PurchaseRefunded,
    PurchaseSettled,
    RepaymentReceived,
    StatementIssued,
)
from lendguard.money import Money
from lendguard.service import Ledger
from lendguard.store.base import EventStore, NewEvent, StreamWrite
from tests.conftest import BusinessDays, events_of

LINE = "CL-1"
CUSTOMER = "C-1"
M = Money.of


def open_line(ledger: Ledger, limit: str = "10000") -> None:
    ledger.open_credit_line(LINE, CUSTOMER, M(limit), key="open-line")


def buy(ledger: Ledger, order_id: str, amount: str, *, settle: bool = True) -> None:
    ledger.purchase(LINE, order_id, M(amount), "JD.com", "electronics", "app",
                    key=f"buy-{order_id}")
    if settle:
        ledger.settle(LINE, order_id, key=f"settle-{order_id}")


def statement(store: EventStore, statement_id: str) -> StatementIssued:
    found = [s for s in events_of(store, LINE, StatementIssued)
             if s.statement_id == statement_id]
    assert len(found) == 1, f"{statement_id} issued {len(found)} times"
    return found[0]


def penalties(store: EventStore) -> list[tuple[str, int, int, date, date]]:
    return [(p.item, p.amount.fen, p.base.fen, p.from_date, p.to_date)
            for p in events_of(store, LINE, PenaltyInterestCharged)]


def allocations(ledger: Ledger, repayment_id: str, amount: str) -> list[tuple[str, str, int]]:
    result = ledger.repay(LINE, repayment_id, M(amount), key=repayment_id)
    (received,) = result.of_type(RepaymentReceived)
    assert isinstance(received, RepaymentReceived)
    return [(a.item, a.component, a.amount.fen) for a in received.allocations]


# ---- interest-free period ----------------------------------------------------------------


@pytest.mark.parametrize("pay_day", [date(2026, 2, 8), date(2026, 2, 10)],
                         ids=["before the due day", "on the due day itself"])
def test_a_purchase_paid_in_full_by_the_due_day_is_interest_free(
        ledger: Ledger, days: BusinessDays, store: EventStore, pay_day: date) -> None:
    # 1,299.00 bought on 5 Jan; statement 1 Feb, due 10 Feb, minimum 10% = 129.90.
    # Paid in full by the due day (the due day itself included), nothing ever accrues:
    # the purchase was interest-free for 36 days.
    open_line(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", "1299")
    days.go_to(pay_day)
    issued = statement(store, "S2026-02")
    assert (issued.statement_date, issued.due_date) == (date(2026, 2, 1), date(2026, 2, 10))
    assert issued.purchases == M("1299")
    assert issued.minimum_payment == M("129.90")
    assert issued.billed_orders == ("O-1",)
    assert credit_line.amount_due(ledger.credit_line(LINE), pay_day) == 129_900

    assert allocations(ledger, "R-1", "1299") == [("S2026-02", "principal", 129_900)]
    days.go_to(date(2026, 4, 1))
    assert penalties(store) == []
    # Nothing new to bill and nothing owed: no March statement at all.
    assert [s.statement_id for s in events_of(store, LINE, StatementIssued)] == ["S2026-02"]
    state = ledger.credit_line(LINE)
    assert state.available_limit() == 1_000_000
    assert state.bucket == "M0"


# ---- minimum payment, past due, penalty on the unpaid amount -----------------------------


def test_minimum_payment_is_ten_percent_of_new_purchases_rounded_half_up(
        ledger: Ledger, days: BusinessDays, store: EventStore) -> None:
    # 10% × 1,234.55 = 123.455 → 123.46 (half-up).
    open_line(ledger)
    days.go_to(date(2026, 1, 20))
    buy(ledger, "O-1", "1234.55")
    days.go_to(date(2026, 2, 2))
    assert statement(store, "S2026-02").minimum_payment == M("123.46")


def demo_january(ledger: Ledger, days: BusinessDays) -> None:
    """The demo borrower's January: 1,299.00 + 356.80 + 2,400.00 of which 400.00 refunded
    before the statement; new purchases on the 1 Feb statement 3,655.80."""
    open_line(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", "1299")
    days.go_to(date(2026, 1, 12))
    buy(ledger, "O-2", "356.80")
    days.go_to(date(2026, 1, 20))
    buy(ledger, "O-3", "2400")
    days.go_to(date(2026, 1, 25))
    ledger.refund(LINE, "O-3", M("400"), key="refund-O-3")


def test_paying_exactly_the_minimum_keeps_the_account_current(
        ledger: Ledger, days: BusinessDays, store: EventStore) -> None:
    demo_january(ledger, days)
    days.go_to(date(2026, 2, 8))
    issued = statement(store, "S2026-02")
    # 1,299.00 + 356.80 + (2,400.00 − 400.00) = 3,655.80; minimum 10% = 365.58.
    assert issued.purchases == M("3655.80")
    assert issued.minimum_payment == M("365.58")
    assert [(i.on, i.kind, i.reference, i.amount.fen) for i in issued.line_items] == [
        (date(2026, 1, 5), "purchase", "O-1", 129_900),
        (date(2026, 1, 12), "purchase", "O-2", 35_680),
        (date(2026, 1, 20), "purchase", "O-3", 240_000),
        (date(2026, 1, 25), "refund", "O-3", -40_000)]  # dated the day it was refunded

    ledger.repay(LINE, "R-feb", M("365.58"), key="R-feb")
    days.go_to(date(2026, 2, 12))
    state = ledger.credit_line(LINE)
    # Exactly the minimum was paid: not past due on the 11th, still M0.
    assert state.days_past_due(date(2026, 2, 11)) == 0
    assert state.bucket == "M0"


def test_penalty_accrues_on_what_is_unpaid_after_the_due_day(
        ledger: Ledger, days: BusinessDays, store: EventStore) -> None:
    demo_january(ledger, days)
    days.go_to(date(2026, 2, 8))
    ledger.repay(LINE, "R-feb", M("365.58"), key="R-feb")
    # Unpaid after the due day: 3,655.80 − 365.58 = 3,290.22.
    days.go_to(date(2026, 3, 9))
    # Posted on the 1 Mar statement: one day's penalty for each day after the due day up
    # to and including 1 Mar (11 Feb – 1 Mar, 19 days, as days past due count them):
    # 3,290.22 × 0.05% × 19 = 31.25709 → 31.26.
    assert penalties(store) == [
        ("S2026-02", 3_126, 329_022, date(2026, 2, 10), date(2026, 3, 1))]
    march = statement(store, "S2026-03")
    assert march.previous_balance == M("3321.48")  # 3,290.22 + 31.26
    # No new purchases, but the minimum covers carried balances like a card's:
    # 10% × 3,290.22 = 329.022 → 329.02, plus the penalty in full: 329.02 + 31.26 = 360.28.
    assert march.minimum_payment == M("360.28")
    assert [(i.on, i.kind, i.amount.fen) for i in march.line_items] == [
        (date(2026, 3, 1), "penalty interest", 3_126)]

    # Paying off on 9 Mar posts 3,290.22 × 0.05% × 8 days (2–9 Mar) = 13.16088 → 13.16
    # first; everything owed is 3,290.22 + 31.26 + 13.16 = 3,334.64, penalty paid first.
    state = ledger.credit_line(LINE)
    assert credit_line.amount_due(state, date(2026, 3, 9)) == 333_464
    assert allocations(ledger, "R-mar", "3334.64") == [
        ("S2026-02", "penalty", 4_442), ("S2026-02", "principal", 329_022)]
    assert penalties(store)[-1] == (
        "S2026-02", 1_316, 329_022, date(2026, 3, 1), date(2026, 3, 9))
    days.go_to(date(2026, 5, 1))
    assert len(penalties(store)) == 2  # nothing left to accrue on
    assert ledger.credit_line(LINE).statement_balance() == 0


def test_one_fen_short_of_the_minimum_is_past_due_from_the_day_after_the_due_day(
        ledger: Ledger, days: BusinessDays, store: EventStore) -> None:
    # Statement 1,000.00, minimum 100.00; 99.99 paid on 8 Feb.
    open_line(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", "1000")
    days.go_to(date(2026, 2, 8))
    ledger.repay(LINE, "R-1", M("99.99"), key="R-1")
    state = ledger.credit_line(LINE)
    assert state.days_past_due(date(2026, 2, 10)) == 0  # the due day is still on time
    assert state.days_past_due(date(2026, 2, 11)) == 1
    days.go_to(date(2026, 2, 12))
    assert ledger.credit_line(LINE).bucket == "M1"

    # The missing 0.01 on 12 Feb: penalty 900.01 × 0.05% × 2 days (11 and 12 Feb)
    # = 0.90001 → 0.90 is posted first and the fen pays part of it (penalty before
    # principal) — it still counts toward the minimum, which is now met: current again.
    assert allocations(ledger, "R-2", "0.01") == [("S2026-02", "penalty", 1)]
    assert penalties(store) == [
        ("S2026-02", 90, 90_001, date(2026, 2, 10), date(2026, 2, 12))]
    days.close_today()
    assert ledger.credit_line(LINE).bucket == "M0"


@pytest.mark.parametrize(("march_payment", "past_due_on_11_march"),
                         [("148.55", 0), ("148.54", 1)])
def test_paying_each_months_minimum_keeps_the_line_current(
        ledger: Ledger, days: BusinessDays, store: EventStore, march_payment: str,
        past_due_on_11_march: int) -> None:
    # February: statement 1,000.00, minimum 100.00, exactly 100.00 paid on 8 Feb.
    # March: 500.00 bought 15 Feb; the 1 Mar statement bills it and posts February's
    # penalty, 900.00 × 0.05% × 19 days (11 Feb – 1 Mar) = 8.55. Its minimum is 10% of
    # all revolving principal, new and carried, plus the penalty in full:
    # 10% × (500.00 + 900.00) + 8.55 = 148.55.
    open_line(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", "1000")
    days.go_to(date(2026, 2, 8))
    ledger.repay(LINE, "R-feb", M("100"), key="R-feb")
    days.go_to(date(2026, 2, 15))
    buy(ledger, "O-2", "500")
    days.go_to(date(2026, 3, 8))
    assert statement(store, "S2026-03").minimum_payment == M("148.55")
    # The payment on 8 Mar goes, oldest first, to February: penalty 8.55 + 900.00 × 0.05%
    # × 7 days (2–8 Mar) = 3.15, i.e. 11.70, then principal. It still counts toward
    # March's minimum, the one that is not yet met: 148.55 meets it, 148.54 does not.
    slices = allocations(ledger, "R-mar", march_payment)
    assert slices[0] == ("S2026-02", "penalty", 1_170)
    assert {item for item, _, _ in slices} == {"S2026-02"}
    state = ledger.credit_line(LINE)
    assert state.days_past_due(date(2026, 3, 10)) == 0
    assert state.days_past_due(date(2026, 3, 11)) == past_due_on_11_march


def test_paying_one_minimum_and_then_nothing_goes_past_due_on_the_next_statement(
        ledger: Ledger, days: BusinessDays) -> None:
    # 1,000.00 billed 1 Feb, the 100.00 minimum paid, then nothing: the 1 Mar statement
    # asks 10% of the carried 900.00 plus the penalty (900.00 × 0.05% × 19 days = 8.55),
    # 98.55, by 10 Mar. Missing it makes the line past due from 11 Mar.
    open_line(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", "1000")
    days.go_to(date(2026, 2, 8))
    ledger.repay(LINE, "R-feb", M("100"), key="R-feb")
    days.go_to(date(2026, 3, 12))
    state = ledger.credit_line(LINE)
    assert state.statements["S2026-03"].minimum_payment == 9_855
    assert state.days_past_due(date(2026, 3, 12)) == 2
    assert state.bucket == "M1"


# ---- the limit: pending orders, InsufficientLimit, limit changes --------------------------


def test_pending_orders_occupy_the_limit_and_an_order_beyond_it_writes_nothing(
        ledger: Ledger, days: BusinessDays, store: EventStore) -> None:
    open_line(ledger)
    buy(ledger, "O-1", "6000", settle=False)  # paid on the line, merchant not settled yet
    state = ledger.credit_line(LINE)
    assert state.pending_total() == 600_000
    assert state.available_limit() == 400_000  # 10,000.00 − 6,000.00 pending

    before = store.last_position()
    with pytest.raises(InsufficientLimit):
        buy(ledger, "O-2", "4000.01", settle=False)
    assert store.last_position() == before
    assert "O-2" not in ledger.credit_line(LINE).orders

    buy(ledger, "O-2", "4000", settle=False)  # exactly the available limit is fine
    assert ledger.credit_line(LINE).available_limit() == 0
    with pytest.raises(InsufficientLimit):
        buy(ledger, "O-3", "0.01", settle=False)


def test_limit_change_up_and_down_even_below_what_is_in_use(
        ledger: Ledger, days: BusinessDays) -> None:
    open_line(ledger)
    buy(ledger, "O-1", "6000")
    # Lowered to 5,000.00 while 6,000.00 is in use: allowed, but nothing new fits.
    ledger.change_limit(LINE, M("5000"), "risk review", key="limit-down")
    assert ledger.credit_line(LINE).available_limit() == 0
    with pytest.raises(InsufficientLimit):
        buy(ledger, "O-2", "0.01")
    # Raised to 12,000.00: 12,000.00 − 6,000.00 = 6,000.00 available.
    ledger.change_limit(LINE, M("12000"), "good behaviour", key="limit-up")
    assert ledger.credit_line(LINE).available_limit() == 600_000
    # The same limit again changes nothing and appends nothing.
    assert ledger.change_limit(LINE, M("12000"), "again", key="limit-same").events == {}
    with pytest.raises(InvalidAmount, match="negative"):
        ledger.change_limit(LINE, M("-1"), "bad", key="limit-negative")


# ---- refunds --------------------------------------------------------------------------------


def test_refund_of_a_pending_order_reduces_what_the_merchant_settles(
        ledger: Ledger, days: BusinessDays, store: EventStore) -> None:
    open_line(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", "500", settle=False)
    result = ledger.refund(LINE, "O-1", M("200"), key="refund-1")
    (refunded,) = result.of_type(PurchaseRefunded)
    assert isinstance(refunded, PurchaseRefunded)
    assert (refunded.stage, refunded.to_credit_balance) == ("pending", M("0"))
    assert ledger.credit_line(LINE).available_limit() == 970_000  # 10,000 − (500 − 200)

    ledger.settle(LINE, "O-1", key="settle-1")
    (settled,) = events_of(store, LINE, PurchaseSettled)
    assert settled.amount == M("300")
    days.go_to(date(2026, 2, 2))
    issued = statement(store, "S2026-02")
    assert issued.purchases == M("300")
    assert issued.minimum_payment == M("30")


def test_a_pending_order_refunded_in_full_cannot_settle_and_is_never_billed(
        ledger: Ledger, days: BusinessDays, store: EventStore) -> None:
    open_line(ledger)
    buy(ledger, "O-1", "500", settle=False)
    ledger.refund(LINE, "O-1", M("500"), key="refund-1")
    assert ledger.credit_line(LINE).available_limit() == 1_000_000
    with pytest.raises(InvalidCommand, match="refunded in full"):
        ledger.settle(LINE, "O-1", key="settle-1")
    with pytest.raises(InvalidCommand, match="exceeds"):
        ledger.refund(LINE, "O-1", M("0.01"), key="refund-2")
    days.go_to(date(2026, 2, 2))
    assert events_of(store, LINE, StatementIssued) == []


def test_partial_refund_of_an_unbilled_purchase_bills_only_the_rest(
        ledger: Ledger, days: BusinessDays, store: EventStore) -> None:
    # 800.00 settled on 5 Jan, 300.00 refunded on 20 Jan: 500.00 billed, minimum 50.00.
    open_line(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", "800")
    days.go_to(date(2026, 1, 20))
    ledger.refund(LINE, "O-1", M("300"), key="refund-1")
    assert ledger.credit_line(LINE).available_limit() == 950_000
    days.go_to(date(2026, 2, 2))
    issued = statement(store, "S2026-02")
    assert (issued.purchases, issued.minimum_payment) == (M("500"), M("50"))
    assert [(i.kind, i.amount.fen) for i in issued.line_items] == [
        ("purchase", 80_000), ("refund", -30_000)]


def test_refund_of_an_unbilled_purchase_already_repaid_becomes_a_credit_balance(
        ledger: Ledger, days: BusinessDays, store: EventStore) -> None:
    # 1,000.00 settled 5 Jan and repaid early on 10 Jan; 400.00 refunded on 12 Jan:
    # nothing is left to reduce, so the 400.00 comes back as a credit balance and the
    # statement shows 1,000.00 − 400.00 − 600.00 = 0.00 of new purchases.
    open_line(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", "1000")
    days.go_to(date(2026, 1, 10))
    ledger.repay(LINE, "R-1", M("1000"), key="R-1")
    days.go_to(date(2026, 1, 12))
    result = ledger.refund(LINE, "O-1", M("400"), key="refund-1")
    (refunded,) = result.of_type(PurchaseRefunded)
    assert isinstance(refunded, PurchaseRefunded)
    assert (refunded.stage, refunded.to_credit_balance) == ("unbilled", M("400"))
    state = ledger.credit_line(LINE)
    assert (state.credit_balance, state.available_limit()) == (40_000, 1_000_000)
    days.go_to(date(2026, 2, 2))
    issued = statement(store, "S2026-02")
    assert (issued.purchases, issued.minimum_payment) == (M("0"), M("0"))
    assert [(i.on, i.kind, i.amount.fen) for i in issued.line_items] == [
        (date(2026, 1, 5), "purchase", 100_000),
        (date(2026, 1, 10), "early repayment", -60_000),
        (date(2026, 1, 12), "refund", -40_000)]


def test_refund_of_a_billed_purchase_reduces_the_statement_and_the_excess_is_a_credit(
        ledger: Ledger, days: BusinessDays, store: EventStore) -> None:
    # Statement 1 Feb: 600.00 + 400.00 = 1,000.00, minimum 100.00. 700.00 paid on 5 Feb
    # leaves 300.00. Refunding all 600.00 of O-1 on 6 Feb clears the 300.00 still owed and
    # the other 300.00 (already paid) becomes a credit balance.
    open_line(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", "600")
    buy(ledger, "O-2", "400")
    days.go_to(date(2026, 2, 5))
    ledger.repay(LINE, "R-1", M("700"), key="R-1")
    days.go_to(date(2026, 2, 6))
    result = ledger.refund(LINE, "O-1", M("600"), key="refund-1")
    (refunded,) = result.of_type(PurchaseRefunded)
    assert isinstance(refunded, PurchaseRefunded)
    assert (refunded.stage, refunded.statement_id) == ("billed", "S2026-02")
    assert refunded.to_credit_balance == M("300")
    state = ledger.credit_line(LINE)
    assert state.statement_balance() == 0
    assert state.credit_balance == 30_000
    assert state.available_limit() == 1_000_000

    # The credit balance is paid back on request, once.
    result = ledger.refund_credit_balance(LINE, key="credit-back")
    assert [e.amount for e in result.of_type(CreditBalanceRefunded)
            if isinstance(e, CreditBalanceRefunded)] == [M("300")]
    assert ledger.credit_line(LINE).credit_balance == 0
    with pytest.raises(InvalidCommand, match="no credit balance"):
        ledger.refund_credit_balance(LINE, key="credit-back-again")
    days.go_to(date(2026, 3, 2))
    assert penalties(store) == []


def test_partial_refund_of_a_billed_purchase_after_the_due_day(
        ledger: Ledger, days: BusinessDays, store: EventStore) -> None:
    # Statement 1,000.00 (minimum 100.00), nothing paid: past due from 11 Feb.
    open_line(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", "1000")
    days.go_to(date(2026, 2, 15))
    assert ledger.credit_line(LINE).bucket == "M1"
    # The refund of 250.00 on 15 Feb first posts the penalty on the old base:
    # 1,000.00 × 0.05% × 5 days (11–15 Feb) = 2.50; then the statement owes 750.00.
    ledger.refund(LINE, "O-1", M("250"), key="refund-1")
    assert penalties(store) == [
        ("S2026-02", 250, 100_000, date(2026, 2, 10), date(2026, 2, 15))]
    state = ledger.credit_line(LINE)
    assert state.statements["S2026-02"].principal == 75_000
    # A refund credit on the statement counts toward its minimum: 250.00 ≥ 100.00.
    assert state.days_past_due(date(2026, 2, 15)) == 0
    days.go_to(date(2026, 3, 2))
    assert ledger.credit_line(LINE).bucket == "M0"
    # 750.00 × 0.05% × 14 days (16 Feb – 1 Mar) = 5.25 on the 1 Mar statement.
    assert penalties(store)[-1] == (
        "S2026-02", 525, 75_000, date(2026, 2, 15), date(2026, 3, 1))
    assert statement(store, "S2026-03").previous_balance == M("757.75")  # 750 + 2.50 + 5.25


# ---- instalment conversion -------------------------------------------------------------------

# 3,001.00 into n instalments with the default fees; fee = round_half_up(300,100 fen × rate):
#   3 × 2.3%: 6,902.3 → 69.02;  6 × 4.5%: 13,504.5 → 135.05;
#   9 × 6.5%: 19,506.5 → 195.07; 12 × 7.5%: 22,507.5 → 225.08.
# Principal and fee split evenly, the remainder fen on period 1:
#   300,100 / 3 = 100,033 r 1;  6,902 / 3 = 2,300 r 2
#   300,100 / 6 = 50,016 r 4;   13,505 / 6 = 2,250 r 5
#   300,100 / 9 = 33,344 r 4;   19,507 / 9 = 2,167 r 4
#   300,100 / 12 = 25,008 r 4;  22,508 / 12 = 1,875 r 8
CONVERSIONS = [
    (3, "0.023", 6_902, [100_034] + [100_033] * 2, [2_302] + [2_300] * 2),
    (6, "0.045", 13_505, [50_020] + [50_016] * 5, [2_255] + [2_250] * 5),
    (9, "0.065", 19_507, [33_348] + [33_344] * 8, [2_171] + [2_167] * 8),
    (12, "0.075", 22_508, [25_012] + [25_008] * 11, [1_883] + [1_875] * 11),
]
# The APR disclosed with each plan, by the IRR method (monthly IRR × 12), as numpy-
# financial's irr gives it for [1, −(1 + fee)/n × n]: 13.75%, 15.27%, 15.34%, 13.57%.
DISCLOSED_APR = {3: "0.1375", 6: "0.1527", 9: "0.1534", 12: "0.1357"}


@pytest.mark.parametrize(("periods", "rate", "fee", "principal_parts", "fee_parts"),
                         CONVERSIONS, ids=[f"{c[0]} periods" for c in CONVERSIONS])
def test_statement_converted_into_instalments_with_the_default_fees(
        ledger: Ledger, days: BusinessDays, store: EventStore, periods: int, rate: str,
        fee: int, principal_parts: list[int], fee_parts: list[int]) -> None:
    open_line(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", "3001")
    days.go_to(date(2026, 2, 5))
    assert statement(store, "S2026-02").minimum_payment == M("300.10")
    ledger.convert_statement(LINE, "S2026-02", periods, "P-1", key="convert")
    (plan,) = events_of(store, LINE, InstalmentPlanCreated)
    assert (plan.principal, plan.periods, plan.total_fee_rate) == (M("3001"), periods,
                                                                   Decimal(rate))
    assert sum(plan.fee_per_period) == fee
    assert list(plan.principal_per_period) == principal_parts
    assert list(plan.fee_per_period) == fee_parts

    # The statement now owes nothing and its minimum drops by 10% × 3,001.00 = 300.10 to
    # 0.00, so it can neither go past due nor accrue penalty. The plan principal still
    # occupies the limit: 10,000.00 − 3,001.00 = 6,999.00 available.
    state = ledger.credit_line(LINE)
    assert state.statements["S2026-02"].principal == 0
    assert state.statements["S2026-02"].minimum_payment == 0
    assert state.plan_principal() == 300_100
    assert state.available_limit() == 699_900
    days.go_to(date(2026, 3, 2))
    assert penalties(store) == []
    # Period 1 is billed on the next statement, and is all of its minimum.
    march = statement(store, "S2026-03")
    assert march.instalment_principal.fen == principal_parts[0]
    assert march.instalment_fees.fen == fee_parts[0]
    assert march.minimum_payment.fen == principal_parts[0] + fee_parts[0]
    assert march.purchases == M("0")
    assert [(i.on, i.kind, i.description) for i in march.line_items] == [
        (date(2026, 3, 1), "instalment", f"period 1/{periods}"),
        (date(2026, 3, 1), "instalment fee", f"period 1/{periods}")]


@pytest.mark.parametrize(("periods", "rate", "fee", "principal_parts", "fee_parts"),
                         CONVERSIONS, ids=[f"{c[0]} periods" for c in CONVERSIONS])
def test_purchase_converted_into_instalments_with_the_default_fees(
        ledger: Ledger, days: BusinessDays, store: EventStore, periods: int, rate: str,
        fee: int, principal_parts: list[int], fee_parts: list[int]) -> None:
    # The same 3,001.00 converted as a single purchase before any statement: it never
    # appears as a new purchase; period 1 is on the 1 Feb statement, the last one on the
    # statement ``periods`` months on, and then the plan is done.
    open_line(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", "3001")
    ledger.convert_purchase(LINE, "O-1", periods, "P-1", key="convert")
    (plan,) = events_of(store, LINE, InstalmentPlanCreated)
    assert (plan.source, plan.total_fee_rate) == ("order:O-1", Decimal(rate))
    assert plan.apr.quantize(Decimal("0.0001")) == Decimal(DISCLOSED_APR[periods])
    assert list(plan.principal_per_period) == principal_parts
    assert list(plan.fee_per_period) == fee_parts
    assert sum(plan.fee_per_period) == fee
    assert ledger.credit_line(LINE).available_limit() == 699_900

    billed = []
    for month in range(2, 2 + periods + 1):
        days.go_to(date(2026 + (month - 1) // 12, (month - 1) % 12 + 1, 10))
        state = ledger.credit_line(LINE)
        due = credit_line.amount_due(state, days.today)
        billed.append(due)
        if due:
            ledger.repay(LINE, f"R-{month}", Money(due), key=f"R-{month}")
    # Each statement bills exactly one period, principal + fee; the one after the last
    # period bills nothing (and is not even issued).
    assert billed == [p + f for p, f in zip(principal_parts, fee_parts, strict=True)] + [0]
    assert all(s.purchases == M("0") for s in events_of(store, LINE, StatementIssued))
    assert ledger.credit_line(LINE).available_limit() == 1_000_000


def test_a_purchase_converted_into_six_instalments_occupies_then_releases_the_limit(
        ledger: Ledger, days: BusinessDays, store: EventStore) -> None:
    # 6,000.00 phone bought 16 Jan, converted into 6 at 4.5%: fee 270.00, 45.00 a period,
    # principal 1,000.00 a period, billed on the 1 Feb, 1 Mar, ... statements.
    open_line(ledger)
    days.go_to(date(2026, 1, 16))
    buy(ledger, "O-4", "6000")
    ledger.convert_purchase(LINE, "O-4", 6, "P-phone", key="convert")
    (plan,) = events_of(store, LINE, InstalmentPlanCreated)
    assert plan.source == "order:O-4"
    assert plan.principal_per_period == (100_000,) * 6
    assert plan.fee_per_period == (4_500,) * 6
    assert ledger.credit_line(LINE).available_limit() == 400_000

    for month, available_after_billing, available_after_paying in [
            (2, 400_000, 500_000), (3, 500_000, 600_000), (4, 600_000, 700_000)]:
        days.go_to(date(2026, month, 2))
        issued = statement(store, f"S2026-{month:02d}")
        # The converted order is not a new purchase; minimum = 1,000.00 + 45.00.
        assert (issued.purchases, issued.billed_orders) == (M("0"), ())
        assert issued.minimum_payment == M("1045")
        assert issued.billed_plans == ("P-phone",)
        # Billing moves 1,000.00 from plan to statement: still occupied...
        assert ledger.credit_line(LINE).available_limit() == available_after_billing
        days.go_to(date(2026, month, 10))
        ledger.repay(LINE, f"R-{month}", M("1045"), key=f"R-{month}")
        # ...until it is repaid.
        assert ledger.credit_line(LINE).available_limit() == available_after_paying
    assert ledger.credit_line(LINE).plans["P-phone"].unbilled_principal == 300_000


def test_conversion_is_refused_when_it_is_not_offered(
        ledger: Ledger, days: BusinessDays, store: EventStore) -> None:
    open_line(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", "1000")
    buy(ledger, "O-2", "500", settle=False)
    with pytest.raises(InvalidCommand, match="not offered"):
        ledger.convert_purchase(LINE, "O-1", 4, "P-1", key="c-4")
    with pytest.raises(NotConvertible, match="pending"):
        ledger.convert_purchase(LINE, "O-2", 3, "P-2", key="c-pending")
    days.go_to(date(2026, 2, 11))
    with pytest.raises(NotConvertible, match="too late"):
        ledger.convert_statement(LINE, "S2026-02", 3, "P-3", key="c-late")
    with pytest.raises(NotConvertible):
        ledger.convert_statement(LINE, "S2026-01", 3, "P-4", key="c-unknown")
    assert events_of(store, LINE, InstalmentPlanCreated) == []


def test_partial_refund_of_a_converted_purchase_shortens_the_plan(
        ledger: Ledger, days: BusinessDays, store: EventStore) -> None:
    # 1,200.00 converted into 3 at 2.3%: fee 27.60 → 9.20 a period; 400.00 a period.
    # 500.00 refunded before anything is billed comes off the last periods: period 3
    # (400.00) goes and period 2 drops to 300.00; a period with no principal left carries
    # no fee either, so the plan bills 400.00 + 9.20 and then 300.00 + 9.20.
    open_line(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", "1200")
    ledger.convert_purchase(LINE, "O-1", 3, "P-1", key="convert")
    days.go_to(date(2026, 1, 20))
    result = ledger.refund(LINE, "O-1", M("500"), key="refund-1")
    (refunded,) = result.of_type(PurchaseRefunded)
    assert isinstance(refunded, PurchaseRefunded)
    assert (refunded.stage, refunded.plan_id, refunded.to_credit_balance) == (
        "plan", "P-1", M("0"))
    assert ledger.credit_line(LINE).available_limit() == 930_000  # 10,000 − 700
    days.go_to(date(2026, 4, 2))
    billed = [(s.statement_id, s.instalment_principal.fen, s.instalment_fees.fen)
              for s in events_of(store, LINE, StatementIssued)]
    assert billed[:2] == [("S2026-02", 40_000, 920), ("S2026-03", 30_000, 920)]
    assert all(s.instalment_principal.fen == 0 for s in
               events_of(store, LINE, StatementIssued)[2:])


def test_full_refund_of_a_converted_purchase_ends_the_plan(
        ledger: Ledger, days: BusinessDays, store: EventStore) -> None:
    # Refunding all 1,200.00 before period 1 is billed reverses the purchase: no
    # instalment, no fee, no statement; the whole limit is free again.
    open_line(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", "1200")
    ledger.convert_purchase(LINE, "O-1", 3, "P-1", key="convert")
    ledger.refund(LINE, "O-1", M("1200"), key="refund-1")
    state = ledger.credit_line(LINE)
    assert state.available_limit() == 1_000_000
    assert state.running_plans() == []
    days.go_to(date(2026, 4, 2))
    assert events_of(store, LINE, StatementIssued) == []


def test_refund_of_a_converted_purchase_also_reverses_its_billed_unpaid_period(
        ledger: Ledger, days: BusinessDays) -> None:
    # 1,200.00 in 3 periods; period 1 (400.00 + 9.20) billed on 1 Feb and not paid; the
    # whole purchase refunded on 5 Feb: 800.00 comes off the two unbilled periods (their
    # fees are never charged) and 400.00 off period 1's billed principal. As with 花呗,
    # the fee of a period already billed stays owed: 9.20, due 10 Feb like the rest.
    open_line(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", "1200")
    ledger.convert_purchase(LINE, "O-1", 3, "P-1", key="convert")
    days.go_to(date(2026, 2, 5))
    result = ledger.refund(LINE, "O-1", M("1200"), key="refund-1")
    (refunded,) = result.of_type(PurchaseRefunded)
    assert isinstance(refunded, PurchaseRefunded)
    assert (refunded.to_plan, refunded.to_credit_balance) == (M("800"), M("0"))
    assert refunded.reversals == (Allocation("S2026-02", "principal", M("400")),)
    state = ledger.credit_line(LINE)
    assert state.statement_balance() == 920 and state.credit_balance == 0
    assert not state.plans["P-1"].running
    assert state.available_limit() == state.limit
    ledger.repay(LINE, "R-fee", M("9.20"), key="R-fee")
    days.go_to(date(2026, 2, 12))
    assert ledger.credit_line(LINE).bucket == "M0"


def test_refund_of_a_purchase_on_a_converted_statement_reduces_the_plan(
        ledger: Ledger, days: BusinessDays) -> None:
    # 1,200.00 billed on 1 Feb and converted into 3 periods (fee 2.3% = 27.60). A refund
    # of 500.00 cannot come off the statement (nothing left there): it comes off the
    # plan's unbilled principal, last period first (400 + 100), and the fee of the period
    # refunded away goes with it. The full refund ends the plan; nothing is credited.
    open_line(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", "1200")
    days.go_to(date(2026, 2, 5))
    ledger.convert_statement(LINE, "S2026-02", 3, "P-1", key="convert")
    ledger.refund(LINE, "O-1", M("500"), key="refund-1")
    plan = ledger.credit_line(LINE).plans["P-1"]
    assert plan.principal_left == [40_000, 30_000]
    assert plan.fee_left == [920, 920]
    ledger.refund(LINE, "O-1", M("700"), key="refund-2")
    state = ledger.credit_line(LINE)
    assert state.plan_principal() == 0 and not state.plans["P-1"].running
    assert state.credit_balance == 0
    assert state.available_limit() == state.limit


# ---- repayments: early, over, credit balance ----------------------------------------------------


def test_repayment_before_billing_prepays_unbilled_purchases_oldest_first(
        ledger: Ledger, days: BusinessDays, store: EventStore) -> None:
    # O-1 1,000.00 (5 Jan) and O-2 500.00 (8 Jan), 1,200.00 repaid on 10 Jan:
    # O-1 is prepaid in full, O-2 by 200.00; the statement bills 300.00, minimum 30.00.
    open_line(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", "1000")
    days.go_to(date(2026, 1, 8))
    buy(ledger, "O-2", "500")
    days.go_to(date(2026, 1, 10))
    assert allocations(ledger, "R-1", "1200") == [
        ("unbilled:O-1", "principal", 100_000), ("unbilled:O-2", "principal", 20_000)]
    assert ledger.credit_line(LINE).available_limit() == 970_000
    days.go_to(date(2026, 2, 2))
    issued = statement(store, "S2026-02")
    assert (issued.purchases, issued.minimum_payment) == (M("300"), M("30"))
    # Lines in date order: the two purchases, then both early repayments of 10 Jan.
    assert [(i.on, i.kind, i.reference, i.amount.fen) for i in issued.line_items] == [
        (date(2026, 1, 5), "purchase", "O-1", 100_000),
        (date(2026, 1, 8), "purchase", "O-2", 50_000),
        (date(2026, 1, 10), "early repayment", "O-1", -100_000),
        (date(2026, 1, 10), "early repayment", "O-2", -20_000)]


def test_overpayment_becomes_a_credit_balance_that_can_be_refunded(
        ledger: Ledger, days: BusinessDays, store: EventStore) -> None:
    # Statement 1,000.00; 1,200.00 paid on 5 Feb: 1,000.00 to the statement, 200.00 over.
    open_line(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", "1000")
    days.go_to(date(2026, 2, 5))
    result = ledger.repay(LINE, "R-1", M("1200"), key="R-1")
    (received,) = result.of_type(RepaymentReceived)
    assert isinstance(received, RepaymentReceived)
    assert received.allocations == (Allocation("S2026-02", "principal", M("1000")),)
    assert received.to_credit_balance == M("200")
    assert ledger.credit_line(LINE).credit_balance == 20_000
    ledger.refund_credit_balance(LINE, key="credit-back")
    (back,) = events_of(store, LINE, CreditBalanceRefunded)
    assert back.amount == M("200")
    assert ledger.credit_line(LINE).credit_balance == 0


def test_a_repeated_repayment_key_pays_once(ledger: Ledger, days: BusinessDays) -> None:
    open_line(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", "1000")
    days.go_to(date(2026, 2, 5))
    first = ledger.repay(LINE, "R-1", M("300"), key="R-1")
    again = ledger.repay(LINE, "R-1", M("300"), key="R-1")
    assert not first.duplicate and again.duplicate
    assert again.positions == first.positions
    assert ledger.credit_line(LINE).statement_balance() == 70_000


# ---- account states ----------------------------------------------------------------------------


def test_a_frozen_line_refuses_purchases_but_takes_repayments(
        ledger: Ledger, days: BusinessDays, store: EventStore) -> None:
    open_line(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", "1000")
    ledger.freeze(LINE, "suspected fraud", key="freeze")
    before = store.last_position()
    with pytest.raises(AccountNotActive):
        buy(ledger, "O-2", "10")
    with pytest.raises(AccountNotActive):
        ledger.convert_purchase(LINE, "O-1", 3, "P-1", key="convert")
    assert store.last_position() == before
    ledger.repay(LINE, "R-1", M("100"), key="R-1")  # prepays O-1 by 100.00
    ledger.unfreeze(LINE, "cleared", key="unfreeze")
    buy(ledger, "O-2", "10")
    assert ledger.credit_line(LINE).available_limit() == 1_000_000 - 90_000 - 1_000


def test_a_closed_line_refuses_purchases_repayments_and_refunds(
        ledger: Ledger, store: EventStore) -> None:
    open_line(ledger)
    buy(ledger, "O-1", "100", settle=False)
    ledger.refund(LINE, "O-1", M("100"), key="refund-1")
    # There is no closure command in the ledger yet: the closure workflow appends the
    # event, as here.
    closed = AccountClosed("customer asked", date(2026, 1, 1))
    store.append([StreamWrite(LINE, ledger.credit_line(LINE).version, [NewEvent(
        "7f4c1f0e-0000-4000-8000-000000000001", closed.type_name, closed.schema_version,
        encode_event(closed), "2026-01-01T10:00:00+08:00", "test")])])
    before = store.last_position()
    with pytest.raises(AccountNotActive):
        buy(ledger, "O-2", "10")
    with pytest.raises(AccountNotActive):
        ledger.repay(LINE, "R-1", M("10"), key="R-1")
    with pytest.raises(AccountNotActive):
        ledger.change_limit(LINE, M("20000"), "upsell", key="limit")
    assert store.last_position() == before


def test_items_on_a_statement_are_dated_and_the_new_balance_adds_up(
        ledger: Ledger, days: BusinessDays, store: EventStore) -> None:
    # A statement with everything on it: 500.00 carried from February with its penalty,
    # a purchase and an instalment period.
    open_line(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", "500")
    days.go_to(date(2026, 2, 3))
    buy(ledger, "O-2", "1200")
    ledger.convert_purchase(LINE, "O-2", 3, "P-1", key="convert")
    days.go_to(date(2026, 2, 20))
    buy(ledger, "O-3", "80")
    days.go_to(date(2026, 3, 2))
    march = statement(store, "S2026-03")
    # February penalty on the unpaid 500.00: 500.00 × 0.05% × 19 days (11 Feb – 1 Mar)
    # = 4.75.
    assert march.previous_balance == M("504.75")
    assert march.purchases == M("80")
    assert (march.instalment_principal, march.instalment_fees) == (M("400"), M("9.20"))
    # Minimum: 10% × (80.00 new + 500.00 carried) + 400.00 + 9.20 + the 4.75 penalty
    # = 58.00 + 413.95 = 471.95.
    assert march.minimum_payment == M("471.95")
    assert march.line_items == (
        LineItem(date(2026, 2, 20), "purchase", "O-3", "JD.com", M("80")),
        LineItem(date(2026, 3, 1), "penalty interest", "S2026-02",
                 "19 days on CNY 500.00", M("4.75")),
        LineItem(date(2026, 3, 1), "instalment", "P-1", "period 1/3", M("400")),
        LineItem(date(2026, 3, 1), "instalment fee", "P-1", "period 1/3", M("9.20")),
    )
