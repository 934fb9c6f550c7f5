"""The application layer: commands in, events appended, states cached.

``Ledger`` is what the CLI, the simulator and (later) the REST API call. Each command
method validates through the pure domain (``lendguard.ledger``), appends the resulting
events atomically with the command's idempotency key, and returns a ``CommandResult``.
A typed error from the domain means nothing was written. A concurrency conflict (another
writer got there first) is retried on fresh state, so two processes racing for the same
limit cannot both spend it.

The store and the clock are handed in (see ``bootstrap.py``); nothing here reads the
wall clock or opens a connection on its own.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import orjson

from lendguard.clock import Clock
from lendguard.errors import (
    AccountNotActive,
    CloseOfBusinessIncomplete,
    ClosureBlocked,
    ConcurrencyConflict,
    IdempotencyConflict,
    InvalidAmount,
    InvalidCommand,
    UnknownAccount,
    UnknownOrder,
)
from lendguard.events import Event, decode_event, encode_event
from lendguard.health.report import AccountHistory, HealthReport, assess
from lendguard.ledger import cash_loan, closure, credit_line
from lendguard.ledger.account import (
    ENDED,
    AccountState,
    decide_freeze,
    decide_limit_change,
    decide_refund_credit_balance,
    decide_unfreeze,
)
from lendguard.ledger.allocation import Owed, allocate
from lendguard.ledger.cash_loan import CashLoanState
from lendguard.ledger.closure import Blocker
from lendguard.ledger.credit_line import CreditLineState
from lendguard.ledger.events import (
    ClosureCodeAccepted,
    ClosureCodeRejected,
    DisputeOpened,
    DisputeResolved,
    RepaymentFailed,
    RepaymentInitiated,
)
from lendguard.ledger.schedule import RepaymentMethod
from lendguard.ledger.terms import AllocationOrder, CashLoanTerms, CreditLineTerms
from lendguard.money import Money
from lendguard.notify import CodeSource, MemoryOutbox, Message, Notifier
from lendguard.store.base import EventStore, IdempotencyKey, NewEvent, StreamWrite

CREDIT_LINE = "credit_line"
CASH_LOAN = "cash_loan"
MAX_RETRIES = 20

Decision = Callable[[Mapping[str, AccountState]], Mapping[str, list[Event]]]


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of a code check.

    Attributes:
      accepted: the code was right, fresh and unused.
      reason: why not (``wrong``, ``expired``, ``used``, ``no code``, ``locked``).
      failures: wrong codes so far; ``locked_until`` when closure is locked out.
    """

    accepted: bool
    reason: str
    failures: int
    locked_until: str

    @classmethod
    def of(cls, result: CommandResult, state: AccountState, now: datetime) -> Verification:
        locked = state.locked_until is not None and now < state.locked_until
        until = state.locked_until.isoformat() if locked and state.locked_until else ""
        if result.of_type(ClosureCodeAccepted):
            return cls(True, "", 0, until)
        rejected = [e for e in result.of_type(ClosureCodeRejected)
                    if isinstance(e, ClosureCodeRejected)]
        reason = rejected[-1].reason if rejected else "no code"
        # While locked out, report the wrong codes that caused it, not the reset count.
        failures = closure.MAX_WRONG_CODES if locked else state.code_failures
        return cls(False, reason, failures, until)


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a command did.

    Attributes:
      events: the events appended by this call, by stream (empty for a duplicate).
      positions: global positions of the appended events (the original ones for a
        duplicate).
      duplicate: the idempotency key had already been used for this same command.
    """

    events: Mapping[str, tuple[Event, ...]]
    positions: tuple[int, ...]
    duplicate: bool = False

    def of_type(self, cls: type[Event]) -> list[Event]:
        return [ev for evs in self.events.values() for ev in evs if isinstance(ev, cls)]


def event_id(millis: int, name: str) -> str:
    """A time-ordered UUID (the RFC 9562 version 7 layout) that is still deterministic:
    the business time in milliseconds, then bits of a hash of the command's key, the
    stream and the event's place. Ids that mostly grow keep the store's unique index on
    them cheap to insert into, and the same command always gets the same ids."""
    return _event_id(_event_id_prefix(millis), name)


def _moment_texts(moment: datetime) -> tuple[str, int]:
    """``moment.isoformat()`` and ``int(moment.timestamp() * 1000)``, exactly.

    Both cost a couple of microseconds on an aware datetime, and every command asks. A
    whole-second moment is instead put together from what its day and UTC offset fix
    (worked out the slow way once and kept) and its time of day."""
    if moment.microsecond or moment.tzinfo is None:
        return moment.isoformat(), int(moment.timestamp() * 1000)
    key = (moment.year, moment.month, moment.day, moment.utcoffset())
    day = _DAY_TEXTS.get(key)
    seconds = (moment.hour * 60 + moment.minute) * 60 + moment.second
    if day is None:
        if len(_DAY_TEXTS) >= 64:
            _DAY_TEXTS.clear()
        text = moment.isoformat()
        # "YYYY-MM-DDT", the offset after "HH:MM:SS", the day's first millisecond
        day = _DAY_TEXTS[key] = (text[:11], text[19:],
                                 int(moment.timestamp() * 1000) - seconds * 1000)
    return (f"{day[0]}{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}{day[1]}",
            day[2] + seconds * 1000)


_DAY_TEXTS: dict[tuple[int, int, int, timedelta | None], tuple[str, str, int]] = {}


def _event_id_prefix(millis: int) -> str:
    """The part of ``event_id`` the time fixes (the same for a command's events)."""
    stamp = f"{millis & 0xFFFFFFFFFFFF:012x}"
    return f"{stamp[:8]}-{stamp[8:]}-7"


def _event_id(prefix: str, name: str) -> str:
    # Bit for bit: 48 bits of milliseconds, the version nibble 7, the first 12 bits of
    # the hash's first 80, the variant bits 10, then the last 62 of those 80 bits;
    # written straight into the hex text.
    digest = hashlib.sha256(name.encode()).hexdigest()
    return f"{prefix}{digest[:3]}-{_VARIANT_NIBBLE[digest[4]]}{digest[5:8]}-{digest[8:20]}"


# 0b10xx: the RFC 4122 variant over the two low bits of a hash's fifth hex digit.
_VARIANT_NIBBLE = {f"{n:x}": "89ab"[n & 0x3] for n in range(16)}


def new_state(stream_id: str, category: str) -> AccountState:
    if category == CREDIT_LINE:
        return CreditLineState(stream_id)
    if category == CASH_LOAN:
        return CashLoanState(stream_id)
    raise UnknownAccount(f"account {stream_id} has unknown kind {category!r}")


def fingerprint(command: str, payload: Mapping[str, Any]) -> str:
    """sha256 of the command's canonical JSON (sorted keys; dataclasses as objects,
    anything else JSON lacks as its ``str``)."""
    try:
        canonical = orjson.dumps({"command": command, **payload}, default=str,
                                 option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits: slower, but total
        canonical = json.dumps({"command": command, **payload}, sort_keys=True, default=str,
                               separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()


class Ledger:
    """Both products over one event store."""

    def __init__(self, store: EventStore, clock: Clock, actor: str = "system",
                 notifier: Notifier | None = None, codes: CodeSource | None = None) -> None:
        self.store = store
        self.clock = clock
        self.actor = actor
        self.notifier: Notifier = notifier or MemoryOutbox()
        self.codes = codes or CodeSource()
        self._states: dict[str, AccountState] = {}
        self._categories: dict[str, tuple[str, str]] = {}
        self._moment: tuple[datetime | None, str, str] = (None, "", "")

    # ---- state -------------------------------------------------------------------------

    def _category(self, stream_id: str) -> tuple[str, str]:
        known = self._categories.get(stream_id)
        if known is None:
            info = self.store.stream_info(stream_id)
            if info is None:
                raise UnknownAccount(f"no account {stream_id!r}")
            known = (info.category, info.customer_id)
            self._categories[stream_id] = known
        return known

    def state(self, stream_id: str) -> AccountState:
        """The account's current state, brought up to date from the store."""
        category, _ = self._category(stream_id)
        state = self._states.get(stream_id)
        if state is None:
            state = new_state(stream_id, category)
            self._states[stream_id] = state
        for stored in self.store.read_stream(stream_id, after_seq=state.version):
            state.apply(decode_event(stored.type, stored.version, stored.data))
            state.version = stored.seq
        return state

    def credit_line(self, stream_id: str) -> CreditLineState:
        state = self.state(stream_id)
        if not isinstance(state, CreditLineState):
            raise UnknownAccount(f"{stream_id} is not a credit line")
        return state

    def cash_loan(self, stream_id: str) -> CashLoanState:
        state = self.state(stream_id)
        if not isinstance(state, CashLoanState):
            raise UnknownAccount(f"{stream_id} is not a cash-loan account")
        return state

    def accounts_of(self, customer_id: str) -> list[str]:
        return [info.stream_id for info in self.store.streams(customer_id=customer_id)]

    def all_accounts(self) -> Iterator[str]:
        for info in self.store.streams():
            self._categories.setdefault(info.stream_id, (info.category, info.customer_id))
            yield info.stream_id

    # ---- the command pipeline ----------------------------------------------------------

    def execute(self, command: str, payload: Mapping[str, Any], key: str,
                streams: list[str], decide: Decision,
                new_stream: tuple[str, str, str] | None = None) -> CommandResult:
        """Run a decision against fresh state and append its events atomically.

        ``new_stream`` is ``(stream_id, category, customer_id)`` for a command that opens
        an account.
        """
        if not isinstance(key, str) or not key:
            raise InvalidCommand("every command needs a non-empty idempotency key")
        command_print = fingerprint(command, payload)
        earlier = self.store.find_command(key)
        if earlier is not None:
            if earlier.fingerprint != command_print:
                raise IdempotencyConflict(f"idempotency key {key!r} was used for another command")
            return CommandResult({}, earlier.positions, duplicate=True)
        for attempt in range(MAX_RETRIES):
            states = self._load(streams, new_stream)
            decided = decide(states)
            if not any(decided.values()):  # nothing to append (a step with nothing to do)
                return CommandResult({}, ())
            writes = self._writes(key, states, decided, new_stream)
            try:
                result = self.store.append(writes, IdempotencyKey(key, command_print))
            except ConcurrencyConflict:
                # The winner of a race has fresh state and would win the next one too;
                # a short random pause gives the loser a fair turn.
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
                continue
            if result.duplicate:
                return CommandResult({}, result.positions, duplicate=True)
            self._absorb(states, decided)
            return CommandResult({s: tuple(evs) for s, evs in decided.items() if evs},
                                 result.positions)
        raise ConcurrencyConflict(f"{command} kept conflicting on {streams}; try again")

    def _load(self, streams: list[str],
              new_stream: tuple[str, str, str] | None) -> dict[str, AccountState]:
        states: dict[str, AccountState] = {}
        for stream_id in streams:
            if (new_stream is not None and stream_id == new_stream[0]
                    and self.store.stream_info(stream_id) is None):
                states[stream_id] = new_state(stream_id, new_stream[1])
                continue
            states[stream_id] = self.state(stream_id)
        return states

    def _writes(self, key: str, states: Mapping[str, AccountState],
                decided: Mapping[str, list[Event]],
                new_stream: tuple[str, str, str] | None) -> list[StreamWrite]:
        moment = self.clock.now()
        if moment is not self._moment[0]:
            # Many commands see the same moment (close of business runs every account at
            # 23:59:59), so its two renderings are worked out once.
            now, millis = _moment_texts(moment)
            self._moment = (moment, now, _event_id_prefix(millis))
        _, now, id_prefix = self._moment
        writes = []
        for stream_id, events in decided.items():
            state = states[stream_id]
            category, customer = (new_stream[1], new_stream[2]) \
                if new_stream is not None and new_stream[0] == stream_id \
                else self._category(stream_id)
            new_events = [
                NewEvent(
                    _event_id(id_prefix, f"{key}|{stream_id}|{n}"),
                    ev.type_name, ev.schema_version, encode_event(ev), now, self.actor,
                )
                for n, ev in enumerate(events)
            ]
            writes.append(StreamWrite(stream_id, state.version, new_events, category, customer))
        return writes

    def _absorb(self, states: Mapping[str, AccountState],
                decided: Mapping[str, list[Event]]) -> None:
        for stream_id, events in decided.items():
            state = states[stream_id]
            if state.version == 0 and events:
                self._states[stream_id] = state
            for ev in events:
                state.apply(ev)
                state.version += 1

    def _today(self) -> date:
        return self.clock.today()

    def _one(self, command: str, stream_id: str, payload: Mapping[str, Any], key: str,
             decide: Callable[[Any], list[Event]],
             new_stream: tuple[str, str, str] | None = None) -> CommandResult:
        return self.execute(command, {"account": stream_id, **payload}, key, [stream_id],
                            lambda states: {stream_id: decide(states[stream_id])}, new_stream)

    # ---- opening -----------------------------------------------------------------------

    def open_credit_line(self, account_id: str, customer_id: str, limit: Money,
                         terms: CreditLineTerms | None = None, *, key: str) -> CommandResult:
        chosen = terms or CreditLineTerms()
        today = self._today()
        return self._one(
            "open_credit_line", account_id,
            {"customer": customer_id, "limit": limit, "terms": chosen}, key,
            lambda s: credit_line.decide_open(s, customer_id, limit, chosen, today),
            new_stream=(account_id, CREDIT_LINE, customer_id),
        )

    def open_cash_loan(self, account_id: str, customer_id: str, limit: Money,
                       terms: CashLoanTerms | None = None, *, key: str) -> CommandResult:
        chosen = terms or CashLoanTerms()
        today = self._today()
        return self._one(
            "open_cash_loan", account_id,
            {"customer": customer_id, "limit": limit, "terms": chosen}, key,
            lambda s: cash_loan.decide_open(s, customer_id, limit, chosen, today),
            new_stream=(account_id, CASH_LOAN, customer_id),
        )

    # ---- credit line -------------------------------------------------------------------

    def purchase(self, account_id: str, order_id: str, amount: Money, merchant: str,
                 category: str, channel: str, *, key: str) -> CommandResult:
        now = self.clock.now()
        return self._one(
            "purchase", account_id,
            {"order": order_id, "amount": amount, "merchant": merchant, "category": category,
             "channel": channel}, key,
            lambda s: credit_line.decide_purchase(self._cl(s), order_id, amount, merchant,
                                                  category, channel, now.isoformat(),
                                                  now.date()),
        )

    def settle(self, account_id: str, order_id: str, *, key: str) -> CommandResult:
        today = self._today()
        return self._one("settle", account_id, {"order": order_id}, key,
                         lambda s: credit_line.decide_settle(self._cl(s), order_id, today))

    def refund(self, account_id: str, order_id: str, amount: Money, *, key: str
               ) -> CommandResult:
        today = self._today()
        return self._one("refund", account_id, {"order": order_id, "amount": amount}, key,
                         lambda s: credit_line.decide_refund(self._cl(s), order_id, amount,
                                                             today))

    def convert_statement(self, account_id: str, statement_id: str, periods: int,
                          plan_id: str, *, key: str) -> CommandResult:
        today = self._today()
        return self._one(
            "convert_statement", account_id,
            {"statement": statement_id, "periods": periods, "plan": plan_id}, key,
            lambda s: credit_line.decide_convert_statement(self._cl(s), statement_id,
                                                           periods, plan_id, today),
        )

    def convert_purchase(self, account_id: str, order_id: str, periods: int, plan_id: str,
                         *, key: str) -> CommandResult:
        today = self._today()
        return self._one(
            "convert_purchase", account_id,
            {"order": order_id, "periods": periods, "plan": plan_id}, key,
            lambda s: credit_line.decide_convert_purchase(self._cl(s), order_id, periods,
                                                          plan_id, today),
        )

    # ---- cash loan ---------------------------------------------------------------------

    def draw(self, account_id: str, loan_id: str, amount: Money, term_months: int,
             method: RepaymentMethod | str, *, key: str) -> CommandResult:
        today = self._today()
        return self._one(
            "draw", account_id,
            {"loan": loan_id, "amount": amount, "term": term_months, "method": str(method)},
            key,
            lambda s: cash_loan.decide_draw(self._cash(s), loan_id, amount, term_months,
                                            method, today),
        )

    def prepay(self, account_id: str, loan_id: str, repayment_id: str, amount: Money | None,
               mode: str = "shorter_term", *, key: str) -> CommandResult:
        today = self._today()
        return self._one(
            "prepay", account_id,
            {"loan": loan_id, "repayment": repayment_id, "amount": amount, "mode": mode}, key,
            lambda s: cash_loan.decide_prepay(self._cash(s), repayment_id, loan_id, amount,
                                              mode, today),
        )

    # ---- both --------------------------------------------------------------------------

    def repay(self, account_id: str, repayment_id: str, amount: Money, *, key: str
              ) -> CommandResult:
        today = self._today()

        def decide(state: AccountState) -> list[Event]:
            if isinstance(state, CreditLineState):
                return credit_line.decide_repay(state, repayment_id, amount, today)
            return cash_loan.decide_repay(self._cash(state), repayment_id, amount, today)

        return self._one("repay", account_id, {"repayment": repayment_id, "amount": amount},
                         key, decide)

    def repay_customer(self, customer_id: str, repayment_id: str, amount: Money, *, key: str
                       ) -> CommandResult:
        """One payment spread over all of a customer's accounts, oldest due first."""
        accounts = self.accounts_of(customer_id)
        if not accounts:
            raise UnknownAccount(f"customer {customer_id!r} has no accounts")
        today = self._today()
        return self.execute(
            "repay_customer", {"customer": customer_id, "repayment": repayment_id,
                               "amount": amount}, key, accounts,
            lambda states: _split_repayment(states, repayment_id, amount, today),
        )

    def change_limit(self, account_id: str, new_limit: Money, reason: str, *, key: str
                     ) -> CommandResult:
        today = self._today()
        return self._one("change_limit", account_id, {"limit": new_limit, "reason": reason},
                         key, lambda s: decide_limit_change(s, new_limit, reason, today))

    def freeze(self, account_id: str, reason: str, *, key: str) -> CommandResult:
        today = self._today()
        return self._one("freeze", account_id, {"reason": reason}, key,
                         lambda s: decide_freeze(s, reason, today))

    def unfreeze(self, account_id: str, reason: str, *, key: str) -> CommandResult:
        today = self._today()
        return self._one("unfreeze", account_id, {"reason": reason}, key,
                         lambda s: decide_unfreeze(s, reason, today))

    def refund_credit_balance(self, account_id: str, *, key: str) -> CommandResult:
        today = self._today()
        return self._one("refund_credit_balance", account_id, {}, key,
                         lambda s: decide_refund_credit_balance(s, today))

    def pay_off(self, account_id: str, repayment_id: str, *, key: str) -> list[CommandResult]:
        """Repay everything payable on the account now: the credit line's statements,
        unbilled purchases and instalment plans in one repayment; each cash loan in full
        (interest for the days used). Each step is an ordinary ledger command."""
        state = self.state(account_id)
        today = self._today()
        if isinstance(state, CreditLineState):
            return [self._one("pay_off", account_id, {"repayment": repayment_id}, key,
                              lambda s: credit_line.decide_pay_off(self._cl(s), repayment_id,
                                                                   today))]
        state.require_open()
        loans = self._cash(state).active_loans()
        if not loans:
            raise InvalidCommand(f"nothing is payable on {account_id}")
        return [self.prepay(account_id, loan.loan_id, f"{repayment_id}:{loan.loan_id}", None,
                            key=f"{key}:{loan.loan_id}") for loan in loans]

    # ---- repayments in flight and disputes ---------------------------------------------

    def initiate_repayment(self, account_id: str, repayment_id: str, amount: Money,
                           channel: str = "bank_transfer", *, key: str) -> CommandResult:
        """A repayment that has been started but not yet received (it blocks closure)."""
        today = self._today()

        def decide(state: AccountState) -> list[Event]:
            state.require_open()
            state.require_amount(amount, "repayment")
            if repayment_id in state.in_flight or not repayment_id:
                raise InvalidCommand(f"repayment {repayment_id!r} is already in flight")
            return [RepaymentInitiated(repayment_id, amount, channel, today)]

        return self._one("initiate_repayment", account_id,
                         {"repayment": repayment_id, "amount": amount, "channel": channel},
                         key, decide)

    def receive_repayment(self, account_id: str, repayment_id: str, *, key: str
                          ) -> CommandResult:
        """The in-flight repayment arrived: it is allocated like any repayment."""
        state = self.state(account_id)
        fen = state.in_flight.get(repayment_id)
        if fen is None:
            raise InvalidCommand(f"no repayment {repayment_id!r} in flight on {account_id}")
        return self.repay(account_id, repayment_id, state.money(fen), key=key)

    def fail_repayment(self, account_id: str, repayment_id: str, reason: str, *, key: str
                       ) -> CommandResult:
        today = self._today()

        def decide(state: AccountState) -> list[Event]:
            if repayment_id not in state.in_flight:
                raise InvalidCommand(f"no repayment {repayment_id!r} in flight")
            return [RepaymentFailed(repayment_id, reason, today)]

        return self._one("fail_repayment", account_id,
                         {"repayment": repayment_id, "reason": reason}, key, decide)

    def open_dispute(self, account_id: str, dispute_id: str, order_id: str, reason: str,
                     *, key: str) -> CommandResult:
        today = self._today()

        def decide(state: AccountState) -> list[Event]:
            line = self._cl(state)
            line.require_open()
            if order_id not in line.orders:
                raise UnknownOrder(f"no order {order_id!r} on {account_id}")
            if not dispute_id or dispute_id in line.disputes:
                raise InvalidCommand(f"dispute {dispute_id!r} is already open")
            return [DisputeOpened(dispute_id, order_id, reason, today)]

        return self._one("open_dispute", account_id,
                         {"dispute": dispute_id, "order": order_id, "reason": reason}, key,
                         decide)

    def resolve_dispute(self, account_id: str, dispute_id: str, outcome: str, *, key: str
                        ) -> CommandResult:
        today = self._today()

        def decide(state: AccountState) -> list[Event]:
            if dispute_id not in self._cl(state).disputes:
                raise InvalidCommand(f"no open dispute {dispute_id!r} on {account_id}")
            return [DisputeResolved(dispute_id, outcome, today)]

        return self._one("resolve_dispute", account_id,
                         {"dispute": dispute_id, "outcome": outcome}, key, decide)

    # ---- health --------------------------------------------------------------------------

    def history(self, account_id: str, as_of: date | None = None) -> AccountHistory:
        """The account's events, decoded, oldest first, and the state they fold to —
        all of them, or only those that happened by the end of ``as_of``."""
        category, _ = self._category(account_id)
        state = new_state(account_id, category)
        events: list[Event] = []
        for stored in self.store.read_stream(account_id):
            if as_of is not None and datetime.fromisoformat(stored.occurred_at).date() > as_of:
                break
            event = decode_event(stored.type, stored.version, stored.data)
            state.apply(event)
            state.version = stored.seq
            events.append(event)
        return AccountHistory(state, events)

    def health(self, customer_id: str, monthly_income: Money | None = None) -> HealthReport:
        """The customer's financial health as of the clock's today (see
        ``lendguard.health``): the log is folded up to that day, so a past date shows
        the past."""
        accounts = self.accounts_of(customer_id)
        if not accounts:
            raise UnknownAccount(f"customer {customer_id!r} has no accounts")
        if monthly_income is not None and (not isinstance(monthly_income, Money)
                                           or monthly_income.fen <= 0):
            raise InvalidAmount(f"monthly income must be positive Money, got {monthly_income!r}")
        income = monthly_income.fen if monthly_income is not None else None
        today = self._today()
        return assess([self.history(a, today) for a in accounts], today, income,
                      self.clock.now())

    # ---- closure -----------------------------------------------------------------------

    def closure_blockers(self, account_id: str) -> list[Blocker]:
        """Everything that stands between the borrower and closing ``account_id`` now."""
        return closure.blockers(self.state(account_id), self._today(), self.clock.now())

    def request_closure(self, account_id: str, request_id: str, *, key: str
                        ) -> CommandResult:
        """Start a closure and send a one-time code through the notifier."""
        return self.request_closures([account_id], request_id, key=key)[0]

    def request_closures(self, account_ids: list[str], request_id: str, *, key: str
                         ) -> list[CommandResult]:
        """Start closing several accounts of one customer with one code: each account
        records its own request (atomically, independently); one message is sent."""
        now = self.clock.now()
        # Every account is checked before any records a request, so a blocked one
        # leaves no code behind that the borrower would never receive.
        for account_id in account_ids:
            found = closure.blockers(self.state(account_id), now.date(), now)
            if found:
                raise ClosureBlocked(account_id, found)
        code, salt = self.codes.new_code()
        results: list[CommandResult] = []
        try:
            for account_id in account_ids:
                results.append(self._one(
                    "request_closure", account_id, {"request": request_id},
                    f"{key}:{account_id}",
                    lambda s: closure.decide_request(s, request_id, self.actor, code, salt,
                                                     type(self.notifier).__name__, now),
                ))
        finally:
            # A blocker that slipped in between the check and one account's request
            # still leaves the code delivered for the accounts that did record it.
            recorded = [a for a, r in zip(account_ids, results, strict=False)
                        if not r.duplicate]
            if recorded:
                self._send_code(recorded, code, now)
        return results

    def _send_code(self, account_ids: list[str], code: str, now: datetime) -> None:
        customer = self.state(account_ids[0]).customer_id
        minutes = int(closure.CODE_VALIDITY.total_seconds() // 60)
        names = ", ".join(account_ids)
        self.notifier.send(Message(
            customer, names, "closure_code",
            f"Your code to close {names} is {code}; it expires in {minutes} minutes. "
            f"注销验证码 {code}，{minutes} 分钟内有效。", code, now.isoformat()))

    def verify_closure_code(self, account_id: str, request_id: str, code: str, *, key: str
                            ) -> Verification:
        """Check a one-time code. Every attempt is recorded, right or wrong."""
        now = self.clock.now()
        result = self._one("verify_closure_code", account_id,
                           {"request": request_id, "code_hash": closure.code_hash(code, key)},
                           key, lambda s: closure.decide_verify(s, request_id, code, now))
        if result.duplicate:
            # The same attempt sent again: answer what it was answered the first time.
            result = CommandResult({account_id: tuple(self._events_at(account_id,
                                                                      result.positions))},
                                   result.positions, duplicate=True)
        return Verification.of(result, self.state(account_id), now)

    def _events_at(self, account_id: str, positions: tuple[int, ...]) -> list[Event]:
        wanted = set(positions)
        return [decode_event(s.type, s.version, s.data)
                for s in self.store.read_stream(account_id) if s.position in wanted]

    def confirm_closure(self, account_id: str, request_id: str, reason: str = "", *,
                        key: str) -> CommandResult:
        """Close the account: re-checks every blocker in the same atomic append."""
        now = self.clock.now()
        return self._one(
            "confirm_closure", account_id, {"request": request_id, "reason": reason}, key,
            lambda s: closure.decide_confirm(s, request_id, reason, self.actor, now),
        )

    # ---- close of business -------------------------------------------------------------

    def close_of_business(self, on: date | None = None) -> int:
        """Statements, instalments falling due, ageing and write-off for every account,
        then credit balances applied to what fell due.

        Returns the number of events appended. Running it again for the same date appends
        nothing: every step is decided from state that already records it. Each account
        is closed in its own transaction; one that fails does not stop the others, and
        ``CloseOfBusinessIncomplete`` then names every failure.
        """
        day = on or self._today()
        appended = 0
        failures: list[tuple[str, Exception]] = []
        for stream_id in list(self.all_accounts()):
            try:
                appended += self.close_account(stream_id, day)
            except Exception as exc:  # isolate one account's failure from the others
                failures.append((stream_id, exc))
        if failures:
            raise CloseOfBusinessIncomplete(day, failures)
        return appended

    def close_account(self, stream_id: str, day: date) -> int:
        """Billing (statements, instalments falling due, month-end accrual), then the
        credit balance pays what fell due, then ageing and write-off."""
        return (self._close_step(stream_id, day, "billing", _billing)
                + self._close_step(stream_id, day, "credit", _apply_credit)
                + self._close_step(stream_id, day, "ageing", _ageing))

    def _close_step(self, stream_id: str, day: date, step: str,
                    decide: Callable[[AccountState, date], list[Event]]) -> int:
        # The key names the state the step saw: a rerun after new activity that day
        # decides again, a plain rerun finds nothing to do (decisions read the state).
        state = self.state(stream_id)
        decided = decide(state, day)
        if not decided:
            return 0  # most steps of most days: nothing to decide, so no command to run
        version = state.version

        def again(fresh: AccountState) -> list[Event]:
            # The decision above stands unless the state moved on (a retried conflict).
            return decided if fresh is state and fresh.version == version \
                else decide(fresh, day)

        result = self._one(
            "close_of_business", stream_id, {"date": day.isoformat(), "step": step},
            f"{step}:{day.isoformat()}:{stream_id}@{version}", again,
        )
        return sum(len(evs) for evs in result.events.values())

    @staticmethod
    def _cl(state: AccountState) -> CreditLineState:
        if not isinstance(state, CreditLineState):
            raise InvalidCommand(f"{state.account_id} is not a credit line")
        return state

    @staticmethod
    def _cash(state: AccountState) -> CashLoanState:
        if not isinstance(state, CashLoanState):
            raise InvalidCommand(f"{state.account_id} is not a cash-loan account")
        return state


def _apply_credit(state: AccountState, on: date) -> list[Event]:
    if isinstance(state, CreditLineState):
        return credit_line.decide_apply_credit_balance(state, on)
    if isinstance(state, CashLoanState):
        return cash_loan.decide_apply_credit_balance(state, on)
    return []


def _billing(state: AccountState, on: date) -> list[Event]:
    if isinstance(state, CreditLineState):
        return credit_line.decide_billing(state, on)
    if isinstance(state, CashLoanState):
        return cash_loan.decide_billing(state, on)
    return []


def _ageing(state: AccountState, on: date) -> list[Event]:
    if isinstance(state, CreditLineState):
        return credit_line.decide_ageing(state, on)
    if isinstance(state, CashLoanState):
        return cash_loan.decide_ageing(state, on)
    return []


def _split_repayment(states: Mapping[str, AccountState], repayment_id: str, amount: Money,
                     on: date) -> dict[str, list[Event]]:
    """Allocate one payment across accounts by the waterfall; leftover to the credit line."""
    if not isinstance(amount, Money) or amount.fen <= 0:
        raise InvalidCommand(f"repayment must be positive Money, got {amount!r}")
    postings: dict[str, list[Event]] = {}
    owed: list[Owed] = []
    order = AllocationOrder.DUE_DATE_FIRST
    first = True
    payable = {s: st for s, st in states.items()
               if st.status not in ENDED}
    if not payable:
        raise AccountNotActive("none of the customer's accounts can take a repayment")
    states = payable
    for stream_id, state in states.items():
        state.require_amount(amount, "repayment")
        if isinstance(state, CreditLineState):
            events, items = credit_line.prepare_repayment(state, on)
            order = state.terms.allocation if first else order
        else:
            events, items = cash_loan.prepare_repayment(
                Ledger._cash(state), on)
            order = Ledger._cash(state).terms.allocation if first else order
        first = False
        postings[stream_id] = events
        owed += [Owed(f"{stream_id}|{o.item}", o.due_date, o.component, o.amount) for o in items]
    slices, leftover = allocate(amount.fen, owed, order)
    by_stream: dict[str, list[tuple[str, str, int]]] = {s: [] for s in states}
    for item, component, fen in slices:
        stream_id, inner = item.split("|", 1)
        by_stream[stream_id].append((inner, component, fen))
    receiver = next((s for s, st in states.items() if isinstance(st, CreditLineState)),
                    next(iter(states)))
    decided: dict[str, list[Event]] = {}
    for stream_id, state in states.items():
        parts = by_stream[stream_id]
        extra = leftover if stream_id == receiver else 0
        paid = sum(f for _, _, f in parts) + extra
        if paid == 0:
            continue
        if isinstance(state, CreditLineState):
            tail = credit_line.repayment_events(state, repayment_id, paid, parts, extra, on)
        else:
            tail = cash_loan.repayment_events(Ledger._cash(state), repayment_id, paid, parts,
                                              extra, on)
        decided[stream_id] = postings[stream_id] + tail
    return decided
