"""A closed account: closing again changes nothing, every command is refused with
``AccountNotActive`` and writes nothing, its history is kept and replays, its closure
record shows zero balances with who, when and how, and reopening means a new account."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from lendguard.errors import AccountAlreadyExists, AccountNotActive
from lendguard.ledger.account import Status
from lendguard.ledger.events import AccountClosed
from lendguard.money import Money
from lendguard.replay import replay
from lendguard.service import Ledger
from tests.closure.support import (
    CUSTOMER,
    LINE,
    LINE_LIMIT,
    LOAN,
    buy,
    close,
    last_code,
    open_line,
    open_loan,
    refused,
    run_cli,
)
from tests.conftest import BusinessDays, events_of


@pytest.fixture
def closed_line(ledger: Ledger, days: BusinessDays) -> str:
    """A line with a year's worth of nothing but one repaid, billed purchase; closed."""
    open_line(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", 25_000)
    days.go_to(date(2026, 2, 5))
    ledger.repay(LINE, "R-1", Money(25_000), key="repay")
    close(ledger, LINE)
    return LINE


@pytest.fixture
def closed_loan(ledger: Ledger, days: BusinessDays) -> str:
    open_loan(ledger)
    ledger.draw(LOAN, "L-1", Money(100_000), 3, "equal_instalment", key="draw")
    days.go_to(days.today + timedelta(days=10))
    ledger.pay_off(LOAN, "R-1", key="payoff")
    close(ledger, LOAN, "close-loan")
    return LOAN


def test_closing_twice_is_idempotent(ledger: Ledger, closed_line: str) -> None:
    before = ledger.store.last_position()
    again = ledger.confirm_closure(closed_line, "close-1", key="confirm-close-1")
    assert again.duplicate and again.events == {}
    fresh_key = ledger.confirm_closure(closed_line, "close-1", key="confirm-once-more")
    assert (fresh_key.duplicate, fresh_key.events) == (False, {})
    assert ledger.store.last_position() == before
    assert len(events_of(ledger.store, closed_line, AccountClosed)) == 1


LINE_COMMANDS: dict[str, Callable[[Ledger], Any]] = {
    "purchase": lambda lg: lg.purchase(LINE, "O-2", Money(100), "shop", "retail", "app",
                                       key="k"),
    "settle": lambda lg: lg.settle(LINE, "O-1", key="k"),
    "refund": lambda lg: lg.refund(LINE, "O-1", Money(100), key="k"),
    "repay": lambda lg: lg.repay(LINE, "R-2", Money(100), key="k"),
    "repay_customer": lambda lg: lg.repay_customer(CUSTOMER, "R-2", Money(100), key="k"),
    "pay_off": lambda lg: lg.pay_off(LINE, "R-2", key="k"),
    "convert_purchase": lambda lg: lg.convert_purchase(LINE, "O-1", 3, "P-1", key="k"),
    "change_limit": lambda lg: lg.change_limit(LINE, Money(2_000_000), "review", key="k"),
    "freeze": lambda lg: lg.freeze(LINE, "fraud", key="k"),
    "unfreeze": lambda lg: lg.unfreeze(LINE, "cleared", key="k"),
    "initiate_repayment": lambda lg: lg.initiate_repayment(LINE, "R-2", Money(100), key="k"),
    "open_dispute": lambda lg: lg.open_dispute(LINE, "D-1", "O-1", "why", key="k"),
    "request_closure": lambda lg: lg.request_closure(LINE, "close-2", key="k"),
    "verify_closure_code": lambda lg: lg.verify_closure_code(LINE, "close-1",
                                                             last_code(lg), key="k"),
}


@pytest.mark.parametrize("command", LINE_COMMANDS)
def test_a_closed_line_refuses_every_command(ledger: Ledger, closed_line: str,
                                             command: str) -> None:
    refused(ledger, lambda: LINE_COMMANDS[command](ledger), AccountNotActive)
    assert ledger.state(closed_line).status is Status.CLOSED


LOAN_COMMANDS: dict[str, Callable[[Ledger], Any]] = {
    "draw": lambda lg: lg.draw(LOAN, "L-2", Money(100), 3, "equal_instalment", key="k"),
    "prepay": lambda lg: lg.prepay(LOAN, "L-1", "R-2", Money(100), key="k"),
    "repay": lambda lg: lg.repay(LOAN, "R-2", Money(100), key="k"),
    "repay_customer": lambda lg: lg.repay_customer(CUSTOMER, "R-2", Money(100), key="k"),
    "change_limit": lambda lg: lg.change_limit(LOAN, Money(1), "review", key="k"),
    "freeze": lambda lg: lg.freeze(LOAN, "fraud", key="k"),
    "initiate_repayment": lambda lg: lg.initiate_repayment(LOAN, "R-2", Money(100), key="k"),
    "request_closure": lambda lg: lg.request_closure(LOAN, "close-2", key="k"),
}


@pytest.mark.parametrize("command", LOAN_COMMANDS)
def test_a_closed_cash_loan_account_refuses_every_command(ledger: Ledger, closed_loan: str,
                                                          command: str) -> None:
    refused(ledger, lambda: LOAN_COMMANDS[command](ledger), AccountNotActive)


def test_pay_off_on_a_closed_cash_loan_account_is_refused(ledger: Ledger,
                                                          closed_loan: str) -> None:
    refused(ledger, lambda: ledger.pay_off(LOAN, "R-2", key="k"), AccountNotActive)


def test_history_is_kept_and_replays(ledger: Ledger, closed_line: str,
                                     days: BusinessDays) -> None:
    kept = [s.type for s in ledger.store.read_stream(closed_line)]
    assert kept[0] == "CreditLineOpened" and kept[-1] == "AccountClosed"
    assert {"PurchaseMade", "StatementIssued", "RepaymentReceived", "ClosureRequested",
            "ClosureCodeIssued", "ClosureCodeAccepted"} <= set(kept)
    # days go by: close of business leaves a closed account alone
    days.go_to(date(2026, 4, 2))
    assert [s.type for s in ledger.store.read_stream(closed_line)] == kept
    report = replay(ledger.store, keep_states=True)
    assert report.ok, report.problems
    rebuilt = report.states[closed_line]
    assert rebuilt.status is Status.CLOSED and rebuilt.closed is not None
    assert rebuilt.closed.on == date(2026, 2, 5)
    assert rebuilt.balances() == ledger.state(closed_line).balances()


def test_the_closure_record(ledger: Ledger, closed_line: str, closed_loan: str,
                            tmp_path: Path) -> None:
    db = str(tmp_path / "ledger.db")  # the ``store`` fixture's file
    code, out = run_cli("closure-record", "--db", db, "--account", closed_line)
    assert code == 0, out
    for shown in ("customer C-1", "closed on 2026-02-05", "closed at 2026-02-05T09:00:00+08:00",
                  "closed by user:borrower", "request close-1", "verified by hotp-code",
                  "reason customer request"):
        assert shown in out
    for account_code in ("1205", "1200", "1310", "1320", "2200"):
        assert f"final balance {account_code} 0.00" in out
    code, out = run_cli("closure-record", "--db", db, "--account", closed_loan)
    assert code == 0, out
    for account_code in ("1210", "1300", "1320", "2200"):
        assert f"final balance {account_code} 0.00" in out


def test_an_open_account_has_no_closure_record(ledger: Ledger, tmp_path: Path) -> None:
    open_line(ledger)
    code, out = run_cli("closure-record", "--db", str(tmp_path / "ledger.db"), "--account",
                        LINE)
    assert code != 0 and "is not closed" in out


def test_reopening_means_a_new_account_id(ledger: Ledger, closed_line: str) -> None:
    refused(ledger, lambda: ledger.open_credit_line(closed_line, CUSTOMER, LINE_LIMIT,
                                                    key="reopen"), AccountAlreadyExists)
    ledger.open_credit_line("CL-2", CUSTOMER, LINE_LIMIT, key="open-CL-2")
    assert ledger.accounts_of(CUSTOMER) == [closed_line, "CL-2"]
    buy(ledger, "O-1", 100, account="CL-2")  # the same order id is fine on a new account
    assert ledger.state(closed_line).status is Status.CLOSED
    assert ledger.state("CL-2").status is Status.ACTIVE
