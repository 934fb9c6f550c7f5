"""Every blocker of a closure, one by one: listed with its exact amount and date,
all of them at once, refused without writing a thing, and gone once it is cleared.

Defaults: statement day the 1st, due day the 10th; penalty interest 0.05% a day on a
statement's unpaid principal and fee for each day after the due day up to and including
today; 3 instalments cost 2.3% of principal; a cash loan costs 0.04% a day on the
principal not yet due. The business clock starts at 09:00 on 2026-01-01.
"""

from __future__ import annotations

from datetime import date, timedelta

from lendguard.clock import FixedClock
from lendguard.ledger.account import Status
from lendguard.ledger.events import RepaymentReceived
from lendguard.money import Money
from lendguard.service import Ledger
from tests.closure.support import (
    CUSTOMER,
    LINE,
    LOAN,
    buy,
    by_kind,
    close,
    kinds,
    last_code,
    open_line,
    open_loan,
    request_is_blocked,
    wrong,
)
from tests.conftest import BusinessDays, events_of


def test_outstanding_statement_balance_with_penalty_to_today(ledger: Ledger,
                                                             days: BusinessDays) -> None:
    open_line(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", 100_000)
    days.go_to(date(2026, 2, 15))  # S2026-02 was issued on Feb 1, due Feb 10, never paid
    # 1,000.00 billed + penalty 100,000 × 0.05% = 50 fen a day for Feb 11..15 (5 days)
    # = 250 fen: 100,250 owed today; the date shown is the due date it was owed by.
    [owed] = request_is_blocked(ledger, LINE, ["statement_balance"])
    assert (owed.amount, owed.by, owed.payable) == (100_250, date(2026, 2, 10), True)
    assert "CNY 1,002.50" in owed.what
    days.go_to(date(2026, 2, 16))
    # one more day of penalty: 100,250 + 50 = 100,300
    assert by_kind(ledger.closure_blockers(LINE), "statement_balance").amount == 100_300
    ledger.repay(LINE, "R-1", Money(100_300), key="repay")
    assert ledger.closure_blockers(LINE) == []
    assert ledger.state(LINE).balances() == {"1205": 0, "1200": 0, "1310": 0, "1320": 0,
                                             "2200": 0}
    close(ledger, LINE)
    assert ledger.state(LINE).status is Status.CLOSED


def test_unbilled_purchases_are_payable_now(ledger: Ledger, days: BusinessDays) -> None:
    open_line(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", 30_000)
    buy(ledger, "O-2", 4_550)
    # settled, not billed until Feb 1: 300.00 + 45.50 = 345.50, payable today
    [unbilled] = request_is_blocked(ledger, LINE, ["unbilled"])
    assert (unbilled.amount, unbilled.by, unbilled.payable) == (34_550, date(2026, 1, 5), True)
    ledger.repay(LINE, "R-1", Money(30_000), key="repay-1")  # prepays O-1 (oldest first)
    assert by_kind(ledger.closure_blockers(LINE), "unbilled").amount == 4_550
    ledger.repay(LINE, "R-2", Money(4_550), key="repay-2")
    assert ledger.closure_blockers(LINE) == []


def test_running_instalment_plan_shows_its_payoff_today(ledger: Ledger,
                                                        days: BusinessDays) -> None:
    open_line(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", 120_000)
    ledger.convert_purchase(LINE, "O-1", 3, "P-1", key="convert")
    # 1,200.00 in 3: principal 400.00 a period; fee 1,200.00 × 2.3% = 27.60 = 9.20 a period
    [plan] = request_is_blocked(ledger, LINE, ["instalment_plan"])
    assert (plan.reference, plan.amount, plan.by) == ("P-1", 120_000, date(2026, 1, 5))
    assert "3 period(s) to go" in plan.what
    days.go_to(date(2026, 2, 3))
    # Feb 1 billed period 1: 400.00 + 9.20 = 409.20 (due Feb 10); 2 periods still to go,
    # paid off today for their principal alone, 2 × 400.00 = 800.00 (no further fees)
    found = request_is_blocked(ledger, LINE, ["statement_balance", "instalment_plan"])
    assert [(b.amount, b.by) for b in found] == [(40_920, date(2026, 2, 10)),
                                                 (80_000, date(2026, 2, 3))]
    assert "CNY 800.00, no further fees" in found[1].action
    # pay_off: 409.20 + 800.00 = 1,209.20 in one repayment
    [result] = ledger.pay_off(LINE, "R-1", key="payoff")
    [received] = result.of_type(RepaymentReceived)
    assert isinstance(received, RepaymentReceived) and received.amount == Money(120_920)
    assert ledger.closure_blockers(LINE) == []
    assert ledger.credit_line(LINE).running_plans() == []


def test_pending_orders_until_settled_or_refunded(ledger: Ledger) -> None:
    open_line(ledger)
    buy(ledger, "O-1", 50_000, settle=False)
    buy(ledger, "O-2", 20_000, settle=False)
    found = request_is_blocked(ledger, LINE, ["pending_order", "pending_order"])
    assert [(b.reference, b.amount, b.by) for b in found] == [("O-1", 50_000, None),
                                                             ("O-2", 20_000, None)]
    # a partial refund leaves 200.00 - 50.00 = 150.00 pending
    ledger.refund(LINE, "O-2", Money(5_000), key="refund-part")
    assert [b.amount for b in ledger.closure_blockers(LINE)] == [50_000, 15_000]
    # settling O-1 turns it into an unbilled purchase (payable), refunding O-2 ends it
    ledger.settle(LINE, "O-1", key="settle")
    ledger.refund(LINE, "O-2", Money(15_000), key="refund-rest")
    [unbilled] = request_is_blocked(ledger, LINE, ["unbilled"])
    assert unbilled.amount == 50_000
    ledger.repay(LINE, "R-1", Money(50_000), key="repay")
    assert ledger.closure_blockers(LINE) == []


def test_repayments_in_flight_until_received_or_failed(ledger: Ledger) -> None:
    open_line(ledger)
    buy(ledger, "O-1", 10_000)
    ledger.initiate_repayment(LINE, "R-1", Money(10_000), key="start-1")
    ledger.initiate_repayment(LINE, "R-2", Money(2_500), "card", key="start-2")
    found = request_is_blocked(ledger, LINE, ["unbilled", "repayment_in_flight",
                                              "repayment_in_flight"])
    assert [(b.reference, b.amount, b.by) for b in found[1:]] == [("R-1", 10_000, None),
                                                                 ("R-2", 2_500, None)]
    ledger.receive_repayment(LINE, "R-1", key="arrived")  # 100.00 pays the 100.00 unbilled
    assert kinds(ledger.closure_blockers(LINE)) == ["repayment_in_flight"]
    ledger.fail_repayment(LINE, "R-2", "card declined", key="failed")
    assert ledger.closure_blockers(LINE) == []


def test_credit_balance_must_be_refunded_first(ledger: Ledger, days: BusinessDays) -> None:
    open_line(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", 20_000)
    ledger.repay(LINE, "R-1", Money(20_000), key="repay")  # repaid before it was billed
    ledger.refund(LINE, "O-1", Money(8_000), key="late-refund")
    # the refund of 80.00 of an already repaid purchase comes back as a credit balance
    [credit] = request_is_blocked(ledger, LINE, ["credit_balance"])
    assert (credit.amount, credit.by, credit.payable) == (8_000, date(2026, 1, 5), False)
    ledger.refund_credit_balance(LINE, key="give-back")
    assert ledger.closure_blockers(LINE) == []
    assert ledger.state(LINE).credit_balance == 0


def test_open_dispute_until_resolved(ledger: Ledger) -> None:
    open_line(ledger)
    buy(ledger, "O-1", 8_000)
    ledger.repay(LINE, "R-1", Money(8_000), key="repay")
    ledger.open_dispute(LINE, "D-1", "O-1", "not as described", key="dispute")
    [dispute] = request_is_blocked(ledger, LINE, ["dispute"])
    assert (dispute.reference, dispute.amount, dispute.by) == ("D-1", 0, None)
    assert "O-1" in dispute.what
    ledger.resolve_dispute(LINE, "D-1", "merchant explained", key="resolved")
    assert ledger.closure_blockers(LINE) == []


def test_outstanding_cash_loans_with_interest_to_today(ledger: Ledger,
                                                      days: BusinessDays) -> None:
    open_loan(ledger)
    ledger.draw(LOAN, "L-1", Money(1_000_000), 3, "equal_principal", key="draw-1")
    days.go_to(date(2026, 1, 11))
    ledger.draw(LOAN, "L-2", Money(333_333), 6, "equal_instalment", key="draw-2")
    days.go_to(date(2026, 1, 21))
    # L-1: 10,000.00 for Jan 1 → Jan 21 = 20 days × 4.00 a day = 80.00 → 10,080.00
    # L-2: 3,333.33 × 0.04% = 133.3332 fen a day × 10 days = 1,333.332 → 13.33 → 3,346.66
    found = request_is_blocked(ledger, LOAN, ["loan", "loan"])
    assert [(b.reference, b.amount, b.by, b.payable) for b in found] == [
        ("L-1", 1_008_000, date(2026, 1, 21), True),
        ("L-2", 334_666, date(2026, 1, 21), True),
    ]
    ledger.prepay(LOAN, "L-1", "R-1", None, key="prepay-1")
    assert [b.reference for b in ledger.closure_blockers(LOAN)] == ["L-2"]
    ledger.pay_off(LOAN, "R-2", key="payoff")
    assert ledger.closure_blockers(LOAN) == []


def test_frozen_until_unfrozen(ledger: Ledger) -> None:
    open_line(ledger)
    ledger.freeze(LINE, "fraud check", key="freeze")
    [frozen] = request_is_blocked(ledger, LINE, ["frozen"])
    assert (frozen.amount, frozen.by) == (0, None)
    ledger.unfreeze(LINE, "cleared", key="unfreeze")
    assert ledger.closure_blockers(LINE) == []


def test_written_off_cannot_be_closed_until_collections_are_settled(
        ledger: Ledger, days: BusinessDays) -> None:
    open_line(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", 10_000)
    # due Feb 10, never paid: 181 days past due on Aug 10 (28+31+30+31+30+31), written off
    # with its penalty: 100.00 × 0.05% × 181 days = 9.05, so 109.05 in all.
    days.go_to(date(2026, 8, 11))
    assert ledger.state(LINE).status is Status.WRITTEN_OFF
    [written_off] = request_is_blocked(ledger, LINE, ["written_off"])
    assert (written_off.amount, written_off.by) == (10_905, None)
    # money from collections is a recovery; the account stays written off until all of
    # what was written off is recovered, then it can be closed like any other
    ledger.repay(LINE, "R-1", Money(10_000), key="recovery")
    [written_off] = ledger.closure_blockers(LINE)
    assert (written_off.kind, written_off.amount) == ("written_off", 905)
    ledger.repay(LINE, "R-2", Money(905), key="recovery-2")
    assert ledger.closure_blockers(LINE) == []


def test_locked_out_until_thirty_minutes_pass(ledger: Ledger, clock: FixedClock) -> None:
    open_line(ledger)
    ledger.request_closure(LINE, "close-1", key="req")
    code = last_code(ledger)
    buy(ledger, "O-1", 1_000, settle=False)  # arrives while the code is outstanding
    for n in range(5):
        ledger.verify_closure_code(LINE, "close-1", wrong(code), key=f"wrong-{n}")
    # locked at 09:00 until 09:30; the pending order is listed alongside
    found = request_is_blocked(ledger, LINE, ["locked", "pending_order"])
    assert (found[0].amount, found[0].by) == (0, None)
    assert "locked until 09:30" in found[0].what
    clock.advance(timedelta(minutes=29, seconds=59))
    assert kinds(ledger.closure_blockers(LINE)) == ["locked", "pending_order"]
    clock.advance(timedelta(seconds=1))
    assert kinds(ledger.closure_blockers(LINE)) == ["pending_order"]


def test_every_blocker_is_listed_at_once_and_each_clears(ledger: Ledger,
                                                         days: BusinessDays) -> None:
    open_line(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", 120_000)
    ledger.convert_purchase(LINE, "O-1", 3, "P-1", key="convert")
    days.go_to(date(2026, 1, 6))
    buy(ledger, "O-2", 50_000)
    days.go_to(date(2026, 2, 2))
    buy(ledger, "O-3", 30_000)
    days.go_to(date(2026, 2, 3))
    buy(ledger, "O-4", 8_000, settle=False)
    ledger.open_dispute(LINE, "D-1", "O-3", "never arrived", key="dispute")
    ledger.initiate_repayment(LINE, "R-1", Money(15_000), key="in-flight")
    ledger.freeze(LINE, "fraud check", key="freeze")
    # S2026-02 (Feb 1, due Feb 10): O-2 500.00 + P-1 period 1 400.00 + fee 9.20 = 909.20;
    # unbilled O-3 300.00; P-1 two periods left 800.00; O-4 80.00 pending; R-1 150.00
    found = request_is_blocked(ledger, LINE, [
        "frozen", "statement_balance", "unbilled", "instalment_plan", "pending_order",
        "dispute", "repayment_in_flight"])
    assert [(b.reference, b.amount, b.by) for b in found] == [
        ("", 0, None),
        ("", 90_920, date(2026, 2, 10)),
        ("", 30_000, date(2026, 2, 3)),
        ("P-1", 80_000, date(2026, 2, 3)),
        ("O-4", 8_000, None),
        ("D-1", 0, None),
        ("R-1", 15_000, None),
    ]
    ledger.fail_repayment(LINE, "R-1", "bank returned it", key="failed")
    ledger.resolve_dispute(LINE, "D-1", "delivered late", key="resolved")
    ledger.refund(LINE, "O-4", Money(8_000), key="refund")
    ledger.unfreeze(LINE, "cleared", key="unfreeze")
    assert kinds(ledger.closure_blockers(LINE)) == ["statement_balance", "unbilled",
                                                    "instalment_plan"]
    # 909.20 + 300.00 + 800.00 = 2,009.20, in one repayment
    [result] = ledger.pay_off(LINE, "R-2", key="payoff")
    [received] = result.of_type(RepaymentReceived)
    assert isinstance(received, RepaymentReceived) and received.amount == Money(200_920)
    assert ledger.closure_blockers(LINE) == []
    close(ledger, LINE)
    assert ledger.state(LINE).status is Status.CLOSED


def test_cash_loan_blockers_are_listed_at_once(ledger: Ledger, days: BusinessDays) -> None:
    open_loan(ledger)
    ledger.draw(LOAN, "L-1", Money(1_000_000), 3, "equal_principal", key="draw")
    days.go_to(date(2026, 1, 6))
    ledger.repay(LOAN, "R-1", Money(5_000), key="early")  # nothing due: a credit balance
    ledger.initiate_repayment(LOAN, "R-2", Money(20_000), key="in-flight")
    ledger.freeze(LOAN, "review", key="freeze")
    # L-1: 5 days × 4.00 = 20.00 interest → 10,020.00; credit 50.00; R-2 200.00 in flight
    found = request_is_blocked(ledger, LOAN, ["frozen", "loan", "repayment_in_flight",
                                              "credit_balance"])
    assert [(b.reference, b.amount) for b in found] == [
        ("", 0), ("L-1", 1_002_000), ("R-2", 20_000), ("", 5_000)]
    ledger.unfreeze(LOAN, "ok", key="unfreeze")
    ledger.fail_repayment(LOAN, "R-2", "returned", key="failed")
    ledger.pay_off(LOAN, "R-3", key="payoff")
    ledger.refund_credit_balance(LOAN, key="give-back")
    assert ledger.closure_blockers(LOAN) == []
    assert events_of(ledger.store, LOAN, RepaymentReceived)[-1].amount == Money(1_002_000)
    assert ledger.notifier.messages(CUSTOMER) == []
