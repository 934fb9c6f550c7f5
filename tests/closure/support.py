"""Helpers shared by the closure tests: open the two products, read the code the
borrower received, walk a request to its confirmation, and check that a refused command
wrote nothing; run the CLI."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from typer.testing import CliRunner

from lendguard.cli import app
from lendguard.errors import ClosureBlocked
from lendguard.ledger.closure import Blocker
from lendguard.money import Money
from lendguard.service import CommandResult, Ledger
from lendguard.store.base import EventStore

LINE, LOAN, CUSTOMER = "CL-1", "CA-1", "C-1"
LINE_LIMIT = Money(1_000_000)  # 10,000.00
LOAN_LIMIT = Money(5_000_000)  # 50,000.00


def open_line(ledger: Ledger, account: str = LINE, customer: str = CUSTOMER) -> str:
    ledger.open_credit_line(account, customer, LINE_LIMIT, key=f"open-{account}")
    return account


def open_loan(ledger: Ledger, account: str = LOAN, customer: str = CUSTOMER) -> str:
    ledger.open_cash_loan(account, customer, LOAN_LIMIT, key=f"open-{account}")
    return account


def buy(ledger: Ledger, order_id: str, fen: int, *, settle: bool = True,
        account: str = LINE) -> None:
    ledger.purchase(account, order_id, Money(fen), "shop", "retail", "app",
                    key=f"buy-{account}-{order_id}")
    if settle:
        ledger.settle(account, order_id, key=f"settle-{account}-{order_id}")


def last_code(ledger: Ledger, customer: str = CUSTOMER) -> str:
    """The one-time code in the borrower's latest message."""
    return ledger.notifier.messages(customer)[-1].code


def wrong(code: str) -> str:
    """A six-digit code that is certainly not ``code``."""
    return f"{(int(code) + 1) % 1_000_000:06d}"


def close(ledger: Ledger, account: str, request_id: str = "close-1") -> CommandResult:
    """Request, verify with the code received, and confirm."""
    ledger.request_closure(account, request_id, key=f"req-{request_id}")
    check = ledger.verify_closure_code(account, request_id, last_code(ledger),
                                       key=f"verify-{request_id}")
    assert check.accepted, check
    return ledger.confirm_closure(account, request_id, key=f"confirm-{request_id}")


def named(blocked: ClosureBlocked) -> list[Blocker]:
    """The blockers a ``ClosureBlocked`` names (every one of them is a ``Blocker``)."""
    found = [b for b in blocked.blockers if isinstance(b, Blocker)]
    assert len(found) == len(blocked.blockers)
    return found


def kinds(found: list[Blocker]) -> list[str]:
    return [b.kind for b in found]


def by_kind(found: list[Blocker], kind: str) -> Blocker:
    [blocker] = [b for b in found if b.kind == kind]
    return blocker


def refused(ledger: Ledger, call: Callable[[], Any], error: type[Exception]
            ) -> pytest.ExceptionInfo[Any]:
    """``call`` raises ``error``, appends nothing and sends no message."""
    store: EventStore = ledger.store
    before = store.last_position()
    sent = len(ledger.notifier.messages(CUSTOMER))
    with pytest.raises(error) as raised:
        call()
    assert store.last_position() == before, "a refused command wrote events"
    assert len(ledger.notifier.messages(CUSTOMER)) == sent, "a refused command sent a code"
    return raised


def request_is_blocked(ledger: Ledger, account: str, expected: list[str]
                       ) -> list[Blocker]:
    """A closure request is refused naming exactly ``expected`` (all of them, in order),
    the same list ``closure_blockers`` shows; nothing is written or sent."""
    found = ledger.closure_blockers(account)
    assert kinds(found) == expected
    raised = refused(ledger, lambda: ledger.request_closure(account, "blocked-request",
                                                            key="blocked-request"),
                     ClosureBlocked)
    assert isinstance(raised.value, ClosureBlocked)
    assert raised.value.account_id == account
    assert raised.value.blockers == found
    for blocker in found:
        assert blocker.what in str(raised.value)
    return found


def run_cli(*args: str) -> tuple[int, str]:
    """Exit code and output of ``lendguard``, with Rich's box drawing and line wrapping
    taken out so that words can be compared."""
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, " ".join(re.sub("[\u2500-\u257f]", " ", result.output).split())
