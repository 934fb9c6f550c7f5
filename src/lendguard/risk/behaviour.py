"""Behaviour features and the behaviour target, folded from the ledger's events at an
as-of date (issue #5, item 1).

A behaviour model scores a customer already on book from what their accounts did. Here
that is one row per customer with at least one account opened by the as-of date ``D``:

- **features** (``BEHAVIOUR_FEATURES``, each declared once with its English and Chinese
  description, which reason codes quote) from the customer's events whose business date
  is on or before ``D``, and never after it;
- **the target** ``bad`` (with a performance window of ``W`` months): 1 when any of the
  customer's accounts reached 90 or more days past due within ``(D, D + W months]``, as the
  log records it (a ``DelinquencyChanged`` into ``M3+`` or with 90+ days, or a write-off),
  from events dated in that window only;
- **exclusions**: a customer already 90+ days past due or written off at ``D`` has no
  outcome left to predict (``already_bad``), and one whose every account is closed or
  written off has nothing to score (``closed``). Their features are still computed; the
  ``excluded`` column names why, and training leaves them out.

``BehaviourFold`` is the fold: it is handed every event of the log once, in order, and
keeps per account only the account's ledger state (the domain's own fold, so balances,
utilisation and days past due are exactly the ledger's) and a few counters. An account's
events are read in sequence order up to its first event dated after ``D`` — the rule of
``Ledger.history`` — and at that event the account's features are final: its state is
summarised and dropped, so in a log kept in business-time order memory follows the
accounts still before ``D``, not the log. Customers are assembled from the account
summaries with polars at the end (sums, maxima and shares across a customer's accounts;
the 以贷养贷 signal by a join of drawdowns to line repayments).

"Missing" is never "zero": a share with nothing to share (no statement due yet, nothing
bought in the window) is missing, and so is any feature of a product the customer does
not hold. Counts of things that could have happened and did not are zero.

Nothing here reads a store: ``lendguard.asof`` reads the log and hands it over.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

from lendguard.errors import InvalidCommand, UnknownAccount
from lendguard.events import Event
from lendguard.health.report import LATE_NIGHT_HOURS, LOAN_FUNDED_REPAYMENT_DAYS
from lendguard.ledger.account import ENDED, AccountState, Status
from lendguard.ledger.cash_loan import CashLoanState
from lendguard.ledger.credit_line import CreditLineState
from lendguard.ledger.events import (
    AccountWrittenOff,
    DelinquencyChanged,
    InstalmentPlanCreated,
    LimitChanged,
    LoanDrawn,
    PurchaseMade,
    PurchaseRefunded,
    RepaymentReceived,
    StatementIssued,
)
from lendguard.ledger.schedule import add_months
from lendguard.risk.features import Feature, Kind

CREDIT_LINE = "credit_line"
CASH_LOAN = "cash_loan"
TARGET = "bad"
DEFAULT_WINDOW_MONTHS = 12
BAD_DAYS_PAST_DUE = 90
# The windows (months) of days past due and delinquency cycles.
DPD_WINDOWS = (3, 6, 12)
# Utilisation is read at the as-of date and the same day 1..5 months before.
UTILISATION_CHECKPOINTS = 6
LATE_NIGHT_DAYS = 90
ROUND_AMOUNT_FEN = 10_000  # whole hundreds of yuan
EXCLUDED_ALREADY_BAD = "already_bad"
EXCLUDED_CLOSED = "closed"
_BAD_BUCKETS = frozenset({"M3+", "written_off"})
_TARGET_EVENTS = frozenset({DelinquencyChanged.type_name, AccountWrittenOff.type_name})
_STATES: dict[str, Callable[[str], AccountState]] = {
    CREDIT_LINE: CreditLineState, CASH_LOAN: CashLoanState}


def _num(name: str, en: str, zh: str) -> Feature:
    return Feature(name, Kind.NUMERIC, en, zh)


BEHAVIOUR_FEATURES: tuple[Feature, ...] = (
    _num("months_on_book", "complete months since the first account opened",
         "账龄（自首个账户开立起的完整月数）"),
    _num("line_utilisation", "credit-line limit in use at the as-of date",
         "花呗当前额度使用率"),
    _num("line_utilisation_avg_3m", "average credit-line utilisation, last 3 months",
         "近3个月花呗平均额度使用率"),
    _num("line_utilisation_avg_6m", "average credit-line utilisation, last 6 months",
         "近6个月花呗平均额度使用率"),
    _num("line_utilisation_max_3m", "highest credit-line utilisation, last 3 months",
         "近3个月花呗最高额度使用率"),
    _num("line_utilisation_max_6m", "highest credit-line utilisation, last 6 months",
         "近6个月花呗最高额度使用率"),
    _num("statements_count", "statements that asked for a payment",
         "有应还金额的账单期数"),
    _num("paid_in_full_share", "share of statements due that were paid in full by the due "
         "day", "按期全额还款的账单占比"),
    _num("minimum_only_share", "share of statements due on which at least the minimum but "
         "not all was paid by the due day", "仅还最低还款额（未全额还款）的账单占比"),
    _num("missed_minimum_share", "share of statements due on which less than the minimum "
         "was paid by the due day", "未还足最低还款额的账单占比"),
    _num("minimum_only_streak", "latest statements in a row paid only the minimum",
         "最近连续仅还最低还款额的账单期数"),
    _num("days_past_due", "days past due at the as-of date (worst account)",
         "当前逾期天数（最差账户）"),
    _num("max_dpd_3m", "most days past due in the last 3 months", "近3个月最大逾期天数"),
    _num("max_dpd_6m", "most days past due in the last 6 months", "近6个月最大逾期天数"),
    _num("max_dpd_12m", "most days past due in the last 12 months", "近12个月最大逾期天数"),
    _num("delinquency_cycles_3m", "times an account fell past due in the last 3 months",
         "近3个月逾期次数"),
    _num("delinquency_cycles_6m", "times an account fell past due in the last 6 months",
         "近6个月逾期次数"),
    _num("delinquency_cycles_12m", "times an account fell past due in the last 12 months",
         "近12个月逾期次数"),
    _num("purchases_1m", "purchases on the credit line in the last month",
         "近1个月消费笔数"),
    _num("purchases_3m", "purchases on the credit line in the last 3 months",
         "近3个月消费笔数"),
    _num("purchase_amount_1m_fen", "amount bought on the credit line in the last month",
         "近1个月消费金额"),
    _num("purchase_amount_3m_fen", "amount bought on the credit line in the last 3 months",
         "近3个月消费金额"),
    _num("spend_trend", "last month's spending over the monthly average of the last 3 "
         "months", "消费趋势（近1个月消费额 / 近3个月月均消费额）"),
    _num("late_night_share_90d", "share of the last 90 days' spending made 23:00-05:00",
         "近90天深夜（23:00–05:00）消费金额占比"),
    _num("round_amount_share_3m", "share of the last 3 months' purchases in whole hundreds "
         "of yuan", "近3个月整百元消费笔数占比"),
    _num("refund_share_3m", "refunds over spending in the last 3 months",
         "近3个月退款金额占消费金额比例"),
    _num("days_since_last_purchase", "days since the last purchase (dormancy)",
         "距上次消费天数（沉睡程度）"),
    _num("loan_draws_3m", "cash-loan drawdowns in the last 3 months", "近3个月借呗借款次数"),
    _num("loan_drawn_3m_fen", "cash-loan amount drawn in the last 3 months",
         "近3个月借呗借款金额"),
    _num("loan_balance_fen", "cash-loan principal outstanding at the as-of date",
         "借呗未还本金"),
    _num("loan_utilisation", "cash-loan limit in use at the as-of date",
         "借呗当前额度使用率"),
    _num("loan_funded_repayments_6m", "credit-line repayments made within 3 days after a "
         "cash-loan drawdown that could fund half of them, last 6 months (borrowing to "
         "repay)", "近6个月以贷养贷次数（借呗借款后3天内偿还花呗）"),
    _num("loan_funded_repayment_share_6m", "share of the last 6 months' credit-line "
         "repayments funded by a cash-loan drawdown", "近6个月以贷养贷还款占花呗还款比例"),
    _num("instalment_conversions_6m", "statements or purchases converted into instalments "
         "in the last 6 months", "近6个月账单或消费分期次数"),
    _num("limit_increases_12m", "limit increases in the last 12 months", "近12个月提额次数"),
    _num("limit_decreases_12m", "limit decreases in the last 12 months", "近12个月降额次数"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in BEHAVIOUR_FEATURES)


@dataclass(frozen=True, slots=True)
class AsOf:
    """The as-of date and the dates every window is cut at.

    Attributes:
      day: the as-of date ``D``; features read events dated on or before it.
      window_months: the performance window (0: no target).
      window_end: ``D + window_months`` (None without a window); the target reads events
        dated in ``(D, window_end]``.
      since: the start of each look-back of N months, ``D - N months`` (exclusive).
      checkpoints: the days utilisation is read on, oldest first: ``D - 5 months`` … ``D``.
    """

    day: date
    window_months: int
    window_end: date | None
    since: Mapping[int, date]
    checkpoints: tuple[date, ...]

    @classmethod
    def of(cls, day: date, window_months: int = 0) -> AsOf:
        if not isinstance(day, date) or isinstance(day, datetime):
            raise InvalidCommand(f"the as-of date must be a date, got {day!r}")
        if isinstance(window_months, bool) or not isinstance(window_months, int) \
                or not 0 <= window_months <= 60:
            raise InvalidCommand(f"the performance window must be 0..60 months, got "
                                 f"{window_months!r}")
        since = {months: add_months(day, -months) for months in (1, 3, 6, 12)}
        checkpoints = tuple(add_months(day, -k) for k in range(UTILISATION_CHECKPOINTS - 1,
                                                                 -1, -1))
        end = add_months(day, window_months) if window_months else None
        return cls(day, window_months, end, since, checkpoints)

    @property
    def late_night_since(self) -> date:
        return self.day - timedelta(days=LATE_NIGHT_DAYS)

    @property
    def draws_since(self) -> date:
        """Drawdowns that can have funded a line repayment of the last 6 months."""
        return self.since[6] - timedelta(days=LOAN_FUNDED_REPAYMENT_DAYS)


@dataclass(frozen=True)
class BehaviourSample:
    """What a fold produced.

    Attributes:
      as_of: the dates.
      frame: one row per customer: ``customer_id``, ``as_of``, the features, ``excluded``
        (null, ``already_bad`` or ``closed``) and, with a window, ``bad`` (1/0; null for
        excluded rows).
      first_day, last_day: the business dates of the earliest and latest events read.
    """

    as_of: AsOf
    frame: pl.DataFrame
    first_day: date | None
    last_day: date | None

    @property
    def included(self) -> pl.DataFrame:
        return self.frame.filter(pl.col("excluded").is_null())

    def excluded_counts(self) -> dict[str, int]:
        counts = self.frame.filter(pl.col("excluded").is_not_null())["excluded"].value_counts()
        return {str(reason): int(n) for reason, n in counts.iter_rows()}

    @property
    def bads(self) -> int:
        if TARGET not in self.frame.columns:
            return 0
        return int(self.included[TARGET].sum())

    def training_frame(self) -> pl.DataFrame:
        """The rows in the sample, with the features and the target only."""
        if TARGET not in self.frame.columns:
            raise InvalidCommand("a training frame needs a performance window")
        return self.included.select([*FEATURE_NAMES, TARGET])


# ---- one account's trail -------------------------------------------------------------


class _Statement:
    """A statement that asked for a payment, and what was paid toward it by its due day
    (repayments from the statement day to the due day, as the health report counts)."""

    __slots__ = ("due_date", "minimum", "new_balance", "paid", "statement_date")

    def __init__(self, ev: StatementIssued, new_balance: int) -> None:
        self.statement_date = ev.statement_date
        self.due_date = ev.due_date
        self.new_balance = new_balance
        self.minimum = ev.minimum_payment.fen
        self.paid = 0

    @property
    def kind(self) -> str:
        if self.paid >= self.new_balance:
            return "full"
        if self.paid >= self.minimum:
            return "minimum"
        return "short"


class _Trail:
    """One account on its way to the as-of date: its ledger state and its counters.

    ``close_through(day)`` is called when every event of ``day`` and before has been
    folded: it reads what is read at the end of a day (utilisation at checkpoints, days
    past due, how statements due that day were paid).
    """

    __slots__ = ("account_id", "checkpoint", "conversions", "customer_id", "cycles", "dates",
                 "drawn_3m", "draws", "draws_3m", "kind", "last_day", "last_purchase",
                 "limit_down", "limit_up", "max_dpd", "night_amount", "night_base",
                 "occupied", "outcomes", "pending", "purchase_amount", "purchases",
                 "refunded_3m", "repayments", "round_3m", "state", "statements")

    def __init__(self, account_id: str, kind: str, customer_id: str, dates: AsOf,
                 first_day: date) -> None:
        self.account_id = account_id
        self.kind = kind
        self.customer_id = customer_id
        self.dates = dates
        self.state: AccountState = _STATES[kind](account_id)
        self.last_day = first_day
        # Checkpoints before the account existed are never read.
        self.checkpoint = sum(1 for c in dates.checkpoints if c < first_day)
        self.occupied: list[tuple[int, int] | None] = [None] * UTILISATION_CHECKPOINTS
        self.max_dpd = [0] * len(DPD_WINDOWS)
        self.cycles = [0] * len(DPD_WINDOWS)
        self.pending: list[_Statement] = []
        self.outcomes: list[str] = []
        self.statements = 0
        self.purchases = [0, 0]  # last month, last 3 months
        self.purchase_amount = [0, 0]
        self.night_amount = self.night_base = 0
        self.round_3m = self.refunded_3m = 0
        self.last_purchase: date | None = None
        self.draws_3m = self.drawn_3m = 0
        self.draws: list[tuple[date, int]] = []
        self.repayments: list[tuple[date, int]] = []
        self.conversions = self.limit_up = self.limit_down = 0

    def fold(self, day: date, ev: Event) -> None:
        if day > self.last_day:
            self.close_through(day - timedelta(days=1))
            self.last_day = day
        self.state.apply(ev)
        self.state.version += 1
        count = _COUNTERS.get(type(ev))
        if count is not None:
            count(self, day, ev)

    def close_through(self, day: date) -> None:
        """Every event up to the end of ``day`` is folded: read what ends with it."""
        dates = self.dates
        while self.checkpoint < UTILISATION_CHECKPOINTS \
                and dates.checkpoints[self.checkpoint] <= day:
            self.occupied[self.checkpoint] = self._in_use()
            self.checkpoint += 1
        if day > dates.since[12]:
            dpd = self.state.days_past_due(day)
            for i, months in enumerate(DPD_WINDOWS):
                if day > dates.since[months] and dpd > self.max_dpd[i]:
                    self.max_dpd[i] = dpd
        while self.pending and self.pending[0].due_date <= day:
            self.outcomes.append(self.pending.pop(0).kind)

    def _in_use(self) -> tuple[int, int] | None:
        state = self.state
        if state.status in ENDED or state.limit <= 0:
            return None
        return state.occupied(), state.limit

    # -- counters, by event type ---------------------------------------------------------

    def _purchase(self, day: date, ev: PurchaseMade) -> None:
        fen = ev.amount.fen
        self.last_purchase = day
        if day > self.dates.late_night_since:
            self.night_base += fen
            if datetime.fromisoformat(ev.at).hour in LATE_NIGHT_HOURS:
                self.night_amount += fen
        if day > self.dates.since[3]:
            self.purchases[1] += 1
            self.purchase_amount[1] += fen
            if fen % ROUND_AMOUNT_FEN == 0:
                self.round_3m += 1
            if day > self.dates.since[1]:
                self.purchases[0] += 1
                self.purchase_amount[0] += fen

    def _refund(self, day: date, ev: PurchaseRefunded) -> None:
        if day > self.dates.since[3]:
            self.refunded_3m += ev.amount.fen

    def _statement(self, day: date, ev: StatementIssued) -> None:
        new_balance = (ev.previous_balance.fen + ev.purchases.fen
                       + ev.instalment_principal.fen + ev.instalment_fees.fen)
        if new_balance > 0:
            self.statements += 1
            self.pending.append(_Statement(ev, new_balance))

    def _repayment(self, day: date, ev: RepaymentReceived) -> None:
        if self.kind != CREDIT_LINE:
            return
        paid = ev.amount.fen - ev.to_credit_balance.fen
        for statement in self.pending:
            if statement.statement_date <= ev.on <= statement.due_date:
                statement.paid += paid
        if day > self.dates.since[6]:
            self.repayments.append((day, ev.amount.fen))

    def _draw(self, day: date, ev: LoanDrawn) -> None:
        if day > self.dates.since[3]:
            self.draws_3m += 1
            self.drawn_3m += ev.principal.fen
        if day > self.dates.draws_since:
            self.draws.append((day, ev.principal.fen))

    def _delinquency(self, day: date, ev: DelinquencyChanged) -> None:
        if ev.old_bucket != "M0" or ev.new_bucket == "M0":
            return
        for i, months in enumerate(DPD_WINDOWS):
            if day > self.dates.since[months]:
                self.cycles[i] += 1

    def _conversion(self, day: date, ev: InstalmentPlanCreated) -> None:
        if day > self.dates.since[6]:
            self.conversions += 1

    def _limit(self, day: date, ev: LimitChanged) -> None:
        if day > self.dates.since[12]:
            if ev.new_limit.fen > ev.old_limit.fen:
                self.limit_up += 1
            else:
                self.limit_down += 1

    # -- the summary -------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """The account at the end of the as-of date, as one row of ``_ACCOUNT_SCHEMA``."""
        self.close_through(self.dates.day)
        state = self.state
        line = self.kind == CREDIT_LINE
        dpd_now = state.days_past_due(self.dates.day)
        row: dict[str, Any] = {
            "customer_id": self.customer_id, "account_id": self.account_id,
            "kind": self.kind, "opened_on": state.opened_on,
            "open": state.status not in ENDED,
            "already_bad": state.status is Status.WRITTEN_OFF or state.bucket in _BAD_BUCKETS
            or dpd_now >= BAD_DAYS_PAST_DUE,
            "dpd_now": dpd_now,
            **{f"max_dpd_{m}m": self.max_dpd[i] for i, m in enumerate(DPD_WINDOWS)},
            **{f"cycles_{m}m": self.cycles[i] for i, m in enumerate(DPD_WINDOWS)},
            "limit_up": self.limit_up, "limit_down": self.limit_down,
        }
        for k, in_use in enumerate(reversed(self.occupied)):  # k months before D
            row[f"line_occupied_{k}"] = in_use[0] if line and in_use else None
            row[f"line_limit_{k}"] = in_use[1] if line and in_use else None
        in_use_now = self.occupied[-1]
        row["loan_occupied"] = None if line else state.occupied()
        row["loan_limit"] = in_use_now[1] if not line and in_use_now else None
        line_only = {
            "statements": self.statements, "full": self.outcomes.count("full"),
            "minimum": self.outcomes.count("minimum"), "short": self.outcomes.count("short"),
            "streak": _trailing(self.outcomes, "minimum") if self.outcomes else None,
            "purchases_1m": self.purchases[0], "purchases_3m": self.purchases[1],
            "amount_1m": self.purchase_amount[0], "amount_3m": self.purchase_amount[1],
            "night_amount": self.night_amount, "night_base": self.night_base,
            "round_3m": self.round_3m, "refunded_3m": self.refunded_3m,
            "last_purchase": self.last_purchase, "conversions": self.conversions,
            "repayments_6m": len(self.repayments),
        }
        row.update({name: value if line else None for name, value in line_only.items()})
        row["draws_3m"] = None if line else self.draws_3m
        row["drawn_3m"] = None if line else self.drawn_3m
        return row


def _trailing(outcomes: list[str], kind: str) -> int:
    streak = 0
    for outcome in reversed(outcomes):
        if outcome != kind:
            break
        streak += 1
    return streak


_COUNTERS: dict[type[Event], Callable[[_Trail, date, Any], None]] = {
    PurchaseMade: _Trail._purchase,
    PurchaseRefunded: _Trail._refund,
    StatementIssued: _Trail._statement,
    RepaymentReceived: _Trail._repayment,
    LoanDrawn: _Trail._draw,
    DelinquencyChanged: _Trail._delinquency,
    InstalmentPlanCreated: _Trail._conversion,
    LimitChanged: _Trail._limit,
}

_ACCOUNT_SCHEMA: dict[str, Any] = {
    "customer_id": pl.String, "account_id": pl.String, "kind": pl.String,
    "opened_on": pl.Date, "open": pl.Boolean, "already_bad": pl.Boolean,
    "dpd_now": pl.Int64,
    **{f"max_dpd_{m}m": pl.Int64 for m in DPD_WINDOWS},
    **{f"cycles_{m}m": pl.Int64 for m in DPD_WINDOWS},
    "limit_up": pl.Int64, "limit_down": pl.Int64,
    **{f"line_{part}_{k}": pl.Int64 for k in range(UTILISATION_CHECKPOINTS)
       for part in ("occupied", "limit")},
    "loan_occupied": pl.Int64, "loan_limit": pl.Int64,
    "statements": pl.Int64, "full": pl.Int64, "minimum": pl.Int64, "short": pl.Int64,
    "streak": pl.Int64, "purchases_1m": pl.Int64, "purchases_3m": pl.Int64,
    "amount_1m": pl.Int64, "amount_3m": pl.Int64, "night_amount": pl.Int64,
    "night_base": pl.Int64, "round_3m": pl.Int64, "refunded_3m": pl.Int64,
    "last_purchase": pl.Date, "conversions": pl.Int64, "repayments_6m": pl.Int64,
    "draws_3m": pl.Int64, "drawn_3m": pl.Int64,
}


# ---- the fold ---------------------------------------------------------------------------


class BehaviourFold:
    """Features (and the target) of every customer at one as-of date, folded from the log.

    ``accounts`` maps each stream id to its kind (``credit_line``/``cash_loan``) and
    customer. Hand every event of the log to ``apply`` once, in log order (each account's
    events in sequence order), with its business date; ``needs`` says which events must
    be decoded: the others may be passed as ``None``, so the fold still sees the account
    move past the as-of date. Then ``sample()``.
    """

    def __init__(self, as_of: AsOf, accounts: Mapping[str, tuple[str, str]]) -> None:
        self.as_of = as_of
        self.accounts = accounts
        self._trails: dict[str, _Trail] = {}
        self._passed: set[str] = set()  # accounts with an event after the as-of date
        self._rows: dict[str, list[Any]] = {name: [] for name in _ACCOUNT_SCHEMA}
        self._draws: list[tuple[str, date, int]] = []
        self._repayments: list[tuple[str, str, int, date, int]] = []
        self._bad: set[str] = set()
        self.first_day: date | None = None
        self.last_day: date | None = None

    def needs(self, day: date, type_name: str) -> bool:
        """Whether ``apply`` needs the decoded event (else ``None`` will do)."""
        if day <= self.as_of.day:
            return True
        end = self.as_of.window_end
        return end is not None and day <= end and type_name in _TARGET_EVENTS

    def apply(self, stream_id: str, day: date, event: Event | None) -> None:
        """Fold one event of the log, dated ``day`` (``None``: one ``needs`` declined)."""
        if self.first_day is None or day < self.first_day:
            self.first_day = day
        if self.last_day is None or day > self.last_day:
            self.last_day = day
        if day > self.as_of.day:
            self._after(stream_id, day, event)
            return
        if stream_id in self._passed or event is None:
            return  # read up to the account's first event after D, as Ledger.history does
        trail = self._trails.get(stream_id)
        if trail is None:
            kind, customer = self._account(stream_id)
            trail = self._trails[stream_id] = _Trail(stream_id, kind, customer, self.as_of,
                                                     day)
        trail.fold(day, event)

    def _account(self, stream_id: str) -> tuple[str, str]:
        known = self.accounts.get(stream_id)
        if known is None:
            raise UnknownAccount(f"the log has events of {stream_id!r}, which no stream "
                                 "lists")
        if known[0] not in _STATES:
            raise UnknownAccount(f"account {stream_id} has unknown kind {known[0]!r}")
        return known

    def _after(self, stream_id: str, day: date, event: Event | None) -> None:
        if stream_id not in self._passed:
            self._passed.add(stream_id)
            trail = self._trails.pop(stream_id, None)
            if trail is not None:
                self._summarise(trail)
        end = self.as_of.window_end
        if end is None or day > end or event is None:
            return
        if isinstance(event, AccountWrittenOff) or (
                isinstance(event, DelinquencyChanged)
                and (event.new_bucket in _BAD_BUCKETS
                     or event.days_past_due >= BAD_DAYS_PAST_DUE)):
            self._bad.add(self._account(stream_id)[1])

    def _summarise(self, trail: _Trail) -> None:
        for name, value in trail.summary().items():
            self._rows[name].append(value)
        customer = trail.customer_id
        self._draws += [(customer, day, fen) for day, fen in trail.draws]
        self._repayments += [(customer, trail.account_id, n, day, fen)
                             for n, (day, fen) in enumerate(trail.repayments)]

    def sample(self) -> BehaviourSample:
        """Every customer's row (see ``BehaviourSample``); the fold is spent after it."""
        for trail in self._trails.values():
            self._summarise(trail)
        self._trails = {}
        accounts = pl.DataFrame(self._rows, schema=_ACCOUNT_SCHEMA)
        draws = pl.DataFrame(self._draws, schema={"customer_id": pl.String, "day": pl.Date,
                                                  "fen": pl.Int64}, orient="row")
        repayments = pl.DataFrame(
            self._repayments, orient="row",
            schema={"customer_id": pl.String, "account_id": pl.String, "n": pl.Int64,
                    "day": pl.Date, "fen": pl.Int64})
        frame = customer_frame(accounts, draws, repayments, self.as_of, self._bad)
        return BehaviourSample(self.as_of, frame, self.first_day, self.last_day)


# ---- customers, from their accounts ----------------------------------------------------


def _total(name: str) -> pl.Expr:
    """The sum over a customer's accounts that have the figure; null if none has it."""
    return pl.when(pl.col(name).is_not_null().any()).then(pl.col(name).sum()).alias(name)


def _share(numerator: str | pl.Expr, denominator: str | pl.Expr) -> pl.Expr:
    top = pl.col(numerator) if isinstance(numerator, str) else numerator
    bottom = pl.col(denominator) if isinstance(denominator, str) else denominator
    return pl.when(bottom > 0).then(top / bottom)


def customer_frame(accounts: pl.DataFrame, draws: pl.DataFrame, repayments: pl.DataFrame,
                   as_of: AsOf, bad: set[str]) -> pl.DataFrame:
    """One row per customer from the account summaries (see the module docstring)."""
    sums = [_total(name) for name in (
        *(f"line_{part}_{k}" for k in range(UTILISATION_CHECKPOINTS)
          for part in ("occupied", "limit")),
        "loan_occupied", "loan_limit", "statements", "full", "minimum", "short",
        "purchases_1m", "purchases_3m", "amount_1m", "amount_3m", "night_amount",
        "night_base", "round_3m", "refunded_3m", "conversions", "repayments_6m",
        "draws_3m", "drawn_3m")]
    grouped = accounts.group_by("customer_id").agg(
        pl.col("opened_on").min(),
        pl.col("opened_on").filter(pl.col("kind") == CREDIT_LINE).min().alias("line_opened"),
        (pl.col("kind") == CASH_LOAN).any().alias("has_loan"),
        (pl.col("kind") == CREDIT_LINE).any().alias("has_line"),
        pl.col("open").any(), pl.col("already_bad").any(),
        pl.col("dpd_now").max(), pl.col("streak").max(), pl.col("last_purchase").max(),
        *(pl.col(f"max_dpd_{m}m").max() for m in DPD_WINDOWS),
        *(pl.col(f"cycles_{m}m").sum() for m in DPD_WINDOWS),
        pl.col("limit_up").sum(), pl.col("limit_down").sum(),
        *sums,
    )
    utilisation = [_share(f"line_occupied_{k}", f"line_limit_{k}").alias(f"u{k}")
                   for k in range(UTILISATION_CHECKPOINTS)]
    due = pl.col("full") + pl.col("minimum") + pl.col("short")
    day = as_of.day
    on_book = ((day.year - pl.col("opened_on").dt.year().cast(pl.Int64)) * 12
               + (day.month - pl.col("opened_on").dt.month().cast(pl.Int64))
               - (pl.col("opened_on").dt.day() > day.day).cast(pl.Int64))
    funded = _loan_funded(draws, repayments)
    frame = (
        grouped.with_columns(utilisation)
        .join(funded, on="customer_id", how="left")
        .with_columns(
            pl.lit(day).alias("as_of"),
            on_book.alias("months_on_book"),
            pl.col("u0").alias("line_utilisation"),
            pl.mean_horizontal("u0", "u1", "u2").alias("line_utilisation_avg_3m"),
            pl.mean_horizontal(*(f"u{k}" for k in range(6))).alias("line_utilisation_avg_6m"),
            pl.max_horizontal("u0", "u1", "u2").alias("line_utilisation_max_3m"),
            pl.max_horizontal(*(f"u{k}" for k in range(6))).alias("line_utilisation_max_6m"),
            pl.col("statements").alias("statements_count"),
            _share("full", due).alias("paid_in_full_share"),
            _share("minimum", due).alias("minimum_only_share"),
            _share("short", due).alias("missed_minimum_share"),
            pl.col("streak").alias("minimum_only_streak"),
            pl.col("dpd_now").alias("days_past_due"),
            *(pl.col(f"max_dpd_{m}m").alias(f"max_dpd_{m}m") for m in DPD_WINDOWS),
            *(pl.col(f"cycles_{m}m").alias(f"delinquency_cycles_{m}m") for m in DPD_WINDOWS),
            pl.col("purchases_1m"), pl.col("purchases_3m"),
            pl.col("amount_1m").alias("purchase_amount_1m_fen"),
            pl.col("amount_3m").alias("purchase_amount_3m_fen"),
            pl.when(pl.col("line_opened") <= as_of.since[3])
            .then(_share(pl.col("amount_1m") * 3.0, "amount_3m")).alias("spend_trend"),
            _share("night_amount", "night_base").alias("late_night_share_90d"),
            _share("round_3m", "purchases_3m").alias("round_amount_share_3m"),
            _share("refunded_3m", "amount_3m").alias("refund_share_3m"),
            (pl.lit(day) - pl.col("last_purchase")).dt.total_days()
            .alias("days_since_last_purchase"),
            pl.col("draws_3m").alias("loan_draws_3m"),
            pl.col("drawn_3m").alias("loan_drawn_3m_fen"),
            pl.col("loan_occupied").alias("loan_balance_fen"),
            _share("loan_occupied", "loan_limit").alias("loan_utilisation"),
            pl.when(pl.col("has_loan") & pl.col("has_line"))
            .then(pl.col("funded").fill_null(0)).alias("loan_funded_repayments_6m"),
            pl.when(pl.col("has_loan"))
            .then(_share(pl.col("funded").fill_null(0), "repayments_6m"))
            .alias("loan_funded_repayment_share_6m"),
            pl.col("conversions").alias("instalment_conversions_6m"),
            pl.col("limit_up").alias("limit_increases_12m"),
            pl.col("limit_down").alias("limit_decreases_12m"),
            pl.when(pl.col("already_bad")).then(pl.lit(EXCLUDED_ALREADY_BAD))
            .when(~pl.col("open")).then(pl.lit(EXCLUDED_CLOSED))
            .otherwise(None).alias("excluded"),
        )
    )
    columns = [pl.col("customer_id"), pl.col("as_of"),
               *(pl.col(name).cast(pl.Float64) for name in FEATURE_NAMES), pl.col("excluded")]
    if as_of.window_end is not None:
        columns.append(pl.when(pl.col("excluded").is_null())
                       .then(pl.col("customer_id").is_in(sorted(bad)).cast(pl.Int64))
                       .alias(TARGET))
    return frame.select(columns).sort("customer_id")


def _loan_funded(draws: pl.DataFrame, repayments: pl.DataFrame) -> pl.DataFrame:
    """Per customer, the credit-line repayments of the last 6 months made 0..3 days after
    a drawdown of at least half their amount (the health report's 以贷养贷 rule)."""
    pairs = repayments.join(draws, on="customer_id", suffix="_draw").filter(
        (pl.col("day") - pl.col("day_draw")).dt.total_days()
        .is_between(0, LOAN_FUNDED_REPAYMENT_DAYS)
        & (2 * pl.col("fen_draw") >= pl.col("fen")))
    return (pairs.unique(["customer_id", "account_id", "n"])
            .group_by("customer_id").agg(pl.len().cast(pl.Int64).alias("funded")))
