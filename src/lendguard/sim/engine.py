"""The simulation engine: borrowers living day by day on the real ledger.

One *block* of borrowers (the population's blocks of 2,048) is simulated over the whole
horizon by ``simulate_block``: every purchase, settlement, refund, repayment, drawdown,
conversion, prepayment, closure and close of business is an ordinary ``Ledger`` command,
decided by the pure domain against a ``MemoryEventStore`` (the unit of work). After each
day the block's new events are drained and handed to ``sink``, so a block's output is in
business-time order and the caller can merge blocks into one chronological log (see
``run.py``). Blocks are independent, so they can run in parallel processes.

How borrowers behave (every number from the configuration or named here, all documented
in docs/simulation.md):

- **Approval** by a simple built-in policy (``policy_decision``) until the decision
  engine exists.
- **Income** each month: declared income × a lognormal draw with the borrower's CV;
  after an income shock, the post-shock income. A share of it (``REPAYMENT_CAPACITY``)
  is what the borrower can put toward repayments that month; the spiral of the
  over-borrower and the misses after an income shock come from that budget running out,
  not only from the default hazard.
- **Purchases**: a monthly count that grows with the spend share, amounts lognormal
  around budget / count, at late-night hours with the borrower's late-night share;
  the borrower holds back when utilisation is above the segment's target. Orders settle
  the next morning; a few are refunded.
- **Statements**: paid in full, the minimum, partly or not at all by the segment's mix,
  on a day between the statement and the due day (some revolvers late). Repayments
  beyond the month's budget are cut to it, unless the borrower funds them with a cash-loan
  drawdown a day or two before (以贷养贷, ``repay_with_loan_share``).
- **Cash loans**: drawdowns at the segment's monthly rate; instalments paid on their
  due dates from the same budget; prudent borrowers sometimes prepay.
- **Default**: a monthly hazard (base rate × segment × macro shock × exp(risk
  propensity)); a defaulted borrower never pays again.
- **Fraud**: cash-out (round amounts at colluding merchants, often refunded), synthetic
  identities (behave, then bust out on both products and vanish), takeover (dormant,
  then a burst of late-night spending that the real owner never pays).
- **Closure**: a few borrowers with nothing owed close their accounts through the code
  flow.

Ground truth is recorded per borrower: the first day 90+ days past due, and the day the
fraud really started.
"""

from __future__ import annotations

import math
import random
from bisect import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
import polars as pl

from lendguard.clock import DEFAULT_TZ, FixedClock
from lendguard.errors import LendguardError
from lendguard.ledger import cash_loan, credit_line
from lendguard.ledger.account import ENDED, AccountState, Status
from lendguard.ledger.cash_loan import CashLoanState
from lendguard.ledger.credit_line import CreditLineState
from lendguard.ledger.delinquency import bucket, days_past_due, is_write_off_due
from lendguard.money import Money
from lendguard.notify import CodeSource, MemoryOutbox
from lendguard.service import Ledger
from lendguard.sim.config import Segment, SimulationConfig
from lendguard.store.base import StoredEvent
from lendguard.store.memory import MemoryEventStore

# Judgement calls, documented in docs/simulation.md ("The engine").
REPAYMENT_CAPACITY = 0.35  # share of a month's income a borrower can put to repayments
SETTLE_HOUR = 6  # merchants settle yesterday's orders early in the morning
REFUND_SHARE = 0.03  # purchases later refunded, fully or in part
LATE_PAYER_SHARE = 0.12  # revolvers, impulse and over-borrowers who pay after the due day
CONVERT_SHARE = 0.06  # statements of revolving segments converted to instalments
PREPAY_SHARE = 0.08  # prudent borrowers with a loan who repay it early, a month
CLOSE_SHARE = 0.004  # borrowers with nothing owed who close their accounts, a month
CATEGORIES = ("groceries", "dining", "transport", "shopping", "electronics", "travel",
              "utilities", "entertainment")
CATEGORY_WEIGHTS = (0.28, 0.24, 0.12, 0.16, 0.06, 0.04, 0.05, 0.05)
_CUMULATIVE_WEIGHTS = tuple(sum(CATEGORY_WEIGHTS[:i + 1]) for i in range(len(CATEGORIES)))
MERCHANTS_PER_CATEGORY = 200
CASH_OUT_MERCHANTS = 5
CASH_OUT_AMOUNTS_YUAN = (500, 1000, 2000, 3000, 5000)
COB_HOUR = time(23, 59, 59)
DAYS_PER_MONTH = 30.44


@dataclass(slots=True)
class Borrower:
    """One borrower's drivers and how far they have got.

    The first block of attributes comes from the population; the rest is the engine's
    own record of the borrower's life so far.
    """

    customer_id: str
    segment: str
    applied_on: date
    monthly_income: int
    post_shock_income: int | None
    shock_month: int | None
    volatility: float
    risk_propensity: float
    spend_share: float
    late_night_share: float
    fraud_type: str | None
    fraud_start_month: int | None
    inquiries: int
    lenders: int
    debt: int
    has_bureau_file: bool
    channel: str

    approved: bool = False
    line_limit: int = 0
    loan_limit: int = 0
    line: str = ""
    loan: str = ""
    line_state: CreditLineState | None = None  # the Ledger's own cached states, which
    loan_state: CashLoanState | None = None  # every command through it keeps current
    income: int = 0  # this month's income
    budget: int = 0  # what is left of this month's repayment capacity
    defaulted_on: date | None = None  # stopped paying for good
    fraud_on: date | None = None  # the fraud really started
    ninety_dpd_on: date | None = None  # first day 90+ days past due
    closed_on: date | None = None
    fraud_month_start: date | None = None
    counter: int = 0
    buy_clock: float = 0.0  # days since the start of the next purchase (a Poisson process)
    draw_clock: float = 0.0  # likewise for the next cash-loan drawdown
    pending: list[str] = field(default_factory=list)  # orders placed, settling tomorrow
    refunds: list[tuple[date, str, int]] = field(default_factory=list)
    plans: list[tuple[date, str, int]] = field(default_factory=list)  # (day, kind, fen)

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.customer_id}-{self.counter}"


@dataclass
class BlockResult:
    """What a block leaves besides its events: one row per borrower (decision, limits
    and ground truth) and counts of what happened."""

    outcomes: list[dict[str, Any]]
    counts: dict[str, int]


Sink = Callable[[list[StoredEvent]], None]


def policy_decision(b: Borrower) -> tuple[bool, int, int]:
    """The built-in approval policy: (approved, line limit, loan limit) in fen.

    Declines heavy multi-lender borrowing and very high debt; sets the line at 1.5
    months of declared income (less without a bureau file or with many inquiries),
    between 500 and 50,000 yuan in hundreds; a cash-loan limit only with a bureau file.
    """
    if b.inquiries >= 10 or b.lenders >= 6 or b.debt > 24 * b.monthly_income:
        return False, 0, 0
    multiplier = 1.5 * (0.6 if not b.has_bureau_file else 1.0)
    multiplier *= 0.8 if b.inquiries > 4 else 1.0
    line = _hundreds(min(max(b.monthly_income * multiplier, 50_000), 5_000_000))
    loan = _hundreds(line * 1.2) if b.has_bureau_file and b.monthly_income >= 300_000 else 0
    return True, line, loan


def _hundreds(fen: float) -> int:
    """Round down to whole hundreds of yuan."""
    return int(fen // 10_000) * 10_000


class BlockSimulation:
    """Simulates one block of borrowers; see the module docstring."""

    def __init__(self, config: SimulationConfig, borrowers: pl.DataFrame, seed: int,
                 block: int, months: int, sink: Sink) -> None:
        self.config = config
        self.start = config.start
        self.end = _add_months(config.start, months)
        self.months = months
        self.sink = sink
        entropy = np.random.SeedSequence(seed, spawn_key=(1, block)).generate_state(2)
        self.rng = random.Random(int(entropy[0]) << 32 | int(entropy[1]))
        self.store = MemoryEventStore()
        self.clock = FixedClock(datetime.combine(self.start, time(0), DEFAULT_TZ))
        self.outbox = MemoryOutbox()
        self.ledger = Ledger(self.store, self.clock, actor="sim", notifier=self.outbox,
                             codes=CodeSource(seed * 1_000_003 + block))
        self.borrowers = [_borrower(row) for row in borrowers.iter_rows(named=True)]
        self.counts: dict[str, int] = {}
        self.agendas: dict[str, Agenda] = {}
        self.hazard = -math.log(1 - config.base_default_rate_12m) / 12

    # ---- the day loop -------------------------------------------------------------------

    def run(self) -> BlockResult:
        day = self.start
        while day < self.end:
            self._day(day)
            self.sink(self.store.drain())
            self.store.forget_commands()
            day += timedelta(days=1)
        return BlockResult([self._outcome(b) for b in self.borrowers], self.counts)

    def _day(self, day: date) -> None:
        month = _months_between(self.start, day)
        today = (day - self.start).days
        yesterday = day - timedelta(days=1)
        actions: list[tuple[datetime, int, Callable[[], None]]] = []
        for b in self.borrowers:
            if day == b.applied_on:
                actions.append((self._at(day, 9 + self.rng.random() * 12), len(actions),
                                _bind(self._apply, b, day)))
                continue
            if not b.approved or b.closed_on is not None or day < b.applied_on:
                continue
            if day.day == 1 or yesterday == b.applied_on:
                self._new_month(b, day, month)
            self._plan_day(b, day, today, month, actions)
        actions.sort(key=lambda a: (a[0], a[1]))
        for moment, _, act in actions:
            self.clock.set(moment)
            act()
        self._close_of_business(day)

    def _at(self, day: date, hour: float) -> datetime:
        seconds = int(hour * 3600) % 86_400
        return datetime.combine(day, time(seconds // 3600, seconds // 60 % 60, seconds % 60),
                                DEFAULT_TZ)

    def _count(self, what: str) -> None:
        self._add(what, 1)

    def _try(self, what: str, command: Callable[[], object]) -> bool:
        """Run a ledger command; a refusal by the domain is counted, not fatal (a
        borrower tries to spend beyond the limit, pay a closed account, ...)."""
        try:
            command()
        except LendguardError:
            self._count(f"refused:{what}")
            return False
        self._count(what)
        return True

    # ---- application --------------------------------------------------------------------

    def _apply(self, b: Borrower, day: date) -> None:
        b.approved, b.line_limit, b.loan_limit = policy_decision(b)
        if not b.approved:
            self._count("declined")
            return
        b.line = f"L-{b.customer_id}"
        self.ledger.open_credit_line(b.line, b.customer_id, Money(b.line_limit),
                                     key=f"open:{b.line}")
        b.line_state = self.ledger.credit_line(b.line)
        if b.loan_limit:
            b.loan = f"K-{b.customer_id}"
            self.ledger.open_cash_loan(b.loan, b.customer_id, Money(b.loan_limit),
                                       key=f"open:{b.loan}")
            b.loan_state = self.ledger.cash_loan(b.loan)
        self._count("approved")
        start = (day - self.start).days + 1.0
        b.buy_clock = start + self.rng.expovariate(_buy_rate(b))
        draws = self.config.segments[b.segment].cash_loan_draws_per_month
        b.draw_clock = start + (self.rng.expovariate(draws / DAYS_PER_MONTH) if draws > 0
                                else math.inf)

    def _new_month(self, b: Borrower, day: date, month: int) -> None:
        """Income arrives; the default hazard is drawn for the month."""
        shocked = b.shock_month is not None and month >= b.shock_month
        base = b.post_shock_income if shocked and b.post_shock_income is not None \
            else b.monthly_income
        b.income = int(base * math.exp(self.rng.gauss(0, b.volatility)
                                       - b.volatility ** 2 / 2))
        b.budget = int(b.income * REPAYMENT_CAPACITY)
        if b.defaulted_on is None:
            multiplier = self.config.default_hazard_multiplier(Segment(b.segment), month)
            p = 1 - math.exp(-self.hazard * multiplier * math.exp(b.risk_propensity))
            if self.rng.random() < p:
                b.defaulted_on = day
        if b.fraud_start_month is not None and month == b.fraud_start_month:
            b.fraud_month_start = day
        if b.segment == "prudent" and b.loan and self.rng.random() < PREPAY_SHARE:
            # Instalments themselves are debited on their due dates (_instalment_due).
            b.plans.append((day + timedelta(days=1 + self.rng.randrange(20)), "prepay", 0))
            b.plans.sort(key=lambda p: p[0])

    # ---- what a borrower does in a day --------------------------------------------------

    def _plan_day(self, b: Borrower, day: date, today: int,
                  month: int, actions: list[tuple[datetime, int, Callable[[], None]]]) -> None:
        add = actions.append
        if b.pending:
            orders, b.pending = b.pending, []
            for order in orders:
                add((self._at(day, SETTLE_HOUR + self.rng.random()), len(actions),
                     _bind(self._settle, b, order)))
        if b.refunds:
            due = [r for r in b.refunds if r[0] <= day]
            b.refunds = [r for r in b.refunds if r[0] > day]
            for _, order, fen in due:
                add((self._at(day, 10 + self.rng.random() * 8), len(actions),
                     _bind(self._refund, b, order, fen)))
        if b.plans:
            due_plans = [p for p in b.plans if p[0] <= day]
            b.plans = [p for p in b.plans if p[0] > day]
            for _, kind, fen in due_plans:
                add((self._at(day, 8 + self.rng.random() * 14), len(actions),
                     _bind(self._carry_out, b, kind, fen)))
        if b.fraud_type is not None or b.buy_clock < today + 1:  # else nothing is bought
            for hour, amount, merchant, category in self._purchases(b, day, today):
                add((self._at(day, hour), len(actions),
                     _bind(self._purchase, b, amount, merchant, category)))
        if b.loan and b.fraud_type == "synthetic_identity" and b.fraud_on == day:
            add((self._at(day, 9 + self.rng.random()), len(actions),
                 _bind(self._draw, b, None, True)))  # the bust-out takes the loan too
        if b.loan and self._instalment_due(b, day):
            add((self._at(day, 8 + self.rng.random() * 4), len(actions),
                 _bind(self._carry_out, b, "loan", 0)))
        while b.draw_clock < today + 1:
            b.draw_clock += self.rng.expovariate(
                self.config.segments[b.segment].cash_loan_draws_per_month / DAYS_PER_MONTH)
            if b.loan and b.defaulted_on is None and not (
                    b.fraud_type == "synthetic_identity" and b.fraud_on is not None):
                add((self._at(day, 9 + self.rng.random() * 13), len(actions),
                     _bind(self._draw, b, None)))
        if day.day == 15 and b.closed_on is None and self.rng.random() < CLOSE_SHARE:
            add((self._at(day, 20), len(actions), _bind(self._close, b)))

    def _instalment_due(self, b: Borrower, day: date) -> bool:
        """An instalment falls due today: the automatic debit pays it before close of
        business (from the month's budget; a defaulted borrower's debit fails)."""
        if b.defaulted_on is not None:
            return False
        agenda = kept_agenda(self.agendas, _loan(b))
        return bool(agenda.unpaid_due_dates) or (agenda.next_due is not None
                                                 and agenda.next_due <= day)

    def _purchases(self, b: Borrower, day: date, today: int
                   ) -> list[tuple[float, int, str, str]]:
        """Today's purchases (``today``: days since the start): (hour, fen, merchant,
        category)."""
        if b.defaulted_on is not None and b.fraud_type != "synthetic_identity":
            return []
        if b.fraud_type is not None and b.fraud_month_start is not None \
                and day >= b.fraud_month_start:
            fraud = self._fraud_purchases(b, day)
            if fraud is not None:
                return fraud
        if b.buy_clock >= today + 1:
            return []  # the usual day: nothing bought
        rate = _buy_rate(b)
        count = 0
        while b.buy_clock < today + 1:
            count += 1
            b.buy_clock += self.rng.expovariate(rate)
        target = self.config.segments[b.segment].utilisation_target
        ticket = b.spend_share * b.income / (rate * DAYS_PER_MONTH)
        out = []
        for _ in range(count):
            amount = int(ticket * math.exp(self.rng.gauss(0, 0.9) - 0.405))
            amount = max(amount // 100 * 100, 100)
            # What rng.choices(CATEGORIES, cum_weights=...) draws, without its set-up.
            category = CATEGORIES[bisect(_CUMULATIVE_WEIGHTS, self.rng.random()
                                         * _CUMULATIVE_WEIGHTS[-1], 0, len(CATEGORIES) - 1)]
            merchant = f"M-{category}-{int(self.rng.paretovariate(1.2)) % MERCHANTS_PER_CATEGORY}"
            out.append((self._hour(b), amount, merchant, category))
        state = _line(b)
        if state.occupied() + sum(a for _, a, _, _ in out) > target * state.limit \
                and self.rng.random() < 0.7:
            return []  # near the utilisation the borrower is comfortable with
        return out

    def _hour(self, b: Borrower) -> float:
        if self.rng.random() < b.late_night_share:
            return (23 + self.rng.random() * 6) % 24  # 23:00-05:00
        return 7 + self.rng.random() * 16

    def _fraud_purchases(self, b: Borrower, day: date
                         ) -> list[tuple[float, int, str, str]] | None:
        state = _line(b)
        available = state.available_limit()
        if b.fraud_type == "cash_out":
            if self.rng.random() > 0.3:
                return []
            amounts = [a * 100 for a in CASH_OUT_AMOUNTS_YUAN if a * 100 <= available]
            if not amounts:
                return []
            self._fraud_started(b, day)
            merchant = f"M-collude-{self.rng.randrange(CASH_OUT_MERCHANTS)}"
            return [(10 + self.rng.random() * 12, self.rng.choice(amounts), merchant,
                     "electronics")]
        if b.fraud_type == "synthetic_identity":
            if b.fraud_on is not None and day > b.fraud_on + timedelta(days=3):
                return []  # vanished
            self._fraud_started(b, day)
            b.defaulted_on = b.defaulted_on or day
            return self._burst(available, (9, 23), 4)
        if b.fraud_type == "account_takeover":
            if b.fraud_on is not None and day > b.fraud_on + timedelta(days=10):
                return None  # the owner is back (and will not pay the thief's spending)
            self._fraud_started(b, day)
            return self._burst(available, (23, 29), 3)
        return None

    def _burst(self, available: int, hours: tuple[int, int], pieces: int
               ) -> list[tuple[float, int, str, str]]:
        out = []
        for _ in range(pieces):
            amount = int(available / pieces * (0.6 + 0.4 * self.rng.random())) // 100 * 100
            if amount < 100:
                break
            hour = (hours[0] + self.rng.random() * (hours[1] - hours[0])) % 24
            out.append((hour, amount, f"M-electronics-{self.rng.randrange(20)}",
                        "electronics"))
        return out

    def _fraud_started(self, b: Borrower, day: date) -> None:
        if b.fraud_on is None:
            b.fraud_on = day

    # ---- commands -----------------------------------------------------------------------

    def _purchase(self, b: Borrower, amount: int, merchant: str, category: str) -> None:
        order = b.next_id("O")
        if self._try("purchase", lambda: self.ledger.purchase(
                b.line, order, Money(amount), merchant, category, b.channel,
                key=f"buy:{order}")):
            b.pending.append(order)
            if merchant.startswith("M-collude") and self.rng.random() < 0.4:
                b.refunds.append((self.clock.today() + timedelta(days=2), order, amount))
            elif self.rng.random() < REFUND_SHARE:
                part = amount if self.rng.random() < 0.6 else amount // 2
                b.refunds.append((self.clock.today() + timedelta(
                    days=1 + self.rng.randrange(10)), order, part))

    def _settle(self, b: Borrower, order: str) -> None:
        self._try("settle", lambda: self.ledger.settle(b.line, order, key=f"settle:{order}"))

    def _refund(self, b: Borrower, order: str, fen: int) -> None:
        self._try("refund", lambda: self.ledger.refund(b.line, order, Money(fen),
                                                       key=f"refund:{order}"))

    def _draw(self, b: Borrower, amount: int | None, everything: bool = False) -> bool:
        state = _loan(b)
        available = state.available_limit()
        if amount is None:
            share = 1.0 if everything else 0.2 + 0.8 * self.rng.random()
            amount = _hundreds(available * share)
        else:
            amount = min(_hundreds(amount + 9_999), _hundreds(available))
        if amount < 50_000:
            return False
        term = self.rng.choices((3, 6, 12), (0.3, 0.3, 0.4))[0]
        method = self.rng.choices(("equal_instalment", "equal_principal", "interest_first"),
                                  (0.7, 0.2, 0.1))[0]
        loan_id = b.next_id("N")
        return self._try("draw", lambda: self.ledger.draw(
            b.loan, loan_id, Money(amount), term, method, key=f"draw:{loan_id}"))

    def _carry_out(self, b: Borrower, kind: str, fen: int) -> None:
        """A planned repayment (or the drawdown that funds one)."""
        if b.defaulted_on is not None:
            return
        if kind == "fund":
            if self._draw(b, fen):
                b.budget += fen
                self._count("loan_funded_repayment")
            return
        if kind == "convert":
            self._convert(b)
            return
        if kind == "prepay":
            self._prepay(b)
            return
        account = b.line if kind == "line" else b.loan
        state: AccountState = _line(b) if kind == "line" else _loan(b)
        owed = _owed(state, self.clock.today())
        amount = min(fen if fen > 0 else owed, owed, b.budget)
        if amount <= 0:
            return
        repayment = b.next_id("R")
        if self._try("repay", lambda: self.ledger.repay(account, repayment, Money(amount),
                                                        key=f"repay:{repayment}")):
            b.budget -= amount

    def _convert(self, b: Borrower) -> None:
        state = _line(b)
        if state.last_statement_date is None:
            return
        latest = max(state.statements.values(), key=lambda s: s.statement_date,
                     default=None)
        if latest is None or latest.principal - latest.instalment_principal < 50_000:
            return
        plan = b.next_id("P")
        periods = self.rng.choice((3, 6, 12))
        self._try("convert", lambda: self.ledger.convert_statement(
            b.line, latest.statement_id, periods, plan, key=f"convert:{plan}"))

    def _prepay(self, b: Borrower) -> None:
        state = _loan(b)
        loans = [lo for lo in state.loans.values() if lo.not_due > 0]
        if not loans:
            return
        loan = loans[0]
        repayment = b.next_id("R")
        quote = cash_loan.payoff_quote(state, loan.loan_id, self.clock.today())
        if quote > b.budget:
            return
        if self._try("prepay", lambda: self.ledger.prepay(
                b.loan, loan.loan_id, repayment, None, key=f"prepay:{repayment}")):
            b.budget -= quote

    def _close(self, b: Borrower) -> None:
        accounts = [a for a in (b.line, b.loan) if a]
        if b.defaulted_on is not None or any(self.ledger.closure_blockers(a)
                                             for a in accounts):
            return
        request = b.next_id("C")
        try:
            self.ledger.request_closures(accounts, request, key=f"close:{request}")
            code = self.outbox.messages(b.customer_id)[-1].code
            for account in accounts:
                self.ledger.verify_closure_code(account, request, code,
                                                key=f"verify:{request}:{account}")
                self.ledger.confirm_closure(account, request, "no longer needed",
                                            key=f"confirm:{request}:{account}")
        except LendguardError:
            self._count("refused:close")
            return
        b.closed_on = self.clock.today()
        self._count("closed")

    # ---- close of business --------------------------------------------------------------

    def _close_of_business(self, day: date) -> None:
        self.clock.set(datetime.combine(day, COB_HOUR, DEFAULT_TZ))
        yesterday = day - timedelta(days=1)
        agendas = self.agendas
        for b in self.borrowers:
            if not b.approved or b.closed_on is not None or day < b.applied_on:
                continue
            line = _line(b)
            terms = line.terms
            if day.day == terms.statement_day or yesterday.day == terms.due_day:
                self._measure(line, day)
            if cob_needed(line, day, agendas):
                issued_before, bucket = line.last_statement_date, line.bucket
                self.ledger.close_account(b.line, day)
                if line.last_statement_date != issued_before:
                    self._plan_statement(b, line, day)
                self._watch_delinquency(b, line, day, bucket)
            elif line.bucket != "M0":
                # Nothing for close of business, but the truth wants the first day 90+.
                self._watch_delinquency(b, line, day, line.bucket)
            if b.loan:
                loan = _loan(b)
                if cob_needed(loan, day, agendas):
                    bucket = loan.bucket
                    self.ledger.close_account(b.loan, day)
                    self._watch_delinquency(b, loan, day, bucket)
                elif loan.bucket != "M0":
                    self._watch_delinquency(b, loan, day, loan.bucket)

    def _measure(self, line: CreditLineState, day: date) -> None:
        """Portfolio figures for calibration, taken on the line's statement day and the
        day after its due day (the caller calls it on those days only): utilisation on
        statement days (before the statement), and whether anything billed is left
        unpaid after the due day."""
        if line.status != Status.ACTIVE or line.limit <= 0:
            return
        if day.day == line.terms.statement_day:
            self._add("utilisation_bp_sum", line.occupied() * 10_000 // line.limit)
            self._add("utilisation_samples", 1)
        elif any(s.due_date == day - timedelta(days=1) and s.total_billed > 0
                 for s in line.statements.values()):
            self._add("statements_due", 1)
            if line.statement_balance() > 0:
                self._add("statements_revolved", 1)

    def _add(self, what: str, n: int) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    def _watch_delinquency(self, b: Borrower, state: AccountState, day: date,
                           bucket_before: str) -> None:
        if state.bucket != bucket_before:
            self._count(f"roll:{bucket_before}->{state.bucket}")
        if b.ninety_dpd_on is not None:
            return
        if state.status == Status.WRITTEN_OFF or days_past_due(
                kept_agenda(self.agendas, state).oldest_unpaid_due, day) >= 90:
            b.ninety_dpd_on = day

    def _plan_statement(self, b: Borrower, line: CreditLineState, day: date) -> None:
        """How this statement will be paid, decided the day it is issued."""
        if b.defaulted_on is not None or line.statement_balance() <= 0:
            return
        if b.fraud_type == "account_takeover" and b.fraud_on is not None \
                and day <= b.fraud_on + timedelta(days=45):
            return  # the owner does not recognise the thief's spending and stops paying
        segment = self.config.segments[b.segment]
        mix = segment.repayment
        kind = self.rng.choices(("full", "minimum", "partial", "nothing"),
                                (mix.full, mix.minimum, mix.partial, mix.nothing))[0]
        if kind == "nothing":
            return
        due = credit_line.due_date_for(line.terms, day)
        if b.segment in ("revolver", "impulse", "over_borrower") and \
                self.rng.random() < CONVERT_SHARE:
            b.plans.append((day + timedelta(days=1), "convert", 0))
        window = (due - day).days
        pay_on = day + timedelta(days=1 + self.rng.randrange(max(window, 1)))
        if b.segment in ("revolver", "impulse", "over_borrower") and \
                self.rng.random() < LATE_PAYER_SHARE:
            pay_on = due + timedelta(days=1 + self.rng.randrange(20))
        owed = line.statement_balance()
        minimum = line.minimum_due()
        amount = {"full": 0, "minimum": max(minimum, 1),
                  "partial": minimum + int((owed - minimum) * self.rng.random())}[kind]
        need = owed if kind == "full" else amount
        if need > b.budget and self.rng.random() < segment.repay_with_loan_share and b.loan:
            b.plans.append((pay_on - timedelta(days=1 + self.rng.randrange(2)), "fund",
                            need - b.budget))
        b.plans.append((pay_on, "line", amount))
        b.plans.sort(key=lambda p: p[0])

    # ---- results ------------------------------------------------------------------------

    def _outcome(self, b: Borrower) -> dict[str, Any]:
        horizon = _add_months(b.applied_on, 12)
        defaulted = b.ninety_dpd_on is not None and b.ninety_dpd_on < horizon
        return {
            "customer_id": b.customer_id,
            "approved": b.approved,
            "line_limit_fen": b.line_limit,
            "loan_limit_fen": b.loan_limit,
            "defaulted_12m": defaulted,
            "ninety_dpd_on": b.ninety_dpd_on,
            "stopped_paying_on": b.defaulted_on,
            "fraud_started_on": b.fraud_on,
            "closed_on": b.closed_on,
            "observed_to": min(horizon, self.end) - timedelta(days=1),
        }


class Agenda(NamedTuple):
    """What the engine reads off an account on most days, worked out once for each
    version of its state: the state changes only when an event is folded in, which moves
    the version on, so until then these stand (and the day's questions are comparisons).

    Attributes:
      version: the state's version these were read at.
      statement_balance: a credit line's billed balance still owed (0 for a cash loan).
      oldest_unpaid_due: the earliest due date with something unpaid (of a minimum
        payment, or of an instalment); days past due count from it once it has passed.
      next_due: a cash loan's earliest instalment not yet fallen due.
      unpaid_due_dates: a cash loan's due dates of instalments with something unpaid.
    """

    version: int
    statement_balance: int
    oldest_unpaid_due: date | None
    next_due: date | None
    unpaid_due_dates: frozenset[date]


def agenda_of(state: AccountState) -> Agenda:
    """The ``Agenda`` of ``state`` as it is now."""
    if isinstance(state, CreditLineState):
        owed = state.statement_balance()
        unpaid = [s.due_date for s in state.statements.values() if s.minimum_unpaid > 0] \
            if owed > 0 else []
        return Agenda(state.version, owed, min(unpaid, default=None), None, frozenset())
    if isinstance(state, CashLoanState):
        loans = state.loans.values()
        dates = frozenset(i.due_date for lo in loans for i in lo.items.values()
                          if i.outstanding > 0)
        next_due = min((lo.due_dates[0] for lo in loans if lo.due_dates), default=None)
        return Agenda(state.version, 0, min(dates, default=None), next_due, dates)
    raise TypeError(f"no agenda for {type(state).__name__}")


def kept_agenda(agendas: dict[str, Agenda], state: AccountState) -> Agenda:
    """The state's ``Agenda`` from ``agendas`` if it was read at this version, else read
    afresh and kept there."""
    agenda = agendas.get(state.account_id)
    if agenda is None or agenda.version != state.version:
        agenda = agendas[state.account_id] = agenda_of(state)
    return agenda


def cob_needed(state: AccountState, day: date, agendas: dict[str, Agenda] | None = None
               ) -> bool:
    """Whether close of business has anything to do for this account on ``day``
    (``agendas``: the caller's agendas by account, read and kept up to date here; an
    M0 credit line on an ordinary day is answered without one).

    Close of business is idempotent and cheap when idle, but a simulator runs it for
    millions of account-days; this says when it can act: a credit line on its statement
    day and the day after its due day while anything billed is owed; a cash loan when an
    instalment falls due, the day after, and at month ends; either every day while it
    holds a credit balance, and while delinquent on the days its bucket moves on or it
    is due for write-off (ageing is all close of business does for a delinquent account
    on other days). A test checks that skipping the other days changes nothing in the
    log.
    """
    if state.status in ENDED or state.version == 0:
        return False
    if state.credit_balance > 0:
        return True
    yesterday, month_end = _calendar(day)
    if isinstance(state, CreditLineState) and state.bucket == "M0":
        if day.day == state.terms.statement_day:
            return True
        if yesterday.day != state.terms.due_day:
            return False
    agenda = agenda_of(state) if agendas is None else kept_agenda(agendas, state)
    if state.bucket != "M0":
        dpd = days_past_due(agenda.oldest_unpaid_due, day)
        if bucket(dpd) != state.bucket or is_write_off_due(dpd, _write_off_days(state)):
            return True
    if isinstance(state, CreditLineState):
        if day.day == state.terms.statement_day:
            return True
        return yesterday.day == state.terms.due_day and agenda.statement_balance > 0
    if isinstance(state, CashLoanState):
        if not state.loans:
            return False
        return month_end or (agenda.next_due is not None and agenda.next_due <= day) \
            or yesterday in agenda.unpaid_due_dates
    return False


@lru_cache(maxsize=8)
def _calendar(day: date) -> tuple[date, bool]:
    """The day before ``day``, and whether ``day`` is the last of its month."""
    return day - timedelta(days=1), (day + timedelta(days=1)).day == 1


def _line(b: Borrower) -> CreditLineState:
    assert b.line_state is not None, "an approved borrower has a credit line"
    return b.line_state


def _loan(b: Borrower) -> CashLoanState:
    assert b.loan_state is not None, "only a borrower with a loan limit has loans"
    return b.loan_state


def _write_off_days(state: AccountState) -> int:
    if isinstance(state, (CreditLineState, CashLoanState)):
        return state.terms.write_off_days
    raise TypeError(f"no write-off rule for {type(state).__name__}")


def _owed(state: AccountState, day: date) -> int:
    if isinstance(state, CreditLineState):
        return credit_line.amount_due(state, day)
    if isinstance(state, CashLoanState):
        return cash_loan.amount_due(state, day)
    return 0


def _buy_rate(b: Borrower) -> float:
    """Purchases a day: 2 + 20 × spend share a month; a dormant account (before its
    takeover) 0.3 a month."""
    per_month = 0.3 if b.fraud_type == "account_takeover" else 2 + 20 * min(b.spend_share, 1.0)
    return per_month / DAYS_PER_MONTH


def _bind(fn: Callable[..., Any], *args: Any) -> Callable[[], None]:
    return lambda: fn(*args)


def _borrower(row: dict[str, Any]) -> Borrower:
    return Borrower(
        customer_id=row["customer_id"], segment=str(row["segment"]),
        applied_on=row["application_date"], monthly_income=row["monthly_income_fen"],
        post_shock_income=row["post_shock_monthly_income_fen"],
        shock_month=row["shock_month"], volatility=row["income_volatility"],
        risk_propensity=row["risk_propensity"], spend_share=row["spend_share_of_income"],
        late_night_share=row["late_night_share"],
        fraud_type=None if row["fraud_type"] is None else str(row["fraud_type"]),
        fraud_start_month=row["fraud_start_month"], inquiries=row["inquiries_6m"],
        lenders=row["lenders_count"], debt=row["existing_debt_fen"],
        has_bureau_file=row["has_bureau_file"], channel=str(row["channel"]),
    )


def _add_months(day: date, months: int) -> date:
    year, month = divmod(day.month - 1 + months, 12)
    target_year, target_month = day.year + year, month + 1
    last = (date(target_year + target_month // 12, target_month % 12 + 1, 1)
            - timedelta(days=1)).day
    return date(target_year, target_month, min(day.day, last))


def _months_between(start: date, day: date) -> int:
    return (day.year - start.year) * 12 + day.month - start.month
