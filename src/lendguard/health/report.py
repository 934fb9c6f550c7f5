"""The health report of one customer on one date.

``assess(accounts, on, monthly_income)`` reads each account's state and its events (the
``AccountHistory`` of it) and returns a ``HealthReport``:

- **calendar**: what falls due in the next 90 days — billed statements on their due day,
  unbilled purchases and instalment periods on the due day of the statement that will
  bill them, each loan instalment with the interest it will carry by then;
- **obligations and burden**: monthly obligations (the calendar's total over three
  months) and, when income is known, debt-to-income;
- **utilisation** of each line and loan account;
- **signals of over-reliance**, each with the evidence: repaying the credit line with
  cash-loan money drawn within a few days (以贷养贷), a streak of minimum-only payments,
  months revolving, a rising share of late-night purchases, limits near full, payments
  missed;
- a **grade** A–E with the reasons behind it, and **guidance** (keep, lower the limit, or
  close — and for close, the steps in order with amounts and dates).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from lendguard.events import Event
from lendguard.ledger.account import ENDED, AccountState, Status, accrue
from lendguard.ledger.cash_loan import CashLoanState
from lendguard.ledger.closure import Blocker, blockers
from lendguard.ledger.credit_line import (
    CreditLineState,
    due_date_for,
    statement_date_on_or_before,
)
from lendguard.ledger.events import LoanDrawn, PurchaseMade, RepaymentReceived, StatementIssued
from lendguard.ledger.schedule import RepaymentMethod
from lendguard.money import format_fen, round_half_up

HORIZON_DAYS = 90
LOAN_FUNDED_REPAYMENT_DAYS = 3
LATE_NIGHT_HOURS = frozenset({23, 0, 1, 2, 3, 4})
NEAR_FULL = Decimal("0.90")


@dataclass(frozen=True, slots=True)
class AccountHistory:
    """An account's current state and its events, oldest first."""

    state: AccountState
    events: Sequence[Event]


@dataclass(frozen=True, slots=True)
class DueItem:
    """Something that falls due: on ``on``, ``amount`` fen, for ``what`` on an account."""

    on: date
    account_id: str
    what: str
    amount: int


@dataclass(frozen=True, slots=True)
class Signal:
    """A sign of over-reliance or distress.

    Attributes:
      code: stable name (``loan_funded_repayment``, ``minimum_only_streak``, …).
      severity: 1 (watch) to 3 (serious).
      text, text_zh: what was seen, with the evidence, in English and Chinese.
    """

    code: str
    severity: int
    text: str
    text_zh: str


@dataclass(frozen=True, slots=True)
class Utilisation:
    account_id: str
    used: int
    limit: int

    @property
    def share(self) -> Decimal:
        return Decimal(self.used) / Decimal(self.limit) if self.limit else Decimal(0)


@dataclass(frozen=True, slots=True)
class HealthReport:
    """One customer's financial health on ``on``; see the module docstring."""

    on: date
    calendar: tuple[DueItem, ...]
    monthly_obligations: int
    monthly_income: int | None
    utilisation: tuple[Utilisation, ...]
    signals: tuple[Signal, ...]
    grade: str
    advice: str
    steps: tuple[Blocker, ...] = field(default=())

    @property
    def debt_to_income(self) -> Decimal | None:
        if not self.monthly_income:
            return None
        return (Decimal(self.monthly_obligations) / Decimal(self.monthly_income)).quantize(
            Decimal("0.0001"))

    def guidance(self, chinese: bool = False) -> list[str]:
        return guidance_lines(self, chinese)


# ---- the calendar -------------------------------------------------------------------------


def calendar(accounts: Sequence[AccountHistory], on: date,
             horizon: int = HORIZON_DAYS) -> list[DueItem]:
    """What falls due from ``on`` (included) to ``on + horizon`` days, by date."""
    end = on + timedelta(days=horizon)
    items: list[DueItem] = []
    for history in accounts:
        state = history.state
        if state.status in ENDED:
            continue
        if isinstance(state, CreditLineState):
            items += _line_calendar(state, on)
        elif isinstance(state, CashLoanState):
            items += _loan_calendar(state, on, end)
    return sorted((i for i in items if i.on <= end and i.amount > 0),
                  key=lambda i: (i.on, i.account_id, i.what))


def _line_calendar(state: CreditLineState, on: date) -> list[DueItem]:
    a = state.account_id
    items = []
    for st in state.statements.values():
        if st.outstanding > 0:
            # Past due counts as due today: it has to be paid now.
            items.append(DueItem(max(st.due_date, on), a, f"statement {st.statement_id}",
                                 st.outstanding))
    next_statement = _next_statement_date(state, on)
    due = due_date_for(state.terms, next_statement)
    if state.unbilled_total():
        items.append(DueItem(due, a, "unbilled purchases", state.unbilled_total()))
    statement_day, due_day = next_statement, due
    for period in range(max((len(p.principal_left) for p in state.running_plans()),
                            default=0)):
        fen = sum(p.principal_left[period] + p.fee_left[period]
                  for p in state.running_plans() if period < len(p.principal_left))
        items.append(DueItem(due_day, a, f"instalments, period {period + 1} from now", fen))
        statement_day = _add_month(statement_day)
        due_day = due_date_for(state.terms, statement_day)
    return items


def _next_statement_date(state: CreditLineState, on: date) -> date:
    last = statement_date_on_or_before(state.terms, on)
    if state.last_statement_date is not None and last <= state.last_statement_date:
        return _add_month(last)
    return last if last >= on else _add_month(last)


def _add_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=day.day)


def _loan_calendar(state: CashLoanState, on: date, end: date) -> list[DueItem]:
    a = state.account_id
    items = []
    for loan in state.active_loans():
        unpaid = sum(i.outstanding for i in loan.items.values())
        if unpaid:
            items.append(DueItem(on, a, f"loan {loan.loan_id}: overdue", unpaid))
        balance, since = loan.not_due, loan.interest_from
        interest_carried = loan.open_interest
        for index, due in enumerate(loan.due_dates):
            if due > end or balance <= 0:
                break
            interest = interest_carried + accrue(balance, loan.daily_rate, since, due)
            interest_carried = 0
            if index == len(loan.due_dates) - 1:
                principal = balance
            elif loan.method is RepaymentMethod.EQUAL_INSTALMENT:
                principal = max(0, min(balance, loan.level_payment - interest))
            else:
                principal = min(balance, loan.planned[index])
            items.append(DueItem(due, a, f"loan {loan.loan_id}", principal + interest))
            balance -= principal
            since = due
    return items


# ---- signals ----------------------------------------------------------------------------


def _loan_funded_repayments(accounts: Sequence[AccountHistory], on: date) -> list[str]:
    """Credit-line repayments made within a few days after a cash-loan drawdown that
    could have funded at least half of them (以贷养贷), in the last 12 months."""
    since = on - timedelta(days=365)
    draws = [(ev.on, ev.principal.fen) for h in accounts if isinstance(h.state, CashLoanState)
             for ev in h.events if isinstance(ev, LoanDrawn) and ev.on >= since]
    found = []
    for history in accounts:
        if not isinstance(history.state, CreditLineState):
            continue
        for ev in history.events:
            if not isinstance(ev, RepaymentReceived) or ev.on < since:
                continue
            for drawn_on, fen in draws:
                if (0 <= (ev.on - drawn_on).days <= LOAN_FUNDED_REPAYMENT_DAYS
                        and 2 * fen >= ev.amount.fen):
                    found.append(f"{ev.on}: repaid {format_fen(ev.amount.fen)} on the line "
                                 f"{(ev.on - drawn_on).days} day(s) after drawing "
                                 f"{format_fen(fen)}")
                    break
    return found


@dataclass(frozen=True, slots=True)
class _StatementPayment:
    statement_id: str
    due_date: date
    new_balance: int
    minimum: int
    paid_by_due: int

    @property
    def kind(self) -> str:
        if self.paid_by_due >= self.new_balance:
            return "full"
        if self.paid_by_due >= self.minimum:
            return "minimum"
        return "short"


def _statement_payments(history: AccountHistory, on: date) -> list[_StatementPayment]:
    """How each statement due by ``on`` was paid by its due day (refund credits aside)."""
    statements = [ev for ev in history.events if isinstance(ev, StatementIssued)
                  and ev.due_date < on]
    repayments = [ev for ev in history.events if isinstance(ev, RepaymentReceived)]
    out = []
    for st in statements:
        new_balance = (st.previous_balance.fen + st.purchases.fen + st.instalment_principal.fen
                       + st.instalment_fees.fen)
        paid = sum(r.amount.fen - r.to_credit_balance.fen for r in repayments
                   if st.statement_date <= r.on <= st.due_date)
        out.append(_StatementPayment(st.statement_id, st.due_date, new_balance,
                                     st.minimum_payment.fen, paid))
    return out


def _late_night_shares(history: AccountHistory, on: date) -> tuple[Decimal, Decimal]:
    """Share of purchase amounts made 23:00–05:00, in the last 90 days and the 90 before."""
    recent = (on - timedelta(days=90), on)
    before = (on - timedelta(days=180), recent[0])
    totals = {"recent": [0, 0], "before": [0, 0]}
    for ev in history.events:
        if not isinstance(ev, PurchaseMade):
            continue
        window = ("recent" if recent[0] < ev.on <= recent[1]
                  else "before" if before[0] < ev.on <= before[1] else None)
        if window is None:
            continue
        totals[window][0] += ev.amount.fen
        if datetime.fromisoformat(ev.at).hour in LATE_NIGHT_HOURS:
            totals[window][1] += ev.amount.fen

    def share(pair: list[int]) -> Decimal:
        return Decimal(pair[1]) / Decimal(pair[0]) if pair[0] else Decimal(0)

    return share(totals["recent"]), share(totals["before"])


def signals(accounts: Sequence[AccountHistory], on: date,
            utilisation: Sequence[Utilisation]) -> list[Signal]:
    found: list[Signal] = []
    funded = _loan_funded_repayments(accounts, on)
    if funded:
        found.append(Signal(
            "loan_funded_repayment", 3,
            f"the credit line was repaid with cash-loan money {len(funded)} time(s): "
            + "; ".join(funded),
            f"近一年 {len(funded)} 次用借呗借款偿还花呗（以贷养贷）"))
    for history in accounts:
        if isinstance(history.state, CreditLineState):
            found += _line_signals(history, on)
        if history.state.bucket not in ("M0", "written_off"):
            found.append(Signal(
                "past_due", 3, f"{history.state.account_id} is past due "
                f"({history.state.bucket}, {history.state.days_past_due(on)} days)",
                f"{history.state.account_id} 已逾期（{history.state.bucket}）"))
    for use in utilisation:
        if use.limit and use.share >= NEAR_FULL:
            found.append(Signal(
                "limit_near_full", 2,
                f"{use.account_id} uses {use.share:.0%} of its limit",
                f"{use.account_id} 额度已用 {use.share:.0%}"))
    return found


def _line_signals(history: AccountHistory, on: date) -> list[Signal]:
    a = history.state.account_id
    found = []
    payments = _statement_payments(history, on)
    streak = 0
    for payment in reversed(payments):
        if payment.kind != "minimum":
            break
        streak += 1
    if streak >= 2:
        found.append(Signal(
            "minimum_only_streak", 2 if streak < 4 else 3,
            f"only the minimum was paid on the last {streak} statements of {a}",
            f"{a} 最近 {streak} 期账单只还最低还款额"))
    year = [p for p in payments if p.due_date > on - timedelta(days=365)]
    revolving = sum(1 for p in year if p.kind != "full")
    if revolving >= 3:
        found.append(Signal(
            "revolving", 2 if revolving < 6 else 3,
            f"{a} carried a balance past the due day in {revolving} of the last "
            f"{len(year)} months",
            f"{a} 近 {len(year)} 个月中有 {revolving} 个月未全额还款"))
    missed = sum(1 for p in year if p.kind == "short")
    if missed:
        found.append(Signal(
            "missed_minimum", 3,
            f"the minimum payment of {a} was missed {missed} time(s) in a year",
            f"{a} 近一年 {missed} 次未还最低还款额"))
    recent, before = _late_night_shares(history, on)
    if recent >= Decimal("0.30") and recent > before + Decimal("0.10"):
        found.append(Signal(
            "late_night_spending", 1 if recent < Decimal("0.5") else 2,
            f"{recent:.0%} of the last 90 days' spending on {a} was between 23:00 and 05:00 "
            f"(up from {before:.0%})",
            f"{a} 近 90 天 {recent:.0%} 的消费发生在深夜（此前为 {before:.0%}）"))
    return found


# ---- grade, advice ----------------------------------------------------------------------


def _burden(obligations: int, dti: Decimal | None) -> list[Signal]:
    """Debt-to-income above 20% is worth watching; above 35% heavy; above 50% serious."""
    if dti is None or dti <= Decimal("0.20"):
        return []
    severity = 3 if dti > Decimal("0.50") else 2 if dti > Decimal("0.35") else 1
    return [Signal("debt_burden", severity,
                   f"repayments of {format_fen(obligations)} a month take {dti:.0%} of income",
                   f"每月还款 {format_fen(obligations)}，占收入 {dti:.0%}")]


def _grade(signals: Sequence[Signal]) -> str:
    points = sum(s.severity for s in signals)
    for grade, ceiling in (("A", 0), ("B", 2), ("C", 5), ("D", 8)):
        if points <= ceiling:
            return grade
    return "E"


def _advice(grade: str, signals: Sequence[Signal]) -> str:
    codes = {s.code for s in signals}
    if grade in ("D", "E") or "loan_funded_repayment" in codes:
        return "close"
    if grade == "C" or codes & {"limit_near_full", "late_night_spending"}:
        return "lower_limit"
    return "keep"


def assess(accounts: Sequence[AccountHistory], on: date, monthly_income: int | None = None,
           now: datetime | None = None) -> HealthReport:
    """The health report of the customer who holds ``accounts``, on ``on``."""
    due = calendar(accounts, on)
    obligations = round_half_up(Decimal(sum(i.amount for i in due)) / 3)
    uses = tuple(_utilisation(h.state) for h in accounts
                 if h.state.status not in ENDED)
    dti = (Decimal(obligations) / Decimal(monthly_income)) if monthly_income else None
    found = _burden(obligations, dti) + signals(accounts, on, uses)
    grade = _grade(found)
    advice = _advice(grade, found)
    steps: tuple[Blocker, ...] = ()
    if advice == "close":
        steps = tuple(b for h in accounts if h.state.status is not Status.CLOSED
                      for b in blockers(h.state, on, now))
    return HealthReport(on, tuple(due), obligations, monthly_income, uses, tuple(found), grade,
                        advice, steps)


def _utilisation(state: AccountState) -> Utilisation:
    return Utilisation(state.account_id, state.occupied(), state.limit)


_ADVICE = {
    "keep": ("Keep your accounts: you are using credit within your means.",
             "建议保留：您的信用使用在可承受范围内。"),
    "lower_limit": ("Lower your limits: less available credit makes impulse spending harder.",
                    "建议降低额度：减少可用额度有助于控制冲动消费。"),
    "close": ("Consider closing: the signs below show credit is becoming a burden. "
              "Steps, in order:",
              "建议注销：以下迹象显示信贷正在成为负担。按顺序操作："),
}


def guidance_lines(report: HealthReport, chinese: bool = False) -> list[str]:
    """The advice in plain words, and for "close" the steps in order with amounts."""
    lines = [_ADVICE[report.advice][1 if chinese else 0]]
    if report.advice != "close":
        return lines
    steps = sorted(report.steps, key=lambda b: (not b.payable, b.kind == "credit_balance"))
    for n, step in enumerate(steps, 1):
        action = step.action_zh if chinese else step.action
        when = f" ({step.by})" if step.by else ""
        lines.append(f"{n}. {step.account_id}: {action}{when}")
    n = len(steps) + 1
    lines.append(f"{n}. " + ("申请注销，输入短信验证码并确认" if chinese else
                             "request closure, enter the one-time code, and confirm"))
    return lines
