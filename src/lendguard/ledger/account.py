"""What both products share: status, limit, credit balance, delinquency bucket, and the
commands that work the same on either (limit change, freeze, unfreeze, close, refund of a
credit balance).

A state object is built by folding events with ``apply``; decision functions read a state
and return new events or raise a typed error. Decisions never modify the state.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from lendguard.errors import AccountNotActive, InvalidAmount, InvalidCommand
from lendguard.events import Event
from lendguard.ledger.allocation import Owed, allocate
from lendguard.ledger.events import (
    AccountClosed,
    AccountFrozen,
    AccountUnfrozen,
    AccountWrittenOff,
    Allocation,
    ClosureCodeAccepted,
    ClosureCodeIssued,
    ClosureCodeRejected,
    ClosureLocked,
    ClosureRequested,
    CreditBalanceApplied,
    CreditBalanceRefunded,
    DelinquencyChanged,
    LimitChanged,
    RepaymentFailed,
    RepaymentInitiated,
    RepaymentReceived,
)
from lendguard.ledger.terms import AllocationOrder
from lendguard.money import Money, round_half_up


class Status(StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"
    CLOSED = "closed"
    WRITTEN_OFF = "written_off"


# The statuses an account never leaves: ``state.status in ENDED`` (a tuple of the members
# themselves, found by identity; spelling out ``Status.CLOSED`` goes through the enum's
# attribute lookup, and decisions ask this for every account every day).
ENDED: tuple[Status, ...] = (Status.CLOSED, Status.WRITTEN_OFF)




def _limit_changed(state: AccountState, ev: LimitChanged) -> None:
    state.limit = ev.new_limit.fen


def _frozen(state: AccountState, ev: AccountFrozen) -> None:
    state.status = Status.FROZEN


def _unfrozen(state: AccountState, ev: AccountUnfrozen) -> None:
    state.status = Status.ACTIVE


def _closed(state: AccountState, ev: AccountClosed) -> None:
    state.status = Status.CLOSED
    state.closed = ev


def _repayment_initiated(state: AccountState, ev: RepaymentInitiated) -> None:
    state.in_flight[ev.repayment_id] = ev.amount.fen


def _repayment_failed(state: AccountState, ev: RepaymentFailed) -> None:
    state.in_flight.pop(ev.repayment_id, None)


def _closure_requested(state: AccountState, ev: ClosureRequested) -> None:
    state.closure = ClosureProgress(ev.request_id)


def _code_issued(state: AccountState, ev: ClosureCodeIssued) -> None:
    if state.closure is not None:
        state.closure.issue(ev)


def _code_accepted(state: AccountState, ev: ClosureCodeAccepted) -> None:
    if state.closure is not None:
        state.closure.accepted_at = datetime.fromisoformat(ev.at)
    state.code_failures = 0


def _code_rejected(state: AccountState, ev: ClosureCodeRejected) -> None:
    state.code_failures = ev.failures


def _locked(state: AccountState, ev: ClosureLocked) -> None:
    state.locked_until = datetime.fromisoformat(ev.until)
    state.code_failures = 0
    state.closure = None


def _credit_refunded(state: AccountState, ev: CreditBalanceRefunded) -> None:
    state.credit_balance -= ev.amount.fen


def _delinquency(state: AccountState, ev: DelinquencyChanged) -> None:
    state.bucket = ev.new_bucket


def received(state: AccountState, ev: RepaymentReceived) -> None:
    """What every product does with a repayment before allocating it."""
    state.in_flight.pop(ev.repayment_id, None)
    state.recovered += ev.recovered.fen


def written_off(state: AccountState, ev: AccountWrittenOff) -> None:
    """What every product does at write-off before clearing its own balances."""
    state.written_off += ev.principal.fen + ev.interest.fen + ev.fees.fen + ev.penalties.fen
    state.status = Status.WRITTEN_OFF


COMMON_HANDLERS: dict[type[Event], Callable[[Any, Any], None]] = {
    LimitChanged: _limit_changed,
    AccountFrozen: _frozen,
    AccountUnfrozen: _unfrozen,
    AccountClosed: _closed,
    RepaymentInitiated: _repayment_initiated,
    RepaymentFailed: _repayment_failed,
    ClosureRequested: _closure_requested,
    ClosureCodeIssued: _code_issued,
    ClosureCodeAccepted: _code_accepted,
    ClosureCodeRejected: _code_rejected,
    ClosureLocked: _locked,
    CreditBalanceRefunded: _credit_refunded,
    DelinquencyChanged: _delinquency,
}


def accrue(base: int, daily_rate: Decimal, start: date, end: date) -> int:
    """Simple interest on ``base`` fen for ``end - start`` days (each day after ``start``
    up to and including ``end``), rounded half-up to the fen."""
    days = (end - start).days
    if days <= 0 or base <= 0:
        return 0
    return round_half_up(Decimal(base) * daily_rate * days)


class ClosureProgress:
    """Where a closure request stands: its code (hashed), expiry and acceptance."""

    __slots__ = ("accepted_at", "code_hash", "expires_at", "request_id", "salt")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.code_hash = ""
        self.salt = ""
        self.expires_at: datetime | None = None
        self.accepted_at: datetime | None = None

    def issue(self, ev: ClosureCodeIssued) -> None:
        self.code_hash = ev.code_hash
        self.salt = ev.salt
        self.expires_at = datetime.fromisoformat(ev.expires_at)
        self.accepted_at = None


class AccountState:
    """The parts of an account's state both products have.

    Attributes:
      account_id, customer_id, currency, opened_on.
      limit: the approved limit in fen.
      status: ``Status``.
      credit_balance: fen the lender owes the borrower (overpayments, late refunds).
      bucket: the delinquency bucket last recorded at close of business.
      version: the stream's last sequence number folded in.
      in_flight: repayments started and not yet received or failed, by id.
      closure: the closure request in progress, if any; ``code_failures`` wrong codes
        since the last success or lock; ``locked_until`` the end of a lock-out.
      closed: the closing event once closed (the closure record's source).
      written_off, recovered: fen written off, and received after that.
    """

    __slots__ = ("account_id", "bucket", "closed", "closure", "code_failures",
                 "credit_balance", "currency", "customer_id", "in_flight", "limit",
                 "locked_until", "opened_on", "prepared", "recovered", "status", "version",
                 "written_off")

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        self.customer_id = ""
        self.currency = "CNY"
        self.opened_on = date.min
        self.limit = 0
        self.status = Status.ACTIVE
        self.credit_balance = 0
        self.bucket = "M0"
        self.version = 0
        self.in_flight: dict[str, int] = {}
        self.closure: ClosureProgress | None = None
        self.code_failures = 0
        self.locked_until: datetime | None = None
        self.closed: AccountClosed | None = None
        self.written_off = 0
        self.recovered = 0
        # The product's last ``prepare_repayment`` answer: (version, day, postings, owed).
        # A borrower who looks up what is due and then pays it asks twice at one version.
        self.prepared: tuple[int, date, list[Event], list[Owed]] | None = None

    # Fold functions by event type; each product adds its own to these shared ones.
    handlers: ClassVar[dict[type[Event], Callable[[Any, Any], None]]] = {}

    def apply(self, ev: Event) -> None:
        """Fold one event into the state: one table lookup, one call (the hot path of
        every replay). Events the account has no use for are ignored."""
        handler = self.handlers.get(type(ev))
        if handler is not None:
            self.prepared = None
            handler(self, ev)

    def balances(self) -> dict[str, int]:
        """Receivables and credit balance by chart-of-accounts code (each product)."""
        raise NotImplementedError

    def occupied(self) -> int:
        """Limit in use (each product)."""
        raise NotImplementedError

    def days_past_due(self, on: date) -> int:
        """Days since the oldest amount due and unpaid (each product)."""
        raise NotImplementedError

    # ---- checks used by decisions ------------------------------------------------------

    def money(self, fen: int) -> Money:
        return Money(fen, self.currency)

    def require_active(self) -> None:
        if self.status is not Status.ACTIVE:
            raise AccountNotActive(f"account {self.account_id} is {self.status.value}")

    def require_open(self) -> None:
        """Not closed and not written off (frozen accounts may still repay)."""
        if self.status in ENDED:
            raise AccountNotActive(f"account {self.account_id} is {self.status.value}")

    def require_amount(self, amount: Money, what: str = "amount") -> int:
        if not isinstance(amount, Money):
            raise InvalidAmount(f"{what} must be Money, got {amount!r}")
        if amount.currency != self.currency:
            raise InvalidAmount(
                f"{what} is in {amount.currency}; account {self.account_id} is in {self.currency}"
            )
        if amount.fen <= 0:
            raise InvalidAmount(f"{what} must be positive, got {amount}")
        return amount.fen


def decide_limit_change(state: AccountState, new_limit: Money, reason: str, on: date
                        ) -> list[Event]:
    state.require_open()
    if not isinstance(new_limit, Money) or new_limit.currency != state.currency:
        raise InvalidAmount(f"new limit must be Money in {state.currency}, got {new_limit!r}")
    if new_limit.fen < 0:
        raise InvalidAmount(f"a limit cannot be negative: {new_limit}")
    # A limit may be lowered below what is in use: nothing new can be drawn until repaid.
    if new_limit.fen == state.limit:
        return []
    return [LimitChanged(state.money(state.limit), new_limit, reason, on)]


def decide_freeze(state: AccountState, reason: str, on: date) -> list[Event]:
    state.require_open()
    if state.status is Status.FROZEN:
        return []
    return [AccountFrozen(reason, on)]


def decide_unfreeze(state: AccountState, reason: str, on: date) -> list[Event]:
    state.require_open()
    if state.status is not Status.FROZEN:
        return []
    return [AccountUnfrozen(reason, on)]


def remembered_preparation(state: AccountState, on: date
                           ) -> tuple[list[Event], list[Owed]] | None:
    """``state.prepared`` for ``on`` if it was worked out at the state's version (as new
    lists: callers may extend them)."""
    memo = state.prepared
    if memo is None or memo[0] != state.version or memo[1] != on:
        return None
    return list(memo[2]), list(memo[3])


def remember_preparation(state: AccountState, on: date, postings: list[Event],
                         owed: list[Owed]) -> tuple[list[Event], list[Owed]]:
    state.prepared = (state.version, on, postings, owed)
    return list(postings), list(owed)


def credit_balance_payment(state: AccountState, prepared: tuple[list[Event], list[Owed]],
                           order: AllocationOrder, on: date) -> list[Event]:
    """Pay what is owed from the credit balance: ``prepared`` is the product's postings to
    make first and what is then owed (its ``prepare_repayment``)."""
    if state.credit_balance <= 0 or state.status in ENDED:
        return []
    postings, owed = prepared
    slices, _ = allocate(state.credit_balance, owed, order)
    if not slices:
        return []
    parts = tuple(Allocation(item, comp, state.money(f)) for item, comp, f in slices)
    used = sum(f for _, _, f in slices)
    return [*postings, CreditBalanceApplied(state.money(used), parts, on)]


def repayment_prelude(state: AccountState, repayment_id: str, amount: Money,
                      on: date) -> tuple[int, list[Event] | None]:
    """The checks every repayment shares: the fen to allocate, and — for a written-off
    account, which books any money as a recovery — the whole decision already made.
    A closed account refuses the money."""
    if not isinstance(repayment_id, str) or not repayment_id.strip():
        raise InvalidCommand(f"repayment_id must be a non-empty string, got {repayment_id!r}")
    fen = state.require_amount(amount, "repayment")
    if state.status is Status.CLOSED:
        state.require_open()
    if state.status is Status.WRITTEN_OFF:
        return fen, [RepaymentReceived(repayment_id, amount, (), state.money(0), amount, on)]
    return fen, None


def decide_refund_credit_balance(state: AccountState, on: date) -> list[Event]:
    if state.credit_balance <= 0:
        raise InvalidCommand(f"account {state.account_id} has no credit balance to refund")
    return [CreditBalanceRefunded(state.money(state.credit_balance), on)]


AccountState.handlers = COMMON_HANDLERS
