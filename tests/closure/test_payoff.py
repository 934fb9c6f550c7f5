"""Paying off before closing: ``pay_off`` repays everything payable now in ordinary
ledger commands — on a credit line the statements (penalty to today), the unbilled
purchases and the running instalment plans in ONE repayment of exactly their sum; on a
cash-loan account each loan in full, with interest for the days used and nothing more.
Then closing works."""

from __future__ import annotations

from datetime import date

import pytest

from lendguard.errors import InvalidCommand
from lendguard.ledger import credit_line
from lendguard.ledger.account import Status
from lendguard.ledger.events import (
    InterestCharged,
    LoanPrepaid,
    PenaltyInterestCharged,
    RepaymentReceived,
)
from lendguard.money import Money
from lendguard.service import Ledger
from tests.closure.support import (
    LINE,
    LOAN,
    buy,
    close,
    kinds,
    open_line,
    open_loan,
    refused,
)
from tests.conftest import BusinessDays, events_of


def test_pay_off_a_line_in_one_repayment(ledger: Ledger, days: BusinessDays) -> None:
    open_line(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", 120_000)
    ledger.convert_purchase(LINE, "O-1", 3, "P-1", key="convert")
    days.go_to(date(2026, 1, 6))
    buy(ledger, "O-2", 50_000)
    days.go_to(date(2026, 2, 3))
    buy(ledger, "O-3", 30_000)
    days.go_to(date(2026, 2, 13))
    # S2026-02 (due Feb 10): O-2 500.00 + P-1 period 1 400.00 + fee 9.20 = 909.20
    # penalty 90,920 × 0.05% = 45.46 fen a day × 3 days (Feb 11, 12, 13) = 136.38 → 136
    # statement 909.20 + 1.36 = 910.56; unbilled O-3 300.00; P-1 periods 2-3 800.00
    # pay_off: 91,056 + 30,000 + 80,000 = 201,056
    found = ledger.closure_blockers(LINE)
    assert [(b.kind, b.amount) for b in found] == [
        ("statement_balance", 91_056), ("unbilled", 30_000), ("instalment_plan", 80_000)]
    assert credit_line.payoff_amount(ledger.credit_line(LINE), date(2026, 2, 13)) == 201_056
    before = len(events_of(ledger.store, LINE, RepaymentReceived))
    [result] = ledger.pay_off(LINE, "R-1", key="payoff")
    [penalty] = result.of_type(PenaltyInterestCharged)
    assert isinstance(penalty, PenaltyInterestCharged)
    assert (penalty.amount, penalty.from_date, penalty.to_date) == (
        Money(136), date(2026, 2, 10), date(2026, 2, 13))
    [received] = result.of_type(RepaymentReceived)
    assert isinstance(received, RepaymentReceived)
    assert received.amount == Money(201_056) and received.to_credit_balance == Money(0)
    assert sum(a.amount.fen for a in received.allocations) == 201_056
    assert len(events_of(ledger.store, LINE, RepaymentReceived)) == before + 1
    line = ledger.credit_line(LINE)
    assert all(v == 0 for v in line.balances().values())
    # the fees of the two periods never billed (2 × 9.20) are not charged
    assert line.plans["P-1"].fee_left == [] and line.running_plans() == []
    assert ledger.closure_blockers(LINE) == []
    close(ledger, LINE)
    assert ledger.state(LINE).status is Status.CLOSED


def test_pay_off_with_nothing_payable_is_refused(ledger: Ledger) -> None:
    open_line(ledger)
    buy(ledger, "O-1", 1_000, settle=False)  # pending orders are not payable
    refused(ledger, lambda: ledger.pay_off(LINE, "R-1", key="payoff"), InvalidCommand)
    assert kinds(ledger.closure_blockers(LINE)) == ["pending_order"]


def test_pay_off_cash_loans_with_interest_for_the_days_used(ledger: Ledger,
                                                            days: BusinessDays) -> None:
    open_loan(ledger)
    ledger.draw(LOAN, "L-1", Money(1_000_000), 3, "interest_first", key="draw-1")
    days.go_to(date(2026, 1, 11))
    ledger.draw(LOAN, "L-2", Money(500_000), 3, "equal_principal", key="draw-2")
    days.go_to(date(2026, 2, 5))
    # L-1 (10,000.00 from Jan 1, 4.00 a day): Jan 31 accrual 30 days = 120.00; Feb 1
    # instalment 1 fell due with interest 120.00 + 4.00 = 124.00 (principal 0, unpaid);
    # Feb 1 → Feb 5 4 days = 16.00: 10,000.00 + 124.00 + 16.00 = 10,140.00
    # (35 days used × 4.00 = 140.00)
    # L-2 (5,000.00 from Jan 11, 2.00 a day): Jan 31 accrual 20 days = 40.00; Feb 5 five
    # more days = 10.00: 5,000.00 + 50.00 = 5,050.00 (25 days × 2.00)
    found = ledger.closure_blockers(LOAN)
    assert [(b.reference, b.amount, b.by) for b in found] == [
        ("L-1", 1_014_000, date(2026, 2, 5)), ("L-2", 505_000, date(2026, 2, 5))]
    results = ledger.pay_off(LOAN, "R-1", key="payoff")
    received = [e for r in results for e in r.of_type(RepaymentReceived)]
    assert [(e.repayment_id, e.amount) for e in received
            if isinstance(e, RepaymentReceived)] == [
        ("R-1:L-1", Money(1_014_000)), ("R-1:L-2", Money(505_000))]
    assert [e.mode for e in events_of(ledger.store, LOAN, LoanPrepaid)] == ["full", "full"]
    interest = events_of(ledger.store, LOAN, InterestCharged)
    assert sum(e.amount.fen for e in interest if e.loan_id == "L-1") == 14_000
    assert sum(e.amount.fen for e in interest if e.loan_id == "L-2") == 5_000
    assert all(v == 0 for v in ledger.state(LOAN).balances().values())
    assert ledger.closure_blockers(LOAN) == []
    with pytest.raises(InvalidCommand, match="nothing is payable"):  # as on the credit line
        ledger.pay_off(LOAN, "R-2", key="payoff-again")
    close(ledger, LOAN)
    assert ledger.state(LOAN).status is Status.CLOSED
