"""The instalment cash loan (借呗): state, fold and decisions.

An account has an approved limit; each drawdown is a loan with a term and a repayment
method. Interest accrues daily, by actual days, on the principal not yet due, at the
account's daily rate; it is posted (``InterestCharged``) when an instalment falls due and
at early repayment, so a borrower who repays early pays interest only for the days used.
The instalment amounts follow the disclosed plan (built on 30-day months):

- equal instalments (等额本息): each instalment is the level payment; its principal is the
  level payment less the interest accrued by then; the last clears the rest;
- equal principal (等额本金): the planned principal plus the interest accrued;
- interest first (先息后本): interest each month, all principal in the last.

Principal unpaid after its due day accrues penalty interest at ``penalty_multiplier`` ×
the daily rate. Close of business on a month's last day also posts the interest and
penalty accrued so far, so income is recognised in the month it is earned; each posting
is rounded half-up to the fen on its own. Early repayment, partial or full, has no fee;
after a partial one the borrower chooses a shorter term (same instalment) or a smaller
instalment (same term).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal

from lendguard.errors import (
    AccountAlreadyExists,
    InsufficientLimit,
    InvalidCommand,
    UnknownLoan,
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
from lendguard.ledger.apr import apr_of_schedule
from lendguard.ledger.delinquency import bucket, days_past_due, is_write_off_due
from lendguard.ledger.events import (
    AccountWrittenOff,
    Allocation,
    CashLoanAccountOpened,
    CreditBalanceApplied,
    DelinquencyChanged,
    InstalmentFellDue,
    InterestCharged,
    LoanDrawn,
    LoanPrepaid,
    PenaltyInterestCharged,
    RepaymentReceived,
)
from lendguard.ledger.schedule import RepaymentMethod, build_schedule
from lendguard.ledger.terms import CashLoanTerms, require_valid, validate_cash_loan_terms
from lendguard.money import Money, round_half_up

PREPAY_MODES = ("shorter_term", "smaller_instalment")


class DueItem:
    """An instalment that has fallen due and what of it is unpaid."""

    __slots__ = ("due_date", "interest", "number", "penalty", "penalty_from", "principal")

    def __init__(self, ev: InstalmentFellDue) -> None:
        self.number = ev.number
        self.due_date = ev.due_date
        self.principal = ev.principal.fen
        self.interest = ev.interest.fen
        self.penalty = 0
        self.penalty_from = ev.due_date  # accrues for each day after it: (due, to]

    @property
    def outstanding(self) -> int:
        return self.principal + self.interest + self.penalty

    def clone(self) -> DueItem:
        # By hand: copy.copy goes through __reduce_ex__, several times slower.
        twin = DueItem.__new__(DueItem)
        twin.number, twin.due_date, twin.principal = self.number, self.due_date, self.principal
        twin.interest, twin.penalty, twin.penalty_from = (self.interest, self.penalty,
                                                          self.penalty_from)
        return twin


class Loan:
    """One drawdown.

    Attributes:
      not_due: principal not yet fallen due (accrues interest from ``interest_from``).
      open_interest: interest posted but not yet part of an instalment.
      due_dates, planned: the remaining plan; ``level_payment`` for equal instalments.
      items: fallen-due instalments by number.
    """

    __slots__ = ("daily_rate", "drawn_on", "due_dates", "interest_from", "items",
                 "level_payment", "loan_id", "method", "next_number", "not_due",
                 "open_interest", "planned", "principal", "term_months")

    def __init__(self, ev: LoanDrawn) -> None:
        self.loan_id = ev.loan_id
        self.principal = ev.principal.fen
        self.term_months = ev.term_months
        self.method = ev.method
        self.daily_rate = ev.daily_rate
        self.level_payment = ev.level_payment.fen
        self.drawn_on = ev.on
        self.not_due = ev.principal.fen
        self.interest_from = ev.on
        self.open_interest = 0
        self.due_dates = list(ev.due_dates)
        self.planned = list(ev.planned_principal)
        self.items: dict[int, DueItem] = {}
        self.next_number = 1

    def clone(self) -> Loan:
        twin = Loan.__new__(Loan)
        for name in Loan.__slots__:
            setattr(twin, name, getattr(self, name))
        twin.due_dates = list(self.due_dates)
        twin.planned = list(self.planned)
        twin.items = {n: item.clone() for n, item in self.items.items()}
        return twin

    @property
    def outstanding_principal(self) -> int:
        return self.not_due + sum(i.principal for i in self.items.values())

    @property
    def is_repaid(self) -> bool:
        return (self.not_due == 0 and self.open_interest == 0
                and all(i.outstanding == 0 for i in self.items.values()))

    def item_key(self, number: int) -> str:
        return f"{self.loan_id}#{number}"

    def apply(self, ev: Event) -> None:
        if isinstance(ev, InterestCharged):
            self.open_interest += ev.amount.fen
            self.interest_from = ev.to_date
        elif isinstance(ev, InstalmentFellDue):
            self.items[ev.number] = DueItem(ev)
            self.not_due -= ev.principal.fen
            self.open_interest -= ev.interest.fen
            self.due_dates.pop(0)
            self.planned.pop(0)
            self.next_number = ev.number + 1
        elif isinstance(ev, PenaltyInterestCharged):
            item = self.items[int(ev.item.rsplit("#", 1)[1])]
            item.penalty += ev.amount.fen
            item.penalty_from = ev.to_date
        elif isinstance(ev, LoanPrepaid):
            self.due_dates = list(ev.due_dates)
            self.planned = list(ev.planned_principal)
            self.level_payment = ev.level_payment.fen

    def apply_allocation(self, part: Allocation) -> None:
        fen = part.amount.fen
        suffix = part.item.rsplit("#", 1)[1]
        if suffix == "prepay":
            self.not_due -= fen
        elif suffix == "open":
            self.open_interest -= fen
        else:
            item = self.items[int(suffix)]
            if part.component == "principal":
                item.principal -= fen
            elif part.component == "interest":
                item.interest -= fen
            elif part.component == "penalty":
                item.penalty -= fen

    def write_off(self) -> None:
        self.not_due = 0
        self.open_interest = 0
        self.due_dates = []
        self.planned = []
        for item in self.items.values():
            item.principal = item.interest = item.penalty = 0


class CashLoanState(AccountState):
    """A cash-loan account folded from its events."""

    __slots__ = ("loans", "terms")

    def __init__(self, account_id: str) -> None:
        super().__init__(account_id)
        self.terms = CashLoanTerms()
        self.loans: dict[str, Loan] = {}

    @property
    def exists(self) -> bool:
        return self.version > 0

    def occupied(self) -> int:
        return sum(loan.outstanding_principal for loan in self.loans.values())

    def available_limit(self) -> int:
        return max(0, self.limit - self.occupied())

    def active_loans(self) -> list[Loan]:
        return [loan for loan in self.loans.values() if not loan.is_repaid]

    def oldest_past_due(self, on: date) -> date | None:
        dates = [item.due_date for loan in self.loans.values() for item in loan.items.values()
                 if item.outstanding > 0 and on > item.due_date]
        return min(dates) if dates else None

    def days_past_due(self, on: date) -> int:
        return days_past_due(self.oldest_past_due(on), on)

    def balances(self) -> dict[str, int]:
        loans = self.loans.values()
        return {
            "1210": sum(loan.outstanding_principal for loan in loans),
            "1300": sum(loan.open_interest + sum(i.interest for i in loan.items.values())
                        for loan in loans),
            "1320": sum(i.penalty for loan in loans for i in loan.items.values()),
            "2200": self.credit_balance,
        }

    def _loan_of(self, item: str) -> Loan:
        return self.loans[item.rsplit("#", 1)[0]]

    def _apply_drawdown(self, ev: LoanDrawn) -> None:
        self.loans[ev.loan_id] = Loan(ev)

    def _apply_to_loan(self, ev: InterestCharged | InstalmentFellDue | LoanPrepaid) -> None:
        self.loans[ev.loan_id].apply(ev)

    def _apply_penalty(self, ev: PenaltyInterestCharged) -> None:
        self._loan_of(ev.item).apply(ev)

    def _apply_repayment(self, ev: RepaymentReceived) -> None:
        received(self, ev)
        for part in ev.allocations:
            self._loan_of(part.item).apply_allocation(part)
        self.credit_balance += ev.to_credit_balance.fen

    def _apply_credit_applied(self, ev: CreditBalanceApplied) -> None:
        for part in ev.allocations:
            self._loan_of(part.item).apply_allocation(part)
        self.credit_balance -= ev.amount.fen

    def _apply_write_off(self, ev: AccountWrittenOff) -> None:
        written_off(self, ev)
        for loan in self.loans.values():
            loan.write_off()

    def _apply_opening(self, ev: CashLoanAccountOpened) -> None:
        self.customer_id = ev.customer_id
        self.limit = ev.limit.fen
        self.currency = ev.limit.currency
        self.terms = ev.terms
        self.opened_on = ev.on


# One fold function per event type (the shared ones too): replay looks it up once.
CashLoanState.handlers = {
    **COMMON_HANDLERS,
    LoanDrawn: CashLoanState._apply_drawdown,
    InterestCharged: CashLoanState._apply_to_loan,
    InstalmentFellDue: CashLoanState._apply_to_loan,
    LoanPrepaid: CashLoanState._apply_to_loan,
    PenaltyInterestCharged: CashLoanState._apply_penalty,
    RepaymentReceived: CashLoanState._apply_repayment,
    CreditBalanceApplied: CashLoanState._apply_credit_applied,
    AccountWrittenOff: CashLoanState._apply_write_off,
    CashLoanAccountOpened: CashLoanState._apply_opening,
}


def fold(account_id: str, events: Iterable[Event]) -> CashLoanState:
    state = CashLoanState(account_id)
    for ev in events:
        state.apply(ev)
        state.version += 1
    return state


# ---- decisions -------------------------------------------------------------------------


def decide_open(state: CashLoanState, customer_id: str, limit: Money, terms: CashLoanTerms,
                on: date) -> list[Event]:
    if state.exists:
        raise AccountAlreadyExists(f"account {state.account_id} already exists")
    if not customer_id:
        raise InvalidCommand("customer_id is required")
    require_valid(validate_cash_loan_terms(terms))
    if not isinstance(limit, Money) or limit.fen < 0:
        raise InvalidCommand(f"limit must be non-negative Money, got {limit!r}")
    return [CashLoanAccountOpened(customer_id, limit, terms, on)]


def decide_draw(state: CashLoanState, loan_id: str, amount: Money, term_months: int,
                method: RepaymentMethod | str, on: date) -> list[Event]:
    state.require_active()
    fen = state.require_amount(amount, "drawdown")
    if not isinstance(loan_id, str) or not loan_id.strip() or "#" in loan_id:
        raise InvalidCommand(f"loan_id must be a non-empty string without '#', got {loan_id!r}")
    if loan_id in state.loans:
        raise InvalidCommand(f"loan {loan_id} already exists on {state.account_id}")
    if term_months not in state.terms.terms_months:
        raise InvalidCommand(f"a {term_months}-month term is not offered; choose one of "
                             f"{', '.join(map(str, state.terms.terms_months))}")
    try:
        method = RepaymentMethod(method)
    except ValueError:
        raise InvalidCommand(f"unknown repayment method {method!r}") from None
    if method not in state.terms.methods:
        raise InvalidCommand(f"repayment method {method.value} is not offered")
    available = state.available_limit()
    if fen > available:
        raise InsufficientLimit(
            f"drawdown of {amount} exceeds the available limit {state.money(available)}"
        )
    schedule = build_schedule(fen, state.terms.periodic_rate, term_months, method, on)
    first = schedule.instalments[0]
    level = first.principal + first.interest if method is RepaymentMethod.EQUAL_INSTALMENT else 0
    return [LoanDrawn(
        loan_id, amount, term_months, method, state.terms.daily_rate, state.money(level),
        tuple(i.due_date for i in schedule.instalments),
        tuple(i.principal for i in schedule.instalments), apr_of_schedule(schedule), on,
    )]


def _principal_due(loan: Loan, interest: int) -> int:
    if len(loan.due_dates) == 1:
        return loan.not_due
    if loan.method is RepaymentMethod.EQUAL_INSTALMENT:
        return max(0, min(loan.not_due, loan.level_payment - interest))
    return min(loan.not_due, loan.planned[0])


def falling_due(state: CashLoanState, loan: Loan, on: date) -> list[Event]:
    """Instalments of ``loan`` whose due date is on or before ``on`` and not yet due.

    ``loan`` is not modified; the events are worked out on a copy, one period at a time.
    """
    if not (loan.due_dates and loan.due_dates[0] <= on and loan.not_due > 0):
        return []  # the usual case: nothing falls due, so nothing to copy
    work = loan.clone()
    events: list[Event] = []
    while work.due_dates and work.due_dates[0] <= on and work.not_due > 0:
        due = work.due_dates[0]
        step: list[Event] = []
        if due > work.interest_from:
            amount = accrue(work.not_due, work.daily_rate, work.interest_from, due)
            step.append(InterestCharged(work.loan_id, state.money(amount),
                                        state.money(work.not_due), work.daily_rate,
                                        work.interest_from, due))
        interest = work.open_interest + sum(
            e.amount.fen for e in step if isinstance(e, InterestCharged))
        principal = _principal_due(work, interest)
        step.append(InstalmentFellDue(work.loan_id, work.next_number, due,
                                      state.money(principal), state.money(interest)))
        for ev in step:
            work.apply(ev)
        events += step
    return events


def _penalties(state: CashLoanState, loan: Loan, to: date) -> list[PenaltyInterestCharged]:
    rate = loan.daily_rate * state.terms.penalty_multiplier
    out: list[PenaltyInterestCharged] = []
    for item in loan.items.values():
        if item.principal > 0 and to > item.penalty_from:
            amount = accrue(item.principal, rate, item.penalty_from, to)
            out.append(PenaltyInterestCharged(loan.item_key(item.number), state.money(amount),
                                              state.money(item.principal), rate,
                                              item.penalty_from, to))
    return out


def _settle_loan(state: CashLoanState, loan: Loan, on: date, *, view: bool = False
                 ) -> tuple[Loan, list[Event]]:
    """Bring a loan up to date for ``on``: instalments falling due, penalties posted; a
    copy, free to change further. ``view``: to be read, not changed, so the loan itself
    when nothing falls due and no penalty is owed (most days a borrower looks)."""
    events = falling_due(state, loan, on)
    work = loan.clone() if events or not view else loan
    for ev in events:
        work.apply(ev)
    postings = _penalties(state, work, on)
    if postings and work is loan:
        work = loan.clone()
    for ev in postings:
        work.apply(ev)
    return work, [*events, *postings]


def owed_items(loan: Loan) -> list[Owed]:
    owed: list[Owed] = []
    for item in loan.items.values():
        key = loan.item_key(item.number)
        for component, fen in (("penalty", item.penalty), ("interest", item.interest),
                               ("principal", item.principal)):
            if fen > 0:
                owed.append(Owed(key, item.due_date, component, fen))
    return owed


def brought_up_to_date(state: CashLoanState, on: date) -> tuple[dict[str, Loan], list[Event]]:
    """Every loan not yet repaid as it stands on ``on`` (copies where anything changes;
    to be read, not changed), with the events that get it there (a repaid loan owes
    nothing and never changes again)."""
    loans: dict[str, Loan] = {}
    events: list[Event] = []
    for loan in state.loans.values():
        if loan.is_repaid:
            continue
        work, more = _settle_loan(state, loan, on, view=True)
        loans[loan.loan_id] = work
        events += more
    return loans, events


def prepare_repayment(state: CashLoanState, on: date) -> tuple[list[Event], list[Owed]]:
    """Instalments falling due and penalties to post before money is allocated on ``on``,
    and what is then owed."""
    remembered = remembered_preparation(state, on)
    if remembered is not None:
        return remembered
    loans, events = brought_up_to_date(state, on)
    return remember_preparation(state, on, events,
                                [o for loan in loans.values() for o in owed_items(loan)])


def amount_due(state: CashLoanState, on: date) -> int:
    """Everything fallen due and unpaid on ``on`` (instalments due that day included),
    penalty interest to that day included."""
    _, owed = prepare_repayment(state, on)
    return sum(o.amount for o in owed)


def repayment_events(state: CashLoanState, repayment_id: str, amount: int,
                     slices: list[tuple[str, str, int]], leftover: int,
                     on: date) -> list[Event]:
    """The repayment as recorded; the leftover becomes a credit balance (prepaying
    principal is a separate, explicit choice: ``decide_prepay``)."""
    parts = tuple(Allocation(i, c, state.money(f)) for i, c, f in slices)
    return [RepaymentReceived(repayment_id, state.money(amount), parts, state.money(leftover),
                              state.money(0), on)]


def decide_repay(state: CashLoanState, repayment_id: str, amount: Money,
                 on: date) -> list[Event]:
    """A repayment against what has fallen due."""
    fen, recovered = repayment_prelude(state, repayment_id, amount, on)
    if recovered is not None:
        return recovered
    events, owed = prepare_repayment(state, on)
    slices, leftover = allocate(fen, owed, state.terms.allocation)
    return events + repayment_events(state, repayment_id, fen, slices, leftover, on)


def payoff_quote(state: CashLoanState, loan_id: str, on: date) -> int:
    """What repays ``loan_id`` in full on ``on``: dues, interest for the days used, principal."""
    loan = _loan(state, loan_id)
    work, _ = _settle_loan(state, loan, on, view=True)
    interest = accrue(work.not_due, work.daily_rate, work.interest_from, on)
    return (sum(i.outstanding for i in work.items.values()) + work.open_interest + interest
            + work.not_due)


def _loan(state: CashLoanState, loan_id: str) -> Loan:
    loan = state.loans.get(loan_id)
    if loan is None:
        raise UnknownLoan(f"no loan {loan_id!r} on account {state.account_id}")
    return loan


def decide_prepay(state: CashLoanState, repayment_id: str, loan_id: str,
                  amount: Money | None, mode: str, on: date) -> list[Event]:
    """Repay a loan early. ``amount=None`` repays it in full; otherwise ``amount`` first
    clears what is due and the interest for the days used, and the rest prepays principal.
    """
    state.require_open()
    if not isinstance(repayment_id, str) or not repayment_id.strip():
        raise InvalidCommand("repayment_id is required")
    if mode not in PREPAY_MODES:
        raise InvalidCommand(f"prepayment mode must be one of {', '.join(PREPAY_MODES)}")
    loan = _loan(state, loan_id)
    if loan.is_repaid:
        raise InvalidCommand(f"loan {loan_id} is already repaid")
    work, events = _settle_loan(state, loan, on)
    if work.not_due > 0 and on > work.interest_from:
        interest = accrue(work.not_due, work.daily_rate, work.interest_from, on)
        charged = InterestCharged(loan_id, state.money(interest), state.money(work.not_due),
                                  work.daily_rate, work.interest_from, on)
        work.apply(charged)
        events.append(charged)
    dues = sum(i.outstanding for i in work.items.values()) + work.open_interest
    full = dues + work.not_due
    fen = full if amount is None else state.require_amount(amount, "prepayment")
    if fen <= dues:
        raise InvalidCommand(
            f"a prepayment must exceed what is due now ({state.money(dues)}, including "
            f"interest to {on}); use a plain repayment for that"
        )
    owed = owed_items(work)
    slices, leftover = allocate(fen, owed, state.terms.allocation)
    if work.open_interest:
        take = min(leftover, work.open_interest)
        slices.append((f"{loan_id}#open", "interest", take))
        leftover -= take
    prepaid = min(leftover, work.not_due)
    slices.append((f"{loan_id}#prepay", "principal", prepaid))
    leftover -= prepaid
    parts = tuple(Allocation(i, c, state.money(f)) for i, c, f in slices)
    events.append(RepaymentReceived(repayment_id, state.money(fen), parts,
                                    state.money(leftover), state.money(0), on))
    remaining = work.not_due - prepaid
    mode_used = "full" if remaining == 0 else mode
    level, plan = _replan(work, remaining, mode_used)
    events.append(LoanPrepaid(loan_id, repayment_id, state.money(prepaid), mode_used,
                              state.money(level), tuple(work.due_dates[: len(plan)]),
                              tuple(plan), on))
    return events


def _replan(loan: Loan, remaining: int, mode: str) -> tuple[int, list[int]]:
    """The remaining plan after a prepayment: (level payment, principal per period)."""
    periods = len(loan.due_dates)
    if remaining == 0 or periods == 0:
        return 0, []
    rate = loan.daily_rate * 30  # the disclosed plan's 30-day month, as at drawdown
    if loan.method is RepaymentMethod.INTEREST_FIRST:
        return 0, [0] * (periods - 1) + [remaining]
    if loan.method is RepaymentMethod.EQUAL_PRINCIPAL:
        if mode == "shorter_term":
            per = max(1, loan.planned[0] if loan.planned else remaining)
            count = min(periods, -(-remaining // per))
            return 0, [per] * (count - 1) + [remaining - per * (count - 1)]
        base, extra = divmod(remaining, periods)
        return 0, [base] * (periods - 1) + [base + extra]
    if mode == "shorter_term":
        return loan.level_payment, _level_plan(remaining, rate, loan.level_payment, periods)
    schedule = build_schedule(remaining, rate, periods, RepaymentMethod.EQUAL_INSTALMENT,
                              loan.due_dates[0] - timedelta(days=30),
                              first_due=loan.due_dates[0])
    first = schedule.instalments[0]
    return first.principal + first.interest, [i.principal for i in schedule.instalments]


def _level_plan(balance: int, rate: Decimal, level: int, max_periods: int) -> list[int]:
    """Principal per period paying ``level`` a period until ``balance`` is gone."""
    plan: list[int] = []
    while balance > 0 and len(plan) < max_periods - 1:
        principal = min(balance, max(1, level - round_half_up(Decimal(balance) * rate)))
        plan.append(principal)
        balance -= principal
    if balance > 0:
        plan.append(balance)
    return plan


def decide_apply_credit_balance(state: CashLoanState, on: date) -> list[Event]:
    """Use a credit balance to pay instalments that have fallen due (penalties included)."""
    if state.credit_balance <= 0:
        return []
    return credit_balance_payment(state, prepare_repayment(state, on), state.terms.allocation,
                                  on)


# ---- close of business -----------------------------------------------------------------


def _billed(state: CashLoanState, on: date) -> tuple[dict[str, Loan], list[Event]]:
    """The loans as they stand after what falls due by ``on`` (copies where something
    does; to be read, not changed), and the events that do it.

    Loans repaid in full are left out: nothing falls due, accrues or ages on them, and a
    borrower's repaid loans pile up over the years.
    """
    events: list[Event] = []
    loans: dict[str, Loan] = {}
    for loan in state.loans.values():
        if loan.is_repaid:
            continue
        due = falling_due(state, loan, on)
        if due:
            events += due
            work = loan.clone()
            for ev in due:
                work.apply(ev)
            loans[loan.loan_id] = work
        else:
            loans[loan.loan_id] = loan
    return loans, events


def decide_billing(state: CashLoanState, on: date) -> list[Event]:
    """Instalments falling due and, on a month's last day, interest and penalty accrued."""
    if not state.exists or state.status in ENDED:
        return []
    loans, events = _billed(state, on)
    if (on + timedelta(days=1)).day == 1:
        events += _month_end_accrual(state, loans, on)
    return events


def _ageing(state: CashLoanState, loans: dict[str, Loan], on: date) -> list[Event]:
    dates = [i.due_date for lo in loans.values() for i in lo.items.values()
             if i.outstanding > 0 and on > i.due_date]
    dpd = days_past_due(min(dates) if dates else None, on)
    if is_write_off_due(dpd, state.terms.write_off_days):
        return _write_off(state, loans, on, dpd)
    new_bucket = bucket(dpd)
    if new_bucket != state.bucket:
        return [DelinquencyChanged(state.bucket, new_bucket, dpd, on)]
    return []


def decide_ageing(state: CashLoanState, on: date) -> list[Event]:
    """Days past due, the bucket, and write-off when they pass the product's limit."""
    if not state.exists or state.status in ENDED:
        return []
    return _ageing(state, {k: loan for k, loan in state.loans.items()
                           if not loan.is_repaid}, on)


def decide_close_of_business(state: CashLoanState, on: date) -> list[Event]:
    """Billing and ageing in one decision; idempotent by state. (The service runs the two
    steps apart, with a credit balance applied between them.)"""
    if not state.exists or state.status in ENDED:
        return []
    loans, events = _billed(state, on)
    ageing = _ageing(state, loans, on)
    if any(isinstance(ev, AccountWrittenOff) for ev in ageing):
        return events + ageing
    if (on + timedelta(days=1)).day == 1:
        events += _month_end_accrual(state, loans, on)
    return events + ageing


def _month_end_accrual(state: CashLoanState, loans: dict[str, Loan], on: date) -> list[Event]:
    """Post the interest and penalty accrued to the month's last day, so the books show
    what was earned in the month (accrual basis) rather than only what fell due."""
    events: list[Event] = []
    for loan in loans.values():
        if loan.not_due > 0 and on > loan.interest_from:
            amount = accrue(loan.not_due, loan.daily_rate, loan.interest_from, on)
            events.append(InterestCharged(loan.loan_id, state.money(amount),
                                          state.money(loan.not_due), loan.daily_rate,
                                          loan.interest_from, on))
        events += _penalties(state, loan, on)
    return events


def _write_off(state: CashLoanState, loans: dict[str, Loan], on: date,
               dpd: int) -> list[Event]:
    events: list[Event] = []
    principal = interest = penalties = 0
    for original in loans.values():
        loan = original.clone()  # the loans passed in may be the state's own
        postings = _penalties(state, loan, on)
        for ev in postings:
            loan.apply(ev)
        events += postings
        principal += loan.outstanding_principal
        interest += loan.open_interest + sum(i.interest for i in loan.items.values())
        penalties += sum(i.penalty for i in loan.items.values())
    events.append(DelinquencyChanged(state.bucket, "written_off", dpd, on))
    events.append(AccountWrittenOff(state.money(principal), state.money(interest),
                                    state.money(0), state.money(penalties), dpd, on))
    return events
