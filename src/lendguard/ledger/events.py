"""The ledger's domain events, for both products.

Every event is immutable, named in the past tense, registered under a stable type name
and schema version. Events carry the facts a fold needs and nothing it would have to
recompute: allocations of a repayment, the schedule of a drawdown and the line items of a
statement are decided once, by the command, and stored. Applying an event never checks
and never fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from lendguard.events import NOT_FOLDED, Event, event
from lendguard.ledger.schedule import RepaymentMethod
from lendguard.ledger.terms import CashLoanTerms, CreditLineTerms
from lendguard.money import Money

# ---- shared value types --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Allocation:
    """One slice of a repayment.

    Attributes:
      item: what it pays: a statement id (``S2026-03``), ``unbilled:<order>`` for an
        unbilled purchase, or ``<loan_id>#<n>`` for a loan instalment.
      component: ``penalty``, ``fee``, ``interest`` or ``principal``.
      amount: how much of the repayment went there.
    """

    item: str
    component: str
    amount: Money


@dataclass(frozen=True, slots=True)
class LineItem:
    """A line of a statement: what, when, how much (negative for credits)."""

    on: date
    kind: str
    reference: str
    description: str
    amount: Money


# ---- both products -------------------------------------------------------------------


@event("CreditLineOpened")
@dataclass(frozen=True, slots=True)
class CreditLineOpened(Event):
    """A credit line was opened for a customer with a limit under the given terms."""

    customer_id: str
    limit: Money
    terms: CreditLineTerms
    on: date


@event("CashLoanAccountOpened")
@dataclass(frozen=True, slots=True)
class CashLoanAccountOpened(Event):
    """A cash-loan account was opened with an approved limit under the given terms."""

    customer_id: str
    limit: Money
    terms: CashLoanTerms
    on: date


@event("LimitChanged")
@dataclass(frozen=True, slots=True)
class LimitChanged(Event):
    old_limit: Money
    new_limit: Money
    reason: str
    on: date


@event("AccountFrozen")
@dataclass(frozen=True, slots=True)
class AccountFrozen(Event):
    reason: str
    on: date


@event("AccountUnfrozen")
@dataclass(frozen=True, slots=True)
class AccountUnfrozen(Event):
    reason: str
    on: date


@event("AccountClosed")
@dataclass(frozen=True, slots=True)
class AccountClosed(Event):
    """The account was closed after a verified, confirmed request with nothing owed.

    Attributes:
      reason: why (the borrower's words, or ``customer request``).
      on: the business date.
      request_id: the closure request it completes ('' for an administrative closure).
      verification: how the borrower's identity was checked (``hotp-sms-outbox``, …).
      closed_by: who confirmed it (``user:…``).
      at: the business time, ISO 8601.
    """

    reason: str
    on: date
    request_id: str = ""
    verification: str = ""
    closed_by: str = ""
    at: str = ""


@event("ClosureRequested")
@dataclass(frozen=True, slots=True)
class ClosureRequested(Event):
    """The borrower asked to close the account and nothing blocked it at that moment."""

    request_id: str
    requested_by: str
    at: str
    on: date


@event("ClosureCodeIssued")
@dataclass(frozen=True, slots=True)
class ClosureCodeIssued(Event):
    """A one-time code (RFC 4226) was sent for a closure request.

    Only a salted hash of the code is kept; the code itself goes to the borrower through
    the notification port. It is valid until ``expires_at`` and only once.
    """

    request_id: str
    code_hash: str
    salt: str
    channel: str
    issued_at: str
    expires_at: str


@event("ClosureCodeAccepted")
@dataclass(frozen=True, slots=True)
class ClosureCodeAccepted(Event):
    request_id: str
    at: str


@event("ClosureCodeRejected")
@dataclass(frozen=True, slots=True)
class ClosureCodeRejected(Event):
    """A code was refused: ``reason`` is ``wrong``, ``expired``, ``used``, ``no code`` or
    ``locked``; ``failures`` counts wrong codes since the last success or lock."""

    request_id: str
    reason: str
    failures: int
    at: str


@event("ClosureLocked")
@dataclass(frozen=True, slots=True)
class ClosureLocked(Event):
    """Too many wrong codes: no closure request or code is accepted until ``until``."""

    request_id: str
    until: str
    at: str


@event("RepaymentInitiated")
@dataclass(frozen=True, slots=True)
class RepaymentInitiated(Event):
    """A repayment was started (a bank transfer, a card debit) and is in flight until it
    is received (``RepaymentReceived`` with the same id) or fails."""

    repayment_id: str
    amount: Money
    channel: str
    on: date


@event("RepaymentFailed")
@dataclass(frozen=True, slots=True)
class RepaymentFailed(Event):
    repayment_id: str
    reason: str
    on: date


@event("DisputeOpened")
@dataclass(frozen=True, slots=True)
class DisputeOpened(Event):
    """The borrower disputes an order (not received, not as described, not mine)."""

    dispute_id: str
    order_id: str
    reason: str
    on: date


@event("DisputeResolved")
@dataclass(frozen=True, slots=True)
class DisputeResolved(Event):
    """A dispute was closed; a refund, if any, is its own ``PurchaseRefunded``."""

    dispute_id: str
    outcome: str
    on: date


@event("RepaymentReceived")
@dataclass(frozen=True, slots=True)
class RepaymentReceived(Event):
    """Money arrived for this account and was allocated as recorded.

    ``to_credit_balance`` is the part nothing was owed for: it becomes a credit balance.
    ``recovered`` is money received after write-off (recovery income).
    """

    repayment_id: str
    amount: Money
    allocations: tuple[Allocation, ...]
    to_credit_balance: Money
    recovered: Money
    on: date


@event("CreditBalanceApplied")
@dataclass(frozen=True, slots=True)
class CreditBalanceApplied(Event):
    """Part of the credit balance paid what had fallen due, allocated as recorded."""

    amount: Money
    allocations: tuple[Allocation, ...]
    on: date


@event("CreditBalanceRefunded")
@dataclass(frozen=True, slots=True)
class CreditBalanceRefunded(Event):
    amount: Money
    on: date


@event("DelinquencyChanged")
@dataclass(frozen=True, slots=True)
class DelinquencyChanged(Event):
    """The account moved between delinquency buckets at close of business."""

    old_bucket: str
    new_bucket: str
    days_past_due: int
    on: date


@event("AccountWrittenOff")
@dataclass(frozen=True, slots=True)
class AccountWrittenOff(Event):
    """Everything outstanding was written off after too many days past due."""

    principal: Money
    interest: Money
    fees: Money
    penalties: Money
    days_past_due: int
    on: date


# ---- credit line -----------------------------------------------------------------------


@event("PurchaseMade")
@dataclass(frozen=True, slots=True)
class PurchaseMade(Event):
    """A purchase was paid on the line; it is pending until the merchant settles."""

    order_id: str
    amount: Money
    merchant: str
    category: str
    channel: str
    at: str
    on: date


@event("PurchaseSettled")
@dataclass(frozen=True, slots=True)
class PurchaseSettled(Event):
    """The merchant settled the order; what remains unrefunded becomes billable."""

    order_id: str
    amount: Money
    on: date


@event("PurchaseRefunded")
@dataclass(frozen=True, slots=True)
class PurchaseRefunded(Event):
    """All or part of an order was refunded.

    ``stage`` says where the order stood: ``pending``, ``unbilled``, ``billed`` (on
    statement ``statement_id``) or ``plan`` (converted into plan ``plan_id``). The refund
    first reduces what is still owed there; for a billed order whose statement was
    converted, ``to_plan`` reduces that plan's unbilled principal (``plan_id``). For a
    converted order, ``to_plan`` comes off the plan's unbilled periods and ``reversals``
    off the principal of its periods already billed and unpaid, per statement.
    ``to_credit_balance`` is the part that had already been repaid.
    """

    order_id: str
    amount: Money
    stage: str
    statement_id: str
    plan_id: str
    to_plan: Money
    reversals: tuple[Allocation, ...]
    to_credit_balance: Money
    on: date


@event("PenaltyInterestCharged")
@dataclass(frozen=True, slots=True)
class PenaltyInterestCharged(Event):
    """Penalty (overdue) interest on an item was posted, rounded half-up to the fen: one
    day's interest on ``base`` for each day after ``from_date`` up to and including
    ``to_date`` (``to_date - from_date`` days)."""

    item: str
    amount: Money
    base: Money
    daily_rate: Decimal
    from_date: date
    to_date: date


@event("StatementIssued")
@dataclass(frozen=True, slots=True)
class StatementIssued(Event):
    """The statement of a billing cycle.

    Attributes:
      statement_id: ``S<YYYY-MM>`` of the statement date.
      statement_date, due_date: issue day and the last interest-free day.
      purchases: new revolving principal billed (purchases less refunds).
      instalment_principal, instalment_fees: the instalment periods billed.
      minimum_payment: what must be paid by the due date to stay current.
      previous_balance: what older statements still owe.
      line_items: every line, in date order (for the borrower and reports: no fold reads
        them, and replay leaves them undecoded).
      billed_orders: orders whose unbilled amount moved onto this statement.
      billed_plans: plans one period of which was billed.
    """

    statement_id: str
    statement_date: date
    due_date: date
    purchases: Money
    instalment_principal: Money
    instalment_fees: Money
    minimum_payment: Money
    previous_balance: Money
    line_items: tuple[LineItem, ...] = field(metadata=NOT_FOLDED)
    billed_orders: tuple[str, ...]
    billed_plans: tuple[str, ...]


@event("InstalmentPlanCreated")
@dataclass(frozen=True, slots=True)
class InstalmentPlanCreated(Event):
    """A statement's unpaid purchases or one purchase became an instalment plan.

    ``source`` is the statement id or ``order:<id>``; the plan's periods are billed on the
    following statements, principal and fee in the amounts listed. ``apr`` is the
    disclosed annual rate of the fee (IRR method: monthly IRR × 12).
    """

    plan_id: str
    source: str
    principal: Money
    periods: int
    total_fee_rate: Decimal
    principal_per_period: tuple[int, ...]
    fee_per_period: tuple[int, ...]
    apr: Decimal
    on: date


# ---- cash loan -----------------------------------------------------------------------


@event("LoanDrawn")
@dataclass(frozen=True, slots=True)
class LoanDrawn(Event):
    """A loan was drawn against the limit and paid out.

    ``due_dates`` are the instalment dates; ``planned_principal`` the principal due on
    each under the method (for equal instalments it is the disclosed plan: the principal
    actually due is ``level_payment`` less the interest accrued by then); ``apr`` the
    disclosed annual rate (IRR method).
    """

    loan_id: str
    principal: Money
    term_months: int
    method: RepaymentMethod
    daily_rate: Decimal
    level_payment: Money
    due_dates: tuple[date, ...]
    planned_principal: tuple[int, ...]
    apr: Decimal
    on: date


@event("InterestCharged")
@dataclass(frozen=True, slots=True)
class InterestCharged(Event):
    """Interest on a loan's principal not yet due was posted, rounded half-up to the fen:
    one day's interest on ``base`` for each day after ``from_date`` up to and including
    ``to_date`` (a loan drawn on 2 March and due on 2 April pays 31 days)."""

    loan_id: str
    amount: Money
    base: Money
    daily_rate: Decimal
    from_date: date
    to_date: date


@event("InstalmentFellDue")
@dataclass(frozen=True, slots=True)
class InstalmentFellDue(Event):
    """Instalment ``number`` of a loan fell due: its principal and the posted interest."""

    loan_id: str
    number: int
    due_date: date
    principal: Money
    interest: Money


@event("LoanPrepaid")
@dataclass(frozen=True, slots=True)
class LoanPrepaid(Event):
    """Principal was repaid before it fell due.

    ``mode`` is ``full``, ``shorter_term`` or ``smaller_instalment``; the remaining plan is
    ``due_dates``/``planned_principal``/``level_payment`` (empty when fully repaid).
    """

    loan_id: str
    repayment_id: str
    principal: Money
    mode: str
    level_payment: Money
    due_dates: tuple[date, ...]
    planned_principal: tuple[int, ...]
    on: date
