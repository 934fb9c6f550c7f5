"""The application layer: idempotency, typed errors that change nothing, bad input."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from lendguard.clock import DEFAULT_TZ, FixedClock
from lendguard.errors import (
    AccountNotActive,
    IdempotencyConflict,
    InsufficientLimit,
    InvalidAmount,
    InvalidCommand,
    InvalidConfiguration,
    UnknownAccount,
    UnknownOrder,
)
from lendguard.events import encode_event
from lendguard.ledger.events import AccountClosed
from lendguard.ledger.terms import CashLoanTerms, CreditLineTerms, InstalmentOption
from lendguard.money import Money
from lendguard.service import Ledger
from lendguard.store import open_store
from lendguard.store.base import NewEvent, StreamWrite


@pytest.fixture
def ledger(tmp_path):  # type: ignore[no-untyped-def]
    store = open_store(f"sqlite:///{tmp_path}/ledger.db")
    clock = FixedClock(datetime(2026, 3, 2, 10, tzinfo=DEFAULT_TZ))
    lg = Ledger(store, clock)
    lg.open_credit_line("CL", "C1", Money.of("5000"), key="open-cl")
    lg.open_cash_loan("CA", "C1", Money.of("20000"), key="open-ca")
    yield lg
    store.close()


def unchanged(ledger: Ledger, call, error):  # type: ignore[no-untyped-def]
    before = ledger.store.last_position()
    with pytest.raises(error):
        call()
    assert ledger.store.last_position() == before


def test_same_key_twice_has_one_effect(ledger: Ledger) -> None:
    first = ledger.purchase("CL", "O1", Money.of("100"), "m", "c", "app", key="k1")
    second = ledger.purchase("CL", "O1", Money.of("100"), "m", "c", "app", key="k1")
    assert second.duplicate and second.positions == first.positions
    assert ledger.credit_line("CL").pending_total() == 10_000


def test_same_key_other_payload_is_refused(ledger: Ledger) -> None:
    ledger.purchase("CL", "O1", Money.of("100"), "m", "c", "app", key="k1")
    unchanged(ledger, lambda: ledger.purchase("CL", "O2", Money.of("100"), "m", "c", "app",
                                              key="k1"), IdempotencyConflict)


def test_an_idempotency_key_is_required(ledger: Ledger) -> None:
    unchanged(ledger, lambda: ledger.purchase("CL", "O1", Money.of("1"), "m", "c", "app",
                                              key=""), InvalidCommand)


@pytest.mark.parametrize("amount", [Money(0), Money(-100)])
def test_non_positive_amounts_are_refused(ledger: Ledger, amount: Money) -> None:
    unchanged(ledger, lambda: ledger.purchase("CL", "O1", amount, "m", "c", "app", key="k"),
              InvalidAmount)
    unchanged(ledger, lambda: ledger.repay("CL", "R", amount, key="k"), InvalidAmount)
    unchanged(ledger, lambda: ledger.draw("CA", "L", amount, 3, "equal_instalment", key="k"),
              InvalidAmount)


def test_floats_never_become_money(ledger: Ledger) -> None:
    with pytest.raises(InvalidAmount):
        Money(12.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidAmount):
        Money.of(12.5)  # type: ignore[arg-type]
    unchanged(ledger, lambda: ledger.purchase("CL", "O1", 100, "m", "c", "app",  # type: ignore[arg-type]
                                              key="k"), InvalidAmount)


def test_wrong_currency_is_refused(ledger: Ledger) -> None:
    unchanged(ledger, lambda: ledger.purchase("CL", "O1", Money(100, "USD"), "m", "c", "app",
                                              key="k"), InvalidAmount)
    unchanged(ledger, lambda: ledger.repay_customer("C1", "R", Money(100, "HKD"), key="k"),
              InvalidAmount)


def test_unknown_account_order_and_loan(ledger: Ledger) -> None:
    unchanged(ledger, lambda: ledger.purchase("nope", "O1", Money(100), "m", "c", "app",
                                              key="k"), UnknownAccount)
    unchanged(ledger, lambda: ledger.settle("CL", "nope", key="k"), UnknownOrder)
    unchanged(ledger, lambda: ledger.repay_customer("nobody", "R", Money(1), key="k"),
              UnknownAccount)
    unchanged(ledger, lambda: ledger.draw("CL", "L", Money(100), 3, "equal_instalment",
                                          key="k"), InvalidCommand)


def test_limit_is_enforced_exactly(ledger: Ledger) -> None:
    ledger.purchase("CL", "O1", Money.of("4999.99"), "m", "c", "app", key="k1")
    unchanged(ledger, lambda: ledger.purchase("CL", "O2", Money(2), "m", "c", "app", key="k2"),
              InsufficientLimit)
    ledger.purchase("CL", "O3", Money(1), "m", "c", "app", key="k3")
    assert ledger.credit_line("CL").available_limit() == 0


def test_frozen_account_takes_repayments_but_no_purchases(ledger: Ledger) -> None:
    ledger.purchase("CL", "O1", Money(1000), "m", "c", "app", key="k1")
    ledger.settle("CL", "O1", key="k2")
    ledger.freeze("CL", "fraud check", key="k3")
    unchanged(ledger, lambda: ledger.purchase("CL", "O2", Money(1), "m", "c", "app", key="k4"),
              AccountNotActive)
    ledger.repay("CL", "R1", Money(1000), key="k5")
    assert ledger.credit_line("CL").unbilled_total() == 0
    ledger.unfreeze("CL", "cleared", key="k6")
    ledger.purchase("CL", "O2", Money(1), "m", "c", "app", key="k7")


def test_closed_account_rejects_every_command(ledger: Ledger) -> None:
    # Closure itself is a later workflow; here we only need a closed stream.
    state = ledger.state("CA")
    ledger.store.append([StreamWrite("CA", state.version, [NewEvent(
        "ev-close", "AccountClosed", 1, encode_event(AccountClosed("test", date(2026, 3, 2))),
        "2026-03-02T10:00:00+08:00", "test")])])
    for call in (
        lambda: ledger.draw("CA", "L", Money(100), 3, "equal_instalment", key="a"),
        lambda: ledger.repay("CA", "R", Money(100), key="b"),
        lambda: ledger.change_limit("CA", Money(1), "x", key="c"),
        lambda: ledger.freeze("CA", "x", key="d"),
    ):
        unchanged(ledger, call, AccountNotActive)


def test_opening_twice_is_refused(ledger: Ledger) -> None:
    unchanged(ledger, lambda: ledger.open_credit_line("CL", "C1", Money(1), key="again"),
              Exception)


def test_configuration_over_the_apr_cap_is_refused_with_every_problem(ledger: Ledger) -> None:
    greedy = CreditLineTerms(instalment_options=(InstalmentOption(3, Decimal("0.05")),
                                                 InstalmentOption(12, Decimal("0.20"))))
    with pytest.raises(InvalidConfiguration) as info:
        ledger.open_credit_line("CL2", "C2", Money(100), greedy, key="o")
    assert len(info.value.problems) == 2
    with pytest.raises(InvalidConfiguration):
        ledger.open_cash_loan("CA2", "C2", Money(100), CashLoanTerms(daily_rate=Decimal("0.001")),
                              key="o2")
    assert ledger.store.stream_info("CL2") is None and ledger.store.stream_info("CA2") is None


def test_repay_customer_pays_oldest_due_first_across_products(ledger: Ledger) -> None:
    clock = ledger.clock
    assert isinstance(clock, FixedClock)
    ledger.draw("CA", "L1", Money.of("3000"), 3, "equal_principal", key="d1")  # due 2 Apr
    clock.advance(timedelta(days=1))
    ledger.purchase("CL", "O1", Money.of("500"), "m", "c", "app", key="p1")
    ledger.settle("CL", "O1", key="s1")
    for _ in range(40):  # to 12 Apr: statement 1 Apr due 10 Apr; loan due 2 Apr
        clock.advance(timedelta(days=1))
        ledger.close_of_business(clock.today())
    # Loan instalment 1: principal 1,000.00 + interest 3,000.00 × 0.04% × 31 days = 37.20,
    # due 2 Apr; penalty on 1,000.00 × 0.06% × 10 days (3–12 Apr) = 6.00.
    # Statement S2026-04: 500.00 due 10 Apr; penalty 500.00 × 0.05% × 2 days (11–12) = 0.50.
    result = ledger.repay_customer("C1", "R1", Money.of("1043.20"), key="r1")
    loan_part = sum(a.amount.fen for ev in result.events["CA"]
                    for a in getattr(ev, "allocations", ()))
    assert loan_part == 104_320  # all of it went to the older loan instalment
    assert "CL" not in result.events


def test_a_statement_caught_up_after_missed_closes_bills_only_what_came_before_it(
        ledger: Ledger) -> None:
    # O-1 settled 5 Mar, O-2 settled 2 Apr; close of business did not run until 3 Apr.
    # The statement dated 1 Apr bills O-1 only; O-2 waits for the 1 May statement.
    clock = ledger.clock
    assert isinstance(clock, FixedClock)
    clock.set(datetime(2026, 3, 5, 10, tzinfo=DEFAULT_TZ))
    ledger.purchase("CL", "O1", Money.of("100"), "m", "c", "app", key="p1")
    ledger.settle("CL", "O1", key="s1")
    clock.set(datetime(2026, 4, 2, 10, tzinfo=DEFAULT_TZ))
    ledger.purchase("CL", "O2", Money.of("50"), "m", "c", "app", key="p2")
    ledger.settle("CL", "O2", key="s2")
    clock.set(datetime(2026, 4, 3, 23, tzinfo=DEFAULT_TZ))
    ledger.close_of_business(date(2026, 4, 3))
    state = ledger.credit_line("CL")
    assert list(state.statements) == ["S2026-04"]
    assert state.statements["S2026-04"].principal == 10_000
    assert state.orders["O2"].stage == "unbilled"
