"""The instalment cash loan (借呗), rule by rule, as worked examples.

Conventions every example below relies on (PRODUCT.md, defaults of ``CashLoanTerms``):

- Daily rate 0.04%; the disclosed plan uses 30-day months, so its monthly rate is
  0.04% × 30 = 1.2%. Instalments fall due on the drawdown's day of the month.
- Interest accrues daily by ACTUAL days on the principal not yet due, simple, on a
  constant base over [from, to) and is posted at each due date (and at early repayment),
  rounded half-up to the fen: 10,000.00 drawn 1 Jan pays 31 days to 1 Feb, 124.00;
  drawn 1 Apr it pays 30 days to 1 May, 120.00.
- Equal instalments (等额本息): each instalment is the level payment
  P·r / (1 − (1 + r)^−n) of the disclosed plan; the principal due is the level payment
  less the interest posted; the last instalment clears the rest.
  Equal principal (等额本金): the planned principal P // n (remainder on the last) plus
  the interest posted. Interest first (先息后本): interest only, all principal at the end.
- Early repayment, full or partial, costs interest for the days used only; after a
  partial one the borrower keeps the instalment and shortens the term (shorter_term) or
  keeps the term with a smaller instalment (smaller_instalment).
- Principal unpaid after its due date accrues penalty at 1.5 × 0.04% = 0.06% a day from
  the day after the due date, posted (over [from, to)) when money arrives or at write-off.
- A repayment pays each fallen-due instalment, oldest first, penalty → fee → interest →
  principal.

Every scenario is replayed from the log at the end of the test (``tests/conftest.py``).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from lendguard.errors import InsufficientLimit, InvalidCommand
from lendguard.ledger import cash_loan
from lendguard.ledger.events import (
    InstalmentFellDue,
    InterestCharged,
    LoanDrawn,
    LoanPrepaid,
    PenaltyInterestCharged,
    RepaymentReceived,
)
from lendguard.money import Money
from lendguard.service import CommandResult, Ledger
from lendguard.store.base import EventStore
from tests.conftest import BusinessDays, events_of

ACCOUNT = "CA-1"
CUSTOMER = "C-1"
M = Money.of


def open_account(ledger: Ledger, limit: str = "50000") -> None:
    ledger.open_cash_loan(ACCOUNT, CUSTOMER, M(limit), key="open-loan-account")


def draw(ledger: Ledger, loan_id: str, amount: str, months: int, method: str) -> LoanDrawn:
    result = ledger.draw(ACCOUNT, loan_id, M(amount), months, method, key=f"draw-{loan_id}")
    (drawn,) = result.of_type(LoanDrawn)
    assert isinstance(drawn, LoanDrawn)
    return drawn


def fell_due(store: EventStore) -> list[tuple[int, date, int, int]]:
    return [(e.number, e.due_date, e.principal.fen, e.interest.fen)
            for e in events_of(store, ACCOUNT, InstalmentFellDue)]


def received(result: CommandResult) -> RepaymentReceived:
    (found,) = result.of_type(RepaymentReceived)
    assert isinstance(found, RepaymentReceived)
    return found


def slices(repayment: RepaymentReceived) -> list[tuple[str, str, int]]:
    return [(a.item, a.component, a.amount.fen) for a in repayment.allocations]


# ---- drawdown -----------------------------------------------------------------------------


def test_drawdown_up_to_the_available_limit_and_not_a_fen_more(
        ledger: Ledger, store: EventStore) -> None:
    open_account(ledger)
    draw(ledger, "L-1", "30000", 12, "equal_instalment")
    assert ledger.cash_loan(ACCOUNT).available_limit() == 2_000_000  # 50,000 − 30,000

    before = store.last_position()
    with pytest.raises(InsufficientLimit):
        draw(ledger, "L-2", "20000.01", 6, "equal_principal")
    with pytest.raises(InvalidCommand, match="not offered"):
        draw(ledger, "L-2", "1000", 24, "equal_principal")
    with pytest.raises(InvalidCommand, match="unknown repayment method"):
        draw(ledger, "L-2", "1000", 6, "balloon")
    assert store.last_position() == before

    draw(ledger, "L-2", "20000", 6, "interest_first")
    assert ledger.cash_loan(ACCOUNT).available_limit() == 0


# ---- the first instalment of each method, 31-day and 30-day months -----------------------

# 10,000.00 over 12 months at 1.2% a month: 1.012^12 = 1.1538946241825859...;
# level payment 10,000 × 0.012 × 1.012^12 / (1.012^12 − 1) = 899.7543... → 899.75.
# Planned equal principal 1,000,000 fen // 12 = 83,333 → 833.33.
FIRST_INSTALMENTS = [
    # drawn,         first due,       days, interest, method,            principal
    (date(2026, 1, 1), date(2026, 2, 1), 31, 12_400, "equal_instalment", 89_975 - 12_400),
    (date(2026, 4, 1), date(2026, 5, 1), 30, 12_000, "equal_instalment", 89_975 - 12_000),
    (date(2026, 1, 1), date(2026, 2, 1), 31, 12_400, "equal_principal", 83_333),
    (date(2026, 4, 1), date(2026, 5, 1), 30, 12_000, "equal_principal", 83_333),
    (date(2026, 1, 1), date(2026, 2, 1), 31, 12_400, "interest_first", 0),
    (date(2026, 4, 1), date(2026, 5, 1), 30, 12_000, "interest_first", 0),
]


@pytest.mark.parametrize(("drawn_on", "first_due", "days_used", "interest", "method",
                          "principal"), FIRST_INSTALMENTS,
                         ids=[f"{c[4]} {c[2]}-day month" for c in FIRST_INSTALMENTS])
def test_first_instalment_by_hand(
        ledger: Ledger, days: BusinessDays, store: EventStore, drawn_on: date,
        first_due: date, days_used: int, interest: int, method: str,
        principal: int) -> None:
    # Interest: 10,000.00 × 0.04% × days = 4.00 a day: 124.00 for 31 days, 120.00 for 30.
    # Equal instalments: principal = 899.75 − interest (775.75 or 779.75);
    # equal principal: 833.33 plus the interest; interest first: the interest alone.
    days.go_to(drawn_on)
    open_account(ledger)
    drawn = draw(ledger, "L-1", "10000", 12, method)
    assert drawn.due_dates[0] == first_due
    assert drawn.level_payment == (M("899.75") if method == "equal_instalment" else M("0"))
    days.close_through(first_due)
    # Posted at the month's end (income in the month it is earned) and at the due date:
    # 31 Jan (30 days) + 1 Feb (1 day), or 30 Apr (29 days) + 1 May (1 day).
    first, second = events_of(store, ACCOUNT, InterestCharged)
    assert first.from_date == drawn_on and second.from_date == first.to_date
    assert second.to_date == first_due and (first_due - first.to_date).days == 1
    assert (second.to_date - first.from_date).days == days_used
    assert first.amount.fen + second.amount.fen == interest
    assert first.base == second.base == M("10000")
    assert fell_due(store) == [(1, first_due, principal, interest)]
    assert cash_loan.amount_due(ledger.cash_loan(ACCOUNT), first_due) == principal + interest


def test_equal_instalments_paid_on_time_and_the_last_clears_the_rest(
        ledger: Ledger, days: BusinessDays, store: EventStore) -> None:
    # 10,000.00 over 3 months from 1 Jan: 1.012^3 = 1.036433728, level payment
    # 10,000 × 0.012 × 1.036433728 / 0.036433728 = 3,413.6514 → 3,413.65.
    # Interest is posted at each month's end and on each due date, each posting rounded:
    #  1 Feb: 10,000.00 × 0.04% × 30 (to 31 Jan) = 120.00 + × 1 (1 Feb) = 4.00: 124.00;
    #         principal 3,413.65 − 124.00 = 3,289.65; 6,710.35 left.
    #  1 Mar: 6,710.35 × 0.04% × 27 (to 28 Feb) = 72.47178 → 72.47, + × 1 = 2.68414
    #         → 2.68: 75.15; principal 3,338.50; 3,371.85 left.
    #  1 Apr: 3,371.85 × 0.04% × 30 = 40.4622 → 40.46, + × 1 = 1.34874 → 1.35: 41.81;
    #         the last instalment clears the rest, 3,371.85: 3,413.66 in all.
    open_account(ledger)
    drawn = draw(ledger, "L-1", "10000", 3, "equal_instalment")
    assert drawn.level_payment == M("3413.65")
    assert drawn.due_dates == (date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1))
    for due, payment in [(date(2026, 2, 1), "3413.65"), (date(2026, 3, 1), "3413.65"),
                         (date(2026, 4, 1), "3413.66")]:
        days.go_to(due)
        # Paying on the due date itself, before close of business: it falls due first.
        assert cash_loan.amount_due(ledger.cash_loan(ACCOUNT), due) == M(payment).fen
        repayment = received(ledger.repay(ACCOUNT, f"R-{due}", M(payment), key=f"R-{due}"))
        assert repayment.to_credit_balance == M("0")
    assert fell_due(store) == [
        (1, date(2026, 2, 1), 328_965, 12_400),
        (2, date(2026, 3, 1), 333_850, 7_515),
        (3, date(2026, 4, 1), 337_185, 4_181)]
    state = ledger.cash_loan(ACCOUNT)
    assert state.loans["L-1"].is_repaid
    assert state.available_limit() == 5_000_000
    days.go_to(date(2026, 5, 2))
    # Three month ends and three due dates; nothing more accrues once repaid.
    assert len(events_of(store, ACCOUNT, InterestCharged)) == 6


# ---- early repayment --------------------------------------------------------------------


def test_early_full_repayment_mid_period_charges_only_the_days_used(
        ledger: Ledger, days: BusinessDays, store: EventStore) -> None:
    # 10,000.00 drawn 1 Apr (3 months, equal instalments), repaid in full on 16 Apr:
    # interest for 15 days (1–15 Apr) = 10,000.00 × 0.04% × 15 = 60.00; no fee.
    days.go_to(date(2026, 4, 1))
    open_account(ledger)
    draw(ledger, "L-1", "10000", 3, "equal_instalment")
    days.go_to(date(2026, 4, 16))
    assert cash_loan.payoff_quote(ledger.cash_loan(ACCOUNT), "L-1", days.today) == 1_006_000
    result = ledger.prepay(ACCOUNT, "L-1", "R-payoff", None, key="R-payoff")
    (charged,) = result.of_type(InterestCharged)
    assert isinstance(charged, InterestCharged)
    assert (charged.amount, charged.from_date, charged.to_date) == (
        M("60"), date(2026, 4, 1), date(2026, 4, 16))
    repayment = received(result)
    assert repayment.amount == M("10060")
    assert slices(repayment) == [("L-1#open", "interest", 6_000),
                                 ("L-1#prepay", "principal", 1_000_000)]
    (prepaid,) = result.of_type(LoanPrepaid)
    assert isinstance(prepaid, LoanPrepaid)
    assert (prepaid.mode, prepaid.due_dates, prepaid.principal) == ("full", (), M("10000"))

    state = ledger.cash_loan(ACCOUNT)
    assert state.loans["L-1"].is_repaid
    assert state.available_limit() == 5_000_000
    with pytest.raises(InvalidCommand, match="already repaid"):
        ledger.prepay(ACCOUNT, "L-1", "R-again", None, key="R-again")
    days.go_to(date(2026, 5, 2))
    assert fell_due(store) == []  # nothing is ever due on the repaid loan


def _six_month_loan_with_3000_prepaid(ledger: Ledger, days: BusinessDays,
                                      mode: str) -> LoanPrepaid:
    # 10,000.00 drawn 1 Apr over 6 months, equal instalments: 1.012^6 = 1.0741948725...,
    # level payment 10,000 × 0.012 × 1.0741948725 / 0.0741948725 = 1,737.3624 → 1,737.36.
    # Instalment 1 on 1 May: interest 120.00 (30 days), principal 1,617.36, paid on the
    # day; 8,382.64 left. 3,000.00 prepaid the same day (no days since the last interest
    # posting, so no interest): 5,382.64 left, 5 due dates left (1 Jun – 1 Oct).
    days.go_to(date(2026, 4, 1))
    open_account(ledger)
    drawn = draw(ledger, "L-1", "10000", 6, "equal_instalment")
    assert drawn.level_payment == M("1737.36")
    days.go_to(date(2026, 5, 1))
    ledger.repay(ACCOUNT, "R-1", M("1737.36"), key="R-1")
    result = ledger.prepay(ACCOUNT, "L-1", "R-pre", M("3000"), mode, key="R-pre")
    assert result.of_type(InterestCharged) == []
    assert slices(received(result)) == [("L-1#prepay", "principal", 300_000)]
    (prepaid,) = result.of_type(LoanPrepaid)
    assert isinstance(prepaid, LoanPrepaid)
    assert ledger.cash_loan(ACCOUNT).loans["L-1"].not_due == 538_264
    return prepaid


def test_partial_prepayment_shorter_term_keeps_the_instalment(
        ledger: Ledger, days: BusinessDays, store: EventStore) -> None:
    # Same 1,737.36 a month on 5,382.64 at 1.2% a month (the disclosed 30-day plan):
    #   1,737.36 − 5,382.64 × 1.2% (64.59) = 1,672.77 → 3,709.87 left
    #   1,737.36 − 3,709.87 × 1.2% (44.52) = 1,692.84 → 2,017.03 left
    #   1,737.36 − 2,017.03 × 1.2% (24.20) = 1,713.16 →   303.87 left, the last period.
    # Four instalments (Jun – Sep) instead of five.
    prepaid = _six_month_loan_with_3000_prepaid(ledger, days, "shorter_term")
    assert prepaid.mode == "shorter_term"
    assert prepaid.level_payment == M("1737.36")
    assert prepaid.due_dates == (date(2026, 6, 1), date(2026, 7, 1), date(2026, 8, 1),
                                 date(2026, 9, 1))
    assert prepaid.planned_principal == (167_277, 169_284, 171_316, 30_387)
    # 1 Jun: interest by actual days, 5,382.64 × 0.04% × 31 = 66.744736 → 66.74;
    # principal 1,737.36 − 66.74 = 1,670.62.
    days.close_through(date(2026, 6, 1))
    assert fell_due(store)[-1] == (2, date(2026, 6, 1), 167_062, 6_674)


def test_partial_prepayment_smaller_instalment_keeps_the_term(
        ledger: Ledger, days: BusinessDays, store: EventStore) -> None:
    # 5,382.64 over the same 5 periods: 1.012^5 = 1.0614573839...,
    # 5,382.64 × 0.012 × 1.0614573839 / 0.0614573839 = 1,115.5912 → 1,115.59 a month.
    prepaid = _six_month_loan_with_3000_prepaid(ledger, days, "smaller_instalment")
    assert prepaid.mode == "smaller_instalment"
    assert prepaid.level_payment == M("1115.59")
    assert prepaid.due_dates == (date(2026, 6, 1), date(2026, 7, 1), date(2026, 8, 1),
                                 date(2026, 9, 1), date(2026, 10, 1))
    assert sum(prepaid.planned_principal) == 538_264
    # 1 Jun: interest 66.74 as above; principal 1,115.59 − 66.74 = 1,048.85.
    days.close_through(date(2026, 6, 1))
    assert fell_due(store)[-1] == (2, date(2026, 6, 1), 104_885, 6_674)


def test_a_prepayment_must_exceed_what_is_due_now(
        ledger: Ledger, days: BusinessDays, store: EventStore) -> None:
    days.go_to(date(2026, 4, 1))
    open_account(ledger)
    draw(ledger, "L-1", "10000", 3, "equal_principal")
    days.go_to(date(2026, 5, 1))
    # Due today: 3,333.33 + 120.00 = 3,453.33 (the instalment falls due first).
    before = store.last_position()
    with pytest.raises(InvalidCommand, match="must exceed what is due now"):
        ledger.prepay(ACCOUNT, "L-1", "R-1", M("3453.33"), "shorter_term", key="R-1")
    with pytest.raises(InvalidCommand, match="mode"):
        ledger.prepay(ACCOUNT, "L-1", "R-2", M("5000"), "sooner", key="R-2")
    assert store.last_position() == before


# ---- overdue principal: penalty 1.5 × the daily rate -----------------------------------------


def test_penalty_on_overdue_principal_is_one_and_a_half_times_the_daily_rate(
        ledger: Ledger, days: BusinessDays, store: EventStore) -> None:
    # Equal principal, 10,000.00 over 3 months from 1 Apr: instalment 1 on 1 May is
    # 3,333.33 principal + 120.00 interest, and is not paid.
    # On 11 May: penalty on the principal only, one day for each of the 10 days past due
    # (2–11 May): 3,333.33 × 0.06% × 10 = 19.99998 → 20.00.
    # Due in all: 20.00 + 120.00 + 3,333.33 = 3,473.33.
    days.go_to(date(2026, 4, 1))
    open_account(ledger)
    draw(ledger, "L-1", "10000", 3, "equal_principal")
    days.go_to(date(2026, 5, 11))
    assert ledger.cash_loan(ACCOUNT).days_past_due(days.today) == 10
    assert cash_loan.amount_due(ledger.cash_loan(ACCOUNT), days.today) == 347_333
    result = ledger.repay(ACCOUNT, "R-1", M("3473.33"), key="R-1")
    (penalty,) = result.of_type(PenaltyInterestCharged)
    assert isinstance(penalty, PenaltyInterestCharged)
    assert (penalty.item, penalty.amount, penalty.base) == ("L-1#1", M("20"), M("3333.33"))
    assert penalty.daily_rate == Decimal("0.0006")  # 1.5 × 0.04%
    assert (penalty.from_date, penalty.to_date) == (date(2026, 5, 1), date(2026, 5, 11))
    assert slices(received(result)) == [
        ("L-1#1", "penalty", 2_000), ("L-1#1", "interest", 12_000),
        ("L-1#1", "principal", 333_333)]
    assert ledger.cash_loan(ACCOUNT).days_past_due(days.today) == 0


def test_overdue_interest_alone_accrues_no_penalty(
        ledger: Ledger, days: BusinessDays, store: EventStore) -> None:
    # Interest first: instalment 1 on 1 May is 120.00 of interest and no principal.
    # Ten days late it is still 120.00: penalty accrues on overdue principal only.
    days.go_to(date(2026, 4, 1))
    open_account(ledger)
    draw(ledger, "L-1", "10000", 3, "interest_first")
    days.go_to(date(2026, 5, 11))
    assert ledger.cash_loan(ACCOUNT).days_past_due(days.today) == 10
    result = ledger.repay(ACCOUNT, "R-1", M("120"), key="R-1")
    assert result.of_type(PenaltyInterestCharged) == []
    assert slices(received(result)) == [("L-1#1", "interest", 12_000)]


def test_paying_before_anything_is_due_is_a_credit_balance_not_a_prepayment(
        ledger: Ledger, days: BusinessDays) -> None:
    # Prepaying principal is an explicit choice (``prepay``); a plain repayment with
    # nothing due is held as a credit balance and can be refunded.
    days.go_to(date(2026, 4, 1))
    open_account(ledger)
    draw(ledger, "L-1", "10000", 3, "equal_principal")
    days.go_to(date(2026, 4, 20))
    repayment = received(ledger.repay(ACCOUNT, "R-1", M("500"), key="R-1"))
    assert repayment.allocations == ()
    assert repayment.to_credit_balance == M("500")
    assert ledger.cash_loan(ACCOUNT).loans["L-1"].not_due == 1_000_000
    ledger.refund_credit_balance(ACCOUNT, key="credit-back")
    assert ledger.cash_loan(ACCOUNT).credit_balance == 0
