"""The revolving credit line (花呗): state, fold and decisions.

Life of a purchase: ``PurchaseMade`` (pending, occupies limit) → ``PurchaseSettled``
(unbilled) → billed on the next ``StatementIssued`` → repaid; or refunded at any stage
(``PurchaseRefunded``), or converted into an instalment plan. A statement is issued on the
statement day with the settled purchases and one period of each running plan; it is
interest-free until its due day. After the due day, whatever of it is unpaid accrues
penalty interest daily; if less than the minimum payment was paid, the account is past
due. Penalty interest is posted (``PenaltyInterestCharged``) whenever its base is about
to change, at each statement and at write-off, so the exact accrual is never lost.

Everything here is pure: ``CreditLineState.apply`` folds an event, ``decide_*`` read a
state and return events or raise a typed error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from lendguard.errors import (
    AccountAlreadyExists,
    InsufficientLimit,
    InvalidCommand,
    NotConvertible,
    UnknownOrder,
)
from lendguard.events import Event
from lendguard.ledger.account import (
    COMMON_HANDLERS,
    ENDED,
    AccountState,
    accrue,
    credit_balance_payment,
    received,
    remember_preparation,
    remembered_preparation,
    repayment_prelude,
    written_off,
)
from lendguard.ledger.allocation import Owed, allocate
from lendguard.ledger.apr import apr_of_fee_plan
from lendguard.ledger.delinquency import bucket, days_past_due, is_write_off_due
from lendguard.ledger.events import (
    AccountWrittenOff,
    Allocation,
    CreditBalanceApplied,
    CreditLineOpened,
    DelinquencyChanged,
    DisputeOpened,
    DisputeResolved,
    InstalmentPlanCreated,
    LineItem,
    PenaltyInterestCharged,
    PurchaseMade,
    PurchaseRefunded,
    PurchaseSettled,
    RepaymentReceived,
    StatementIssued,
)
from lendguard.ledger.schedule import build_fee_plan
from lendguard.ledger.terms import CreditLineTerms, require_valid, validate_credit_line_terms
from lendguard.money import Money, round_half_up

FAR_FUTURE = date(9999, 12, 31)


class Order:
    """A purchase on the line.

    ``stage``: pending → unbilled → billed, or → plan; ``written_off`` at write-off.
    ``refunded`` and ``prepaid`` (repaid before it was billed) reduce what is billable.
    """

    __slots__ = ("amount", "category", "channel", "merchant", "on", "order_id", "plan_id",
                 "prepaid", "prepaid_on", "refunded", "refunded_on", "settled_on", "stage",
                 "statement_id")

    def __init__(self, ev: PurchaseMade) -> None:
        self.order_id = ev.order_id
        self.amount = ev.amount.fen
        self.merchant = ev.merchant
        self.category = ev.category
        self.channel = ev.channel
        self.on = ev.on
        self.stage = "pending"
        self.settled_on = date.max
        self.refunded = 0
        self.refunded_on: date | None = None
        self.prepaid = 0
        self.prepaid_on: date | None = None
        self.statement_id = ""
        self.plan_id = ""

    @property
    def billable(self) -> int:
        return self.amount - self.refunded - self.prepaid


class Statement:
    """A statement and what is still owed on it.

    ``principal`` includes ``instalment_principal`` (repayments of principal reduce the
    instalment part first); ``paid`` counts repayments and refund credits toward the
    minimum payment; penalty interest accrues from ``penalty_from``.
    """

    __slots__ = ("due_date", "fee", "instalment_principal", "minimum_payment", "paid",
                 "penalty", "penalty_from", "principal", "statement_date", "statement_id",
                 "total_billed")

    def __init__(self, ev: StatementIssued) -> None:
        self.statement_id = ev.statement_id
        self.statement_date = ev.statement_date
        self.due_date = ev.due_date
        self.minimum_payment = ev.minimum_payment.fen
        self.principal = ev.purchases.fen + ev.instalment_principal.fen
        self.instalment_principal = ev.instalment_principal.fen
        self.fee = ev.instalment_fees.fen
        self.penalty = 0
        self.paid = 0
        self.penalty_from = ev.due_date  # accrues for each day after it: (due, to]
        self.total_billed = self.principal + self.fee

    @property
    def outstanding(self) -> int:
        return self.principal + self.fee + self.penalty

    @property
    def penalty_base(self) -> int:
        return self.principal + self.fee

    @property
    def minimum_unpaid(self) -> int:
        """What is still missing of this statement's minimum payment."""
        return max(0, self.minimum_payment - self.paid)

    def is_past_due(self, on: date) -> bool:
        return on > self.due_date and self.minimum_unpaid > 0


class Plan:
    """An instalment plan: the principal and fee of each period not yet billed, and the
    principal of each period billed so far with the statement that billed it."""

    __slots__ = ("billed", "billed_on", "created_on", "fee_left", "periods", "plan_id",
                 "principal_left", "source")

    def __init__(self, ev: InstalmentPlanCreated) -> None:
        self.plan_id = ev.plan_id
        self.source = ev.source
        self.periods = ev.periods
        self.principal_left = list(ev.principal_per_period)
        self.fee_left = list(ev.fee_per_period)
        self.billed = 0
        self.billed_on: list[tuple[str, int]] = []
        self.created_on = ev.on

    @property
    def unbilled_principal(self) -> int:
        return sum(self.principal_left)

    @property
    def running(self) -> bool:
        return bool(self.principal_left) or any(self.fee_left)


class CreditLineState(AccountState):
    """A credit line folded from its events."""

    __slots__ = ("disputes", "last_statement_date", "open_orders", "orders", "plans",
                 "statements", "terms")

    def __init__(self, account_id: str) -> None:
        super().__init__(account_id)
        self.disputes: dict[str, DisputeOpened] = {}
        self.terms = CreditLineTerms()
        self.orders: dict[str, Order] = {}
        # The orders still pending or unbilled, in purchase order: what the limit in
        # use and billing look at (``orders`` keeps every order for refunds).
        self.open_orders: dict[str, Order] = {}
        self.statements: dict[str, Statement] = {}
        self.plans: dict[str, Plan] = {}
        self.last_statement_date: date | None = None

    # ---- derived figures ---------------------------------------------------------------

    @property
    def exists(self) -> bool:
        return self.version > 0

    def pending_total(self) -> int:
        return sum(o.billable for o in self.open_orders.values() if o.stage == "pending")

    def unbilled_total(self) -> int:
        return sum(o.billable for o in self.open_orders.values() if o.stage == "unbilled")

    def billed_principal(self) -> int:
        return sum(s.principal for s in self.statements.values())

    def plan_principal(self) -> int:
        return sum(p.unbilled_principal for p in self.plans.values())

    def occupied(self) -> int:
        """Limit in use: pending, unbilled and billed purchases, unbilled plan principal.

        (``pending_total() + unbilled_total() + billed_principal() + plan_principal()``
        in one pass: every open order is pending or unbilled. The simulator asks this
        before most purchases.)"""
        total = 0
        for o in self.open_orders.values():
            total += o.amount - o.refunded - o.prepaid
        for s in self.statements.values():
            total += s.principal
        for p in self.plans.values():
            total += sum(p.principal_left)
        return total

    def available_limit(self) -> int:
        return max(0, self.limit - self.occupied())

    def statement_balance(self) -> int:
        return sum(s.outstanding for s in self.statements.values())

    def oldest_past_due(self, on: date) -> date | None:
        """Due date of the oldest statement whose minimum was missed, while anything
        billed is still owed (a minimum covers older balances too, so a statement can
        be short of its minimum although its own lines are paid)."""
        if self.statement_balance() <= 0:
            return None
        dates = [s.due_date for s in self.statements.values() if s.is_past_due(on)]
        return min(dates) if dates else None

    def minimum_due(self) -> int:
        """All that is missing of minimum payments, capped at what is billed."""
        return min(self.statement_balance(),
                   sum(s.minimum_unpaid for s in self.statements.values()))

    def days_past_due(self, on: date) -> int:
        return days_past_due(self.oldest_past_due(on), on)

    def running_plans(self) -> list[Plan]:
        return [p for p in self.plans.values() if p.running]

    def balances(self) -> dict[str, int]:
        """Receivables by chart-of-accounts code, for reconciliation with the journal."""
        return {
            "1205": self.pending_total(),
            "1200": self.unbilled_total() + self.billed_principal() + self.plan_principal(),
            "1310": sum(s.fee for s in self.statements.values()),
            "1320": sum(s.penalty for s in self.statements.values()),
            "2200": self.credit_balance,
        }

    # ---- fold --------------------------------------------------------------------------

    def _apply_purchase(self, ev: PurchaseMade) -> None:
        self.orders[ev.order_id] = self.open_orders[ev.order_id] = Order(ev)

    def _apply_settlement(self, ev: PurchaseSettled) -> None:
        order = self.orders[ev.order_id]
        order.stage = "unbilled"
        order.settled_on = ev.on

    def _apply_penalty(self, ev: PenaltyInterestCharged) -> None:
        st = self.statements[ev.item]
        st.penalty += ev.amount.fen
        st.penalty_from = ev.to_date

    def _apply_credit_applied(self, ev: CreditBalanceApplied) -> None:
        self._apply_allocations(ev.allocations, ev.on)
        self.credit_balance -= ev.amount.fen

    def _apply_dispute(self, ev: DisputeOpened) -> None:
        self.disputes[ev.dispute_id] = ev

    def _apply_resolution(self, ev: DisputeResolved) -> None:
        self.disputes.pop(ev.dispute_id, None)

    def _apply_opening(self, ev: CreditLineOpened) -> None:
        self.customer_id = ev.customer_id
        self.limit = ev.limit.fen
        self.currency = ev.limit.currency
        self.terms = ev.terms
        self.opened_on = ev.on

    def _apply_refund(self, ev: PurchaseRefunded) -> None:
        order = self.orders[ev.order_id]
        order.refunded += ev.amount.fen
        order.refunded_on = ev.on
        applied = ev.amount.fen - ev.to_credit_balance.fen
        if ev.stage == "unbilled":
            # The part already prepaid comes back as a credit balance.
            order.prepaid -= ev.to_credit_balance.fen
        elif ev.stage == "billed":
            st = self.statements[ev.statement_id]
            on_statement = applied - ev.to_plan.fen
            st.principal -= on_statement
            st.instalment_principal = min(st.instalment_principal, st.principal)
            st.paid += on_statement
            if ev.to_plan.fen:
                plan = self.plans[ev.plan_id]
                _reduce_from_end(plan.principal_left, ev.to_plan.fen)
                del plan.fee_left[len(plan.principal_left):]
        elif ev.stage == "plan":
            plan = self.plans[ev.plan_id]
            for part in ev.reversals:
                st = self.statements[part.item]
                st.principal -= part.amount.fen
                st.instalment_principal -= part.amount.fen
                st.paid += part.amount.fen
            _reduce_from_end(plan.principal_left, ev.to_plan.fen)
            # A period whose principal was refunded away carries no fee either; the two
            # lists stay the same length, so billing never runs out of principal.
            del plan.fee_left[len(plan.principal_left):]
        self.credit_balance += ev.to_credit_balance.fen

    def _apply_statement(self, ev: StatementIssued) -> None:
        self.statements[ev.statement_id] = Statement(ev)
        for order_id in ev.billed_orders:
            order = self.open_orders.pop(order_id)
            order.stage = "billed"
            order.statement_id = ev.statement_id
        for plan_id in ev.billed_plans:
            plan = self.plans[plan_id]
            plan.billed_on.append((ev.statement_id, plan.principal_left.pop(0)))
            plan.fee_left.pop(0)
            plan.billed += 1
        self.last_statement_date = ev.statement_date

    def _apply_plan(self, ev: InstalmentPlanCreated) -> None:
        self.plans[ev.plan_id] = Plan(ev)
        if ev.source.startswith("order:"):
            order = self.open_orders.pop(ev.source.removeprefix("order:"))
            order.stage = "plan"
            order.plan_id = ev.plan_id
        else:
            st = self.statements[ev.source]
            st.principal -= ev.principal.fen
            reduction = round_half_up(ev.principal.fen * self.terms.minimum_payment_rate)
            st.minimum_payment = max(0, st.minimum_payment - reduction)

    def _apply_repayment(self, ev: RepaymentReceived) -> None:
        received(self, ev)
        self._apply_allocations(ev.allocations, ev.on)
        self.credit_balance += ev.to_credit_balance.fen

    def _apply_allocations(self, allocations: tuple[Allocation, ...], on: date) -> None:
        # What each statement still lacks of its minimum, before this money lands.
        shortfalls = [(st, st.minimum_unpaid) for st in
                      sorted(self.statements.values(), key=lambda s: s.due_date)]
        on_statements = 0
        for part in allocations:
            fen = part.amount.fen
            if part.item.startswith("unbilled:"):
                order = self.orders[part.item.removeprefix("unbilled:")]
                order.prepaid += fen
                order.prepaid_on = on
                continue
            if part.item.startswith("plan:"):
                plan = self.plans[part.item.removeprefix("plan:")]
                _reduce_from_end(plan.principal_left, fen)
                # Paid off early: the fees of the periods that will never be billed go too.
                del plan.fee_left[len(plan.principal_left):]
                continue
            st = self.statements[part.item]
            on_statements += fen
            if part.component == "principal":
                st.principal -= fen
                st.instalment_principal = max(0, st.instalment_principal - fen)
            elif part.component == "fee":
                st.fee -= fen
            elif part.component == "penalty":
                st.penalty -= fen
        # Money paid on statements counts toward their minimums oldest first, whichever
        # statement the waterfall put it on: paying this month's minimum keeps the line
        # current even when the money cleared an older balance first.
        for st, shortfall in shortfalls:
            credited = min(shortfall, on_statements)
            st.paid += credited
            on_statements -= credited

    def _apply_write_off(self, ev: AccountWrittenOff) -> None:
        written_off(self, ev)
        for st in self.statements.values():
            st.principal = st.fee = st.penalty = st.instalment_principal = 0
        for plan in self.plans.values():
            plan.principal_left = []
            plan.fee_left = []
        for order in list(self.open_orders.values()):
            if order.stage == "unbilled":
                order.stage = "written_off"
                del self.open_orders[order.order_id]


# One fold function per event type (the shared ones too): replay looks it up once.
CreditLineState.handlers = {
    **COMMON_HANDLERS,
    PurchaseMade: CreditLineState._apply_purchase,
    PurchaseSettled: CreditLineState._apply_settlement,
    PurchaseRefunded: CreditLineState._apply_refund,
    PenaltyInterestCharged: CreditLineState._apply_penalty,
    StatementIssued: CreditLineState._apply_statement,
    InstalmentPlanCreated: CreditLineState._apply_plan,
    RepaymentReceived: CreditLineState._apply_repayment,
    CreditBalanceApplied: CreditLineState._apply_credit_applied,
    AccountWrittenOff: CreditLineState._apply_write_off,
    DisputeOpened: CreditLineState._apply_dispute,
    DisputeResolved: CreditLineState._apply_resolution,
    CreditLineOpened: CreditLineState._apply_opening,
}


def _reduce_from_end(parts: list[int], amount: int) -> None:
    """Take ``amount`` off a list of period amounts, last period first."""
    for index in range(len(parts) - 1, -1, -1):
        if amount <= 0:
            break
        take = min(parts[index], amount)
        parts[index] -= take
        amount -= take
    while parts and parts[-1] == 0:
        parts.pop()


def fold(account_id: str, events: Iterable[Event]) -> CreditLineState:
    state = CreditLineState(account_id)
    for ev in events:
        state.apply(ev)
        state.version += 1
    return state


# ---- decisions -------------------------------------------------------------------------


def decide_open(state: CreditLineState, customer_id: str, limit: Money,
                terms: CreditLineTerms, on: date) -> list[Event]:
    if state.exists:
        raise AccountAlreadyExists(f"account {state.account_id} already exists")
    if not customer_id:
        raise InvalidCommand("customer_id is required")
    require_valid(validate_credit_line_terms(terms))
    if not isinstance(limit, Money) or limit.fen < 0:
        raise InvalidCommand(f"limit must be non-negative Money, got {limit!r}")
    return [CreditLineOpened(customer_id, limit, terms, on)]


def _require_text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidCommand(f"{name} must be a non-empty string, got {value!r}")
    return value


def decide_purchase(state: CreditLineState, order_id: str, amount: Money, merchant: str,
                    category: str, channel: str, at: str, on: date) -> list[Event]:
    state.require_active()
    fen = state.require_amount(amount)
    _require_text(order_id, "order_id")
    _require_text(merchant, "merchant")
    _require_text(category, "category")
    _require_text(channel, "channel")
    if order_id in state.orders:
        raise InvalidCommand(f"order {order_id} already exists on {state.account_id}")
    available = state.available_limit()
    if fen > available:
        raise InsufficientLimit(
            f"purchase of {amount} exceeds the available limit {state.money(available)}"
        )
    return [PurchaseMade(order_id, amount, merchant, category, channel, at, on)]


def _order(state: CreditLineState, order_id: str) -> Order:
    order = state.orders.get(order_id)
    if order is None:
        raise UnknownOrder(f"no order {order_id!r} on account {state.account_id}")
    return order


def decide_settle(state: CreditLineState, order_id: str, on: date) -> list[Event]:
    state.require_open()
    order = _order(state, order_id)
    if order.stage != "pending":
        raise InvalidCommand(f"order {order_id} is already {order.stage}, not pending")
    if order.billable <= 0:
        raise InvalidCommand(f"order {order_id} was refunded in full; nothing to settle")
    return [PurchaseSettled(order_id, state.money(order.billable), on)]


def _penalty_posting(state: CreditLineState, st: Statement, to: date) -> list[Event]:
    if st.penalty_base <= 0 or to <= st.penalty_from:
        return []
    rate = state.terms.penalty_daily_rate
    amount = accrue(st.penalty_base, rate, st.penalty_from, to)
    return [PenaltyInterestCharged(st.statement_id, state.money(amount),
                                   state.money(st.penalty_base), rate, st.penalty_from, to)]


def post_penalties(state: CreditLineState, to: date) -> list[PenaltyInterestCharged]:
    """Post penalty interest accrued up to ``to`` (exclusive) on every statement."""
    out: list[PenaltyInterestCharged] = []
    for st in state.statements.values():
        for ev in _penalty_posting(state, st, to):
            if isinstance(ev, PenaltyInterestCharged):
                out.append(ev)
    return out


def decide_refund(state: CreditLineState, order_id: str, amount: Money,
                  on: date) -> list[Event]:
    state.require_open()
    fen = state.require_amount(amount, "refund")
    order = _order(state, order_id)
    refundable = order.amount - order.refunded
    if fen > refundable:
        raise InvalidCommand(
            f"refund of {amount} exceeds what is refundable on {order_id}: "
            f"{state.money(refundable)}"
        )
    events: list[Event] = []
    to_credit = to_plan = 0
    reversals: tuple[Allocation, ...] = ()
    plan_id = order.plan_id
    if order.stage == "unbilled":
        to_credit = max(0, fen - order.billable)
    elif order.stage == "billed":
        st = state.statements[order.statement_id]
        events += _penalty_posting(state, st, on)
        beyond = max(0, fen - st.principal)
        converted = _plan_from(state, order.statement_id)
        if converted is not None and beyond:
            plan_id = converted.plan_id
            to_plan = min(beyond, converted.unbilled_principal)
        to_credit = beyond - to_plan
    elif order.stage == "plan":
        plan = state.plans[order.plan_id]
        to_plan = min(fen, plan.unbilled_principal)
        reversed_parts, postings = _reverse_billed_periods(state, plan, fen - to_plan, on)
        events += postings
        reversals = tuple(reversed_parts)
        to_credit = fen - to_plan - sum(p.amount.fen for p in reversals)
    elif order.stage == "written_off":
        raise InvalidCommand(f"order {order_id} was written off")
    events.append(PurchaseRefunded(order_id, amount, order.stage, order.statement_id,
                                   plan_id, state.money(to_plan), reversals,
                                   state.money(to_credit), on))
    return events


def _reverse_billed_periods(state: CreditLineState, plan: Plan, amount: int,
                           on: date) -> tuple[list[Allocation], list[Event]]:
    """Take a refund off the plan's billed, still unpaid principal, oldest period first.

    Billed instalment fees stay owed (as with 花呗: fees of periods already billed are
    not returned; those of unbilled periods are never charged).
    """
    parts: list[Allocation] = []
    postings: list[Event] = []
    for statement_id, billed in plan.billed_on:
        st = state.statements[statement_id]
        take = min(amount, billed, st.instalment_principal, st.principal)
        if take <= 0:
            continue
        postings += _penalty_posting(state, st, on)
        parts.append(Allocation(statement_id, "principal", state.money(take)))
        amount -= take
    return parts, postings


def _plan_from(state: CreditLineState, statement_id: str) -> Plan | None:
    """The running plan a statement was converted into, if any."""
    for plan in state.plans.values():
        if plan.source == statement_id and plan.unbilled_principal > 0:
            return plan
    return None


def _new_plan(state: CreditLineState, plan_id: str, source: str, principal: int,
              periods: int, on: date) -> InstalmentPlanCreated:
    rate = state.terms.fee_rate_for(periods)
    if rate is None:
        offered = ", ".join(str(o.periods) for o in state.terms.instalment_options)
        raise InvalidCommand(f"{periods} periods is not offered; choose one of {offered}")
    if plan_id in state.plans:
        raise InvalidCommand(f"plan {plan_id} already exists")
    plan = build_fee_plan(principal, periods, rate, on)
    return InstalmentPlanCreated(
        plan_id, source, state.money(principal), periods, rate,
        tuple(i.principal for i in plan.instalments), tuple(i.fee for i in plan.instalments),
        apr_of_fee_plan(periods, rate), on,
    )


def decide_convert_statement(state: CreditLineState, statement_id: str, periods: int,
                             plan_id: str, on: date) -> list[Event]:
    state.require_active()
    st = state.statements.get(statement_id)
    if st is None:
        raise NotConvertible(f"no statement {statement_id!r} on {state.account_id}")
    if on > st.due_date:
        raise NotConvertible(f"statement {statement_id} was due on {st.due_date}; too late")
    convertible = st.principal - st.instalment_principal
    if convertible <= 0:
        raise NotConvertible(f"statement {statement_id} has no unpaid purchases to convert")
    return [_new_plan(state, plan_id, statement_id, convertible, periods, on)]


def decide_convert_purchase(state: CreditLineState, order_id: str, periods: int,
                            plan_id: str, on: date) -> list[Event]:
    state.require_active()
    order = _order(state, order_id)
    if order.stage != "unbilled" or order.billable <= 0:
        raise NotConvertible(
            f"order {order_id} is {order.stage}; only a settled, unbilled purchase converts"
        )
    return [_new_plan(state, plan_id, f"order:{order_id}", order.billable, periods, on)]


def owed_items(state: CreditLineState, on: date,
               postings: list[PenaltyInterestCharged]) -> list[Owed]:
    """What is owed now, after ``postings`` (penalties posted up to ``on``)."""
    posted: dict[str, int] = {}
    for ev in postings:
        posted[ev.item] = posted.get(ev.item, 0) + ev.amount.fen
    owed: list[Owed] = []
    for st in state.statements.values():
        penalty = st.penalty + posted.get(st.statement_id, 0)
        for component, fen in (("penalty", penalty), ("fee", st.fee),
                               ("principal", st.principal)):
            if fen > 0:
                owed.append(Owed(st.statement_id, st.due_date, component, fen))
    return owed


def unbilled_items(state: CreditLineState) -> list[Owed]:
    """Settled purchases not yet billed, payable early (oldest first, after all dues)."""
    orders = sorted((o for o in state.open_orders.values()
                     if o.stage == "unbilled" and o.billable > 0), key=lambda o: (o.on, o.order_id))
    return [Owed(f"unbilled:{o.order_id}", FAR_FUTURE, "principal", o.billable) for o in orders]


def prepare_repayment(state: CreditLineState, on: date) -> tuple[list[Event], list[Owed]]:
    """Penalties to post before money is allocated on ``on``, and what is then owed."""
    remembered = remembered_preparation(state, on)
    if remembered is not None:
        return remembered
    postings = post_penalties(state, on)
    return remember_preparation(state, on, list(postings), owed_items(state, on, postings))


def amount_due(state: CreditLineState, on: date) -> int:
    """Everything billed and unpaid on ``on``, penalty interest to that day included."""
    _, owed = prepare_repayment(state, on)
    return sum(o.amount for o in owed)


def repayment_events(state: CreditLineState, repayment_id: str, amount: int,
                     slices: list[tuple[str, str, int]], leftover: int,
                     on: date) -> list[Event]:
    """The repayment as recorded: ``slices`` of what was owed; ``leftover`` pays unbilled
    purchases early (oldest first) and the rest becomes a credit balance."""
    more, leftover = allocate(leftover, unbilled_items(state), state.terms.allocation)
    parts = tuple(Allocation(item, comp, state.money(f)) for item, comp, f in slices + more)
    return [RepaymentReceived(repayment_id, state.money(amount), parts, state.money(leftover),
                              state.money(0), on)]


def plan_items(state: CreditLineState) -> list[Owed]:
    """Running plans' unbilled principal, payable early (no further fees are charged)."""
    return [Owed(f"plan:{p.plan_id}", FAR_FUTURE, "principal", p.unbilled_principal)
            for p in state.running_plans() if p.unbilled_principal > 0]


def payoff_amount(state: CreditLineState, on: date) -> int:
    """Everything that repays the line in full on ``on``: billed (penalty to date), unbilled
    purchases and unbilled instalment principal. Pending orders are not payable."""
    return amount_due(state, on) + state.unbilled_total() + state.plan_principal()


def decide_pay_off(state: CreditLineState, repayment_id: str, on: date) -> list[Event]:
    """Repay everything payable now, instalment plans included, in one repayment."""
    state.require_open()
    _require_text(repayment_id, "repayment_id")
    postings, owed = prepare_repayment(state, on)
    total = payoff_amount(state, on)
    if total <= 0:
        raise InvalidCommand(f"nothing is payable on {state.account_id}")
    slices, leftover = allocate(total, owed + unbilled_items(state) + plan_items(state),
                                state.terms.allocation)
    parts = tuple(Allocation(item, comp, state.money(f)) for item, comp, f in slices)
    return [*postings, RepaymentReceived(repayment_id, state.money(total), parts,
                                         state.money(leftover), state.money(0), on)]


def decide_repay(state: CreditLineState, repayment_id: str, amount: Money,
                 on: date) -> list[Event]:
    fen, recovered = repayment_prelude(state, repayment_id, amount, on)
    if recovered is not None:
        return recovered
    postings, owed = prepare_repayment(state, on)
    slices, leftover = allocate(fen, owed, state.terms.allocation)
    return postings + repayment_events(state, repayment_id, fen, slices, leftover, on)


def decide_apply_credit_balance(state: CreditLineState, on: date) -> list[Event]:
    """Use a credit balance to pay what is billed (penalties to date included)."""
    if state.credit_balance <= 0:
        return []
    return credit_balance_payment(state, prepare_repayment(state, on), state.terms.allocation,
                                  on)


# ---- close of business -----------------------------------------------------------------


def statement_date_on_or_before(terms: CreditLineTerms, on: date) -> date:
    if on.day >= terms.statement_day:
        return on.replace(day=terms.statement_day)
    first = on.replace(day=1) - timedelta(days=1)
    return first.replace(day=terms.statement_day)


def due_date_for(terms: CreditLineTerms, statement_date: date) -> date:
    if terms.due_day > terms.statement_day:
        return statement_date.replace(day=terms.due_day)
    next_month = (statement_date.replace(day=28) + timedelta(days=4)).replace(day=1)
    return next_month.replace(day=terms.due_day)


@dataclass(frozen=True, slots=True)
class _Billing:
    purchases: int
    instalment_principal: int
    instalment_fees: int
    items: list[LineItem]
    orders: tuple[str, ...]
    plans: tuple[str, ...]


def _billing(state: CreditLineState, statement_date: date) -> _Billing:
    """What a statement dated ``statement_date`` bills: purchases settled and plans
    created by then (a statement caught up after missed closes bills nothing later)."""
    items: list[LineItem] = []
    orders = sorted((o for o in state.open_orders.values()
                     if o.stage == "unbilled" and o.settled_on <= statement_date),
                    key=lambda o: (o.on, o.order_id))
    for o in orders:
        items.append(LineItem(o.on, "purchase", o.order_id, o.merchant, state.money(o.amount)))
        if o.refunded:
            items.append(LineItem(o.refunded_on or o.on, "refund", o.order_id, o.merchant,
                                  state.money(-o.refunded)))
        if o.prepaid:
            items.append(LineItem(o.prepaid_on or o.on, "early repayment", o.order_id, o.merchant,
                                  state.money(-o.prepaid)))
    principal = fees = 0
    plans: list[str] = []
    for plan in state.running_plans():
        if plan.created_on > statement_date:
            continue
        period = plan.billed + 1
        p, f = plan.principal_left[0], plan.fee_left[0]
        principal += p
        fees += f
        plans.append(plan.plan_id)
        when = state.opened_on
        items.append(LineItem(when, "instalment", plan.plan_id,
                              f"period {period}/{plan.periods}", state.money(p)))
        if f:
            items.append(LineItem(when, "instalment fee", plan.plan_id,
                                  f"period {period}/{plan.periods}", state.money(f)))
    return _Billing(sum(o.billable for o in orders), principal, fees, items,
                    tuple(o.order_id for o in orders), tuple(plans))


def _statement(state: CreditLineState, statement_date: date) -> list[Event]:
    postings = post_penalties(state, statement_date)
    billing = _billing(state, statement_date)
    posted = sum(ev.amount.fen for ev in postings)
    previous = state.statement_balance() + posted
    if not billing.orders and not billing.plans and previous <= 0:
        return []
    items = [LineItem(ev.to_date, "penalty interest", ev.item,
                      f"{(ev.to_date - ev.from_date).days} days on {ev.base}", ev.amount)
             for ev in postings]
    # Instalment lines are dated on the statement day itself.
    items += [LineItem(statement_date, i.kind, i.reference, i.description, i.amount)
              if i.kind.startswith("instalment") else i for i in billing.items]
    # Like a card: a share of all revolving principal (new and carried), plus the
    # instalments, fees and penalty interest in full, never more than the balance.
    carried = sum(s.principal + s.fee for s in state.statements.values())
    minimum = min(
        previous + billing.purchases + billing.instalment_principal + billing.instalment_fees,
        round_half_up((billing.purchases + carried) * state.terms.minimum_payment_rate)
        + billing.instalment_principal + billing.instalment_fees + posted,
    )
    due = due_date_for(state.terms, statement_date)
    statement = StatementIssued(
        f"S{statement_date:%Y-%m}", statement_date, due, state.money(billing.purchases),
        state.money(billing.instalment_principal), state.money(billing.instalment_fees),
        state.money(minimum), state.money(previous), tuple(sorted(items, key=lambda i: i.on)),
        billing.orders, billing.plans,
    )
    return [*postings, statement]


def decide_billing(state: CreditLineState, on: date) -> list[Event]:
    """The statement, on the statement day (or the first close after it)."""
    if not state.exists or state.status in ENDED:
        return []
    statement_date = statement_date_on_or_before(state.terms, on)
    if statement_date > state.opened_on and (
        state.last_statement_date is None or statement_date > state.last_statement_date
    ):
        return _statement(state, statement_date)
    return []


def decide_ageing(state: CreditLineState, on: date) -> list[Event]:
    """Days past due, the bucket, and write-off when they pass the product's limit."""
    if not state.exists or state.status in ENDED:
        return []
    dpd = state.days_past_due(on)
    if is_write_off_due(dpd, state.terms.write_off_days):
        return _write_off(state, on, dpd)
    new_bucket = bucket(dpd)
    if new_bucket != state.bucket:
        return [DelinquencyChanged(state.bucket, new_bucket, dpd, on)]
    return []


def decide_close_of_business(state: CreditLineState, on: date) -> list[Event]:
    """Billing and ageing in one decision. Idempotent by state: a second run for the
    same date finds nothing left to do. (The service runs the two steps apart, with a
    credit balance applied between them.)"""
    ageing = decide_ageing(state, on)
    if any(isinstance(ev, AccountWrittenOff) for ev in ageing):
        return ageing
    # A new statement is never past due on its issue day, so it cannot change dpd.
    return decide_billing(state, on) + ageing


def _write_off(state: CreditLineState, on: date, dpd: int) -> list[Event]:
    postings = post_penalties(state, on)
    penalties = sum(s.penalty for s in state.statements.values())
    penalties += sum(ev.amount.fen for ev in postings)
    principal = state.billed_principal() + state.unbilled_total() + state.plan_principal()
    fees = sum(s.fee for s in state.statements.values())
    written = AccountWrittenOff(state.money(principal), state.money(0), state.money(fees),
                                state.money(penalties), dpd, on)
    return [*postings, DelinquencyChanged(state.bucket, "written_off", dpd, on), written]
