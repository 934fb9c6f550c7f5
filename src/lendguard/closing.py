"""The closure conversation shared by ``lendguard close`` and the demo.

Everything that decides lives in ``ledger.closure`` and ``service.Ledger``; this module
only walks a borrower through it: show the blockers, offer the payoff (each step an
ordinary ledger command, in order: statements, instalment plans, loans, the credit
balance back), send a code, verify it, ask for the confirmation, close. It is fully
scriptable (``--pay-off --code … --yes``) and asks for what is missing when a terminal
is attached.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from rich.console import Console
from rich.prompt import Confirm, Prompt
from rich.table import Table

from lendguard.errors import AccountNotActive, ClosureBlocked
from lendguard.ledger.account import Status
from lendguard.ledger.closure import CONFIRMATION_WINDOW, MAX_WRONG_CODES, Blocker
from lendguard.money import yuan
from lendguard.service import Ledger, Verification


@dataclass(frozen=True, slots=True)
class CloseRequest:
    """What the borrower asked for on the command line."""

    account_id: str
    both: bool = False
    pay_off: bool = False
    code: str | None = None
    yes: bool = False


@dataclass(slots=True)
class Outcome:
    """How closing one account ended."""

    account_id: str
    closed: bool
    stage: str
    blockers: list[Blocker] = field(default_factory=list)


def blockers_table(account_id: str, found: list[Blocker], chinese: bool = False) -> Table:
    table = Table(title=f"What stands between you and closing {account_id}",
                  title_justify="left")
    for name in ("#", "what", "amount (CNY)", "by", "what to do"):
        table.add_column(name, justify="right" if name.startswith("amount") else "left")
    for n, b in enumerate(found, 1):
        table.add_row(str(n), b.what_zh if chinese else b.what,
                      yuan(b.amount) if b.amount else "", str(b.by or ""),
                      b.action_zh if chinese else b.action)
    return table


def run_closure(ledger: Ledger, request: CloseRequest, console: Console,
                interactive: bool) -> list[Outcome]:
    """Close the requested account (or all of its customer's with ``both``)."""
    state = ledger.state(request.account_id)
    accounts = ledger.accounts_of(state.customer_id) if request.both else [request.account_id]
    open_accounts = [a for a in accounts if ledger.state(a).status is not Status.CLOSED]
    outcomes = [Outcome(a, True, "already closed") for a in accounts
                if a not in open_accounts]
    ready: list[str] = []
    for account_id in open_accounts:
        found = ledger.closure_blockers(account_id)
        if found and request.pay_off:
            found = _pay_off(ledger, account_id, found, request, console, interactive)
        if found:
            console.print(blockers_table(account_id, found))
            outcomes.append(Outcome(account_id, False, "blocked", found))
        else:
            ready.append(account_id)
    if ready:
        outcomes += _verify_and_close(ledger, ready, request, console, interactive)
    _summary(outcomes, console)
    return outcomes


def _pay_off(ledger: Ledger, account_id: str, found: list[Blocker], request: CloseRequest,
             console: Console, interactive: bool) -> list[Blocker]:
    payable = [b for b in found if b.payable]
    refund = next((b for b in found if b.kind == "credit_balance"), None)
    if not payable and refund is None:
        return found
    total = sum(b.amount for b in payable)
    console.print(f"Paying off {account_id}: " + "; ".join(
        f"{n}. {b.action}" for n, b in enumerate([*payable, *([refund] if refund else [])], 1)))
    if not (request.yes or (interactive and Confirm.ask(
            f"Pay {yuan(total)} now and take back any credit balance?"))):
        return found
    ref = uuid.uuid4().hex[:8]
    if payable:
        ledger.pay_off(account_id, f"payoff-{ref}", key=f"payoff-{ref}")
    if ledger.state(account_id).credit_balance > 0:
        ledger.refund_credit_balance(account_id, key=f"refund-{ref}")
    return ledger.closure_blockers(account_id)


def _verify_and_close(ledger: Ledger, accounts: list[str], request: CloseRequest,
                      console: Console, interactive: bool) -> list[Outcome]:
    now = ledger.clock.now()
    pending = [a for a in accounts if not _has_live_code(ledger, a, now)]
    if pending:
        request_id = f"close-{uuid.uuid4().hex[:10]}"
        ledger.request_closures(pending, request_id, key=request_id)
        customer = ledger.state(accounts[0]).customer_id
        console.print(f"A one-time code was sent to {customer} (read it with `lendguard "
                      f"outbox --customer {customer}`); it expires in 5 minutes.")
    code = None if pending else request.code
    if code is None and interactive:
        code = Prompt.ask("Enter the code")
    if code is None:
        return [Outcome(a, False, "code sent") for a in accounts]
    outcomes = []
    for account_id in accounts:
        outcomes.append(_verify_and_confirm(ledger, account_id, code, request, console,
                                            interactive))
    return outcomes


def _has_live_code(ledger: Ledger, account_id: str, now: datetime) -> bool:
    """A code the borrower can still use: sent and not yet expired, or accepted recently
    enough to confirm with. A lapsed verification needs a new code, not the old one."""
    progress = ledger.state(account_id).closure
    if progress is None or progress.expires_at is None:
        return False
    if progress.accepted_at is not None:
        return now - progress.accepted_at <= CONFIRMATION_WINDOW
    return now <= progress.expires_at


def _verify_and_confirm(ledger: Ledger, account_id: str, code: str, request: CloseRequest,
                        console: Console, interactive: bool) -> Outcome:
    progress = ledger.state(account_id).closure
    if progress is None:
        return Outcome(account_id, False, "no closure request")
    request_id = progress.request_id
    if progress.accepted_at is None:
        check = ledger.verify_closure_code(account_id, request_id, code,
                                           key=f"verify-{uuid.uuid4().hex}")
        if not check.accepted:
            console.print(f"[red]code {check.reason}[/] for {account_id}"
                          + _after_rejection(check, ledger.clock.now()))
            return Outcome(account_id, False, f"code {check.reason}")
    if not (request.yes or (interactive and Confirm.ask(
            f"Close {account_id} for good? Its history is kept; reopening means a new "
            "application"))):
        return Outcome(account_id, False, "not confirmed")
    try:
        ledger.confirm_closure(account_id, request_id, key=f"confirm-{request_id}-{account_id}")
    except ClosureBlocked as blocked:
        found = [b for b in blocked.blockers if isinstance(b, Blocker)]
        console.print(blockers_table(account_id, found))
        return Outcome(account_id, False, "blocked", found)
    return Outcome(account_id, True, "closed")


def _after_rejection(check: Verification, now: datetime) -> str:
    """What the borrower can do next: the fifth wrong code locks closure (and resets the
    count), so it must not read as a full set of tries left."""
    if check.locked_until:
        until = datetime.fromisoformat(check.locked_until)
        if now < until:
            return f": closure is locked until {until:%H:%M}"
    if check.reason == "wrong":
        return f" ({max(0, MAX_WRONG_CODES - check.failures)} tries left)"
    return ""


def _summary(outcomes: list[Outcome], console: Console) -> None:
    table = Table(title="Closure", title_justify="left")
    table.add_column("account")
    table.add_column("outcome")
    for outcome in outcomes:
        colour = "green" if outcome.closed else "yellow"
        table.add_row(outcome.account_id, f"[{colour}]{outcome.stage}[/]")
    console.print(table)


def closure_record_table(ledger: Ledger, account_id: str) -> Table:
    """The closure record: final balances (all zero), who, when, how verified."""
    state = ledger.state(account_id)
    closed = state.closed
    if closed is None:
        raise AccountNotActive(f"account {account_id} is not closed")
    table = Table(title=f"Closure record of {account_id}", title_justify="left")
    table.add_column("field")
    table.add_column("value")
    for name, value in (("customer", state.customer_id), ("closed on", str(closed.on)),
                        ("closed at", closed.at), ("closed by", closed.closed_by),
                        ("request", closed.request_id), ("verified by", closed.verification),
                        ("reason", closed.reason), ("events kept", str(state.version))):
        table.add_row(name, value)
    for code, fen in sorted(state.balances().items()):
        table.add_row(f"final balance {code}", yuan(fen))
    return table
