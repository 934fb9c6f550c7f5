"""The workloads of ``bench/ledger.py``: a realistic log, and commands to run one by one.

The log is what the real ``Ledger`` writes: ``customers`` borrowers, each with a credit
line (two in five with a cash-loan account too), driven through a year of business days
on a ``FixedClock``: purchases settled the next day, some refunded or converted into
instalments, statements, repayments in full, in part or missed (penalty interest,
delinquency), loans drawn and repaid, close of business every day. Simulating through the
``Ledger`` runs at a few thousand events a second, so a template of a hundred borrowers is
simulated once and then *cloned*: copy ``k`` of every account is ``<account>.<k>``, with
its own event ids, and the copies' commands interleave, command by command.

Event ids: the ``Ledger`` derives random-looking (UUIDv5) ids from idempotency keys; the
clones get new ids, time-ordered (UUIDv7 layout) by default, as a bulk loader should
choose them, or random (UUIDv4) to show what that costs.
"""

from __future__ import annotations

import random
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from lendguard.clock import DEFAULT_TZ, FixedClock
from lendguard.errors import LendguardError
from lendguard.ledger.cash_loan import amount_due as loan_amount_due
from lendguard.ledger.credit_line import amount_due
from lendguard.money import Money
from lendguard.service import Ledger
from lendguard.store.base import NewEvent, StoredEvent, StreamWrite
from lendguard.store.sqlite import SQLiteEventStore

START = date(2026, 1, 1)
Advance = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class Command:
    """One command's writes: events for one or more streams, with expected versions."""

    writes: tuple[StreamWrite, ...]

    @property
    def events(self) -> int:
        return sum(len(write.events) for write in self.writes)


@dataclass(frozen=True)
class Log:
    """A log to append, command by command, in order.

    Attributes:
      commands: in append order; expected versions assume an empty store.
      events: how many events the commands hold.
      streams: every stream's (category, customer).
    """

    commands: tuple[Command, ...]
    events: int
    streams: dict[str, tuple[str, str]]

    def batches(self, commands_per_batch: int) -> Iterator[Sequence[Command]]:
        for start in range(0, len(self.commands), commands_per_batch):
            yield self.commands[start : start + commands_per_batch]


# -- the template: a year of a hundred borrowers through the real Ledger -----------------


Template = tuple[list[StoredEvent], dict[str, tuple[str, str]]]


def simulate(customers: int, days: int, seed: int, advance: Advance) -> Template:
    """The log the ``Ledger`` writes for ``customers`` borrowers over ``days`` days, and
    every stream's (category, customer)."""
    with tempfile.TemporaryDirectory(prefix="lendguard-template-") as directory:
        store = SQLiteEventStore(str(Path(directory) / "template.db"))
        try:
            clock = FixedClock(datetime.combine(START, time(9), DEFAULT_TZ))
            borrowers = _Borrowers(Ledger(store, clock, actor="user:sim"), clock, customers,
                                   random.Random(seed))
            for offset in range(days):
                borrowers.live(START + timedelta(days=offset))
                advance(1)
            streams = {info.stream_id: (info.category, info.customer_id)
                       for info in store.streams()}
            return list(store.read_all()), streams
        finally:
            store.close()


class _Borrowers:
    """What a population of borrowers does, one business day at a time."""

    def __init__(self, ledger: Ledger, clock: FixedClock, customers: int,
                 rng: random.Random) -> None:
        self.ledger = ledger
        self.clock = clock
        self.rng = rng
        self.lines = [f"CL-{n:05d}" for n in range(customers)]
        self.loans = {f"CA-{n:05d}": f"C-{n:05d}" for n in range(customers)
                      if rng.random() < 0.4}
        self.to_settle: list[tuple[str, str]] = []
        self.settled: list[tuple[str, str]] = []
        self.orders = 0
        for n, line in enumerate(self.lines):
            ledger.open_credit_line(line, f"C-{n:05d}", Money(rng.choice([500_000, 2_000_000])),
                                    key=f"open-{line}")
        for loan, customer in self.loans.items():
            ledger.open_cash_loan(loan, customer, Money(5_000_000), key=f"open-{loan}")

    def live(self, day: date) -> None:
        self.clock.set(datetime.combine(day, time(10), DEFAULT_TZ))
        for line, order in self.to_settle:
            self._try(self.ledger.settle, line, order, key=f"settle-{order}")
        self.settled = (self.settled + self.to_settle)[-2_000:]
        self.to_settle = []
        for line in self.lines:
            self._shop(line, day)
            if day.day == 9:
                self._repay_line(line, day)
        for loan in self.loans:
            self._borrow(loan, day)
        self.clock.set(datetime.combine(day, time(23, 59), DEFAULT_TZ))
        self.ledger.close_of_business(day)

    def _shop(self, line: str, day: date) -> None:
        rng = self.rng
        if rng.random() < 0.3:
            self.orders += 1
            order = f"O-{self.orders:08d}"
            if self._try(self.ledger.purchase, line, order, Money(rng.randrange(990, 80_000)),
                         f"merchant-{rng.randrange(3000)}",
                         rng.choice(["grocery", "travel", "electronics", "apparel"]),
                         rng.choice(["app", "pos", "web"]), key=order):
                self.to_settle.append((line, order))
        if self.settled and rng.random() < 0.03:
            owner, order = self.settled.pop(rng.randrange(len(self.settled)))
            if rng.random() < 0.5:
                self._try(self.ledger.refund, owner, order, Money(500), key=f"refund-{order}")
            else:
                self._try(self.ledger.convert_purchase, owner, order, rng.choice([3, 6]),
                          f"P-{order}", key=f"convert-{order}")

    def _repay_line(self, line: str, day: date) -> None:
        due = amount_due(self.ledger.credit_line(line), day)
        choice = self.rng.random()
        if due <= 0 or choice < 0.08:
            return  # nothing owed, or a missed payment
        amount = due if choice < 0.85 else max(1, self.ledger.credit_line(line).minimum_due())
        self._try(self.ledger.repay, line, f"R-{line}-{day}", Money(amount),
                  key=f"repay-{line}-{day}")

    def _borrow(self, loan: str, day: date) -> None:
        rng = self.rng
        if day.day == 20 and rng.random() < 0.15:
            self._try(self.ledger.draw, loan, f"L-{day:%m%d}", Money(rng.randrange(100_000,
                                                                                   2_000_000)),
                      rng.choice([3, 6, 12]),
                      rng.choice(["equal_instalment", "equal_principal", "interest_first"]),
                      key=f"draw-{loan}-{day}")
        due = loan_amount_due(self.ledger.cash_loan(loan), day)
        if due > 0 and rng.random() < 0.93:
            self._try(self.ledger.repay, loan, f"R-{loan}-{day}", Money(due),
                      key=f"repay-{loan}-{day}")

    @staticmethod
    def _try(command: Callable[..., object], *args: object, **kwargs: object) -> bool:
        """A refused command is an answer (over the limit, nothing to convert)."""
        try:
            command(*args, **kwargs)
        except LendguardError:
            return False
        return True


# -- cloning the template into a log of any size -----------------------------------------


def time_ordered_ids(seed: int) -> Iterator[str]:
    """UUIDv7-layout ids: a millisecond clock in the first 48 bits, then random bits."""
    rng = random.Random(seed)
    millisecond = 1_767_225_600_000  # 2026-01-01
    for n in range(1 << 62):
        if n % 64 == 0:
            millisecond += 1
        bits = rng.getrandbits(74)
        yield str(uuid.UUID(int=(millisecond << 80) | (0x7 << 76) | ((bits >> 62) << 64)
                            | (0b10 << 62) | (bits & ((1 << 62) - 1))))


def random_ids(seed: int) -> Iterator[str]:
    """UUIDv4 ids from a seeded generator."""
    rng = random.Random(seed)
    while True:
        yield str(uuid.UUID(int=rng.getrandbits(128), version=4))


def clone(template: Sequence[StoredEvent], streams: dict[str, tuple[str, str]], events: int,
          ids: Iterator[str]) -> Log:
    """At least ``events`` events: the template's commands, copy after copy, interleaved."""
    commands = _commands(template)
    per_copy = len(template)
    copies = max(1, -(-events // per_copy))
    cloned: list[Command] = []
    total = 0
    for command in commands:
        for copy in range(copies):
            cloned.append(Command(tuple(
                StreamWrite(f"{stored[0].stream_id}.{copy}", stored[0].seq - 1,
                            [_new_event(s, next(ids)) for s in stored],
                            streams[stored[0].stream_id][0],
                            f"{streams[stored[0].stream_id][1]}.{copy}")
                for stored in command
            )))
    # Copies of one command sit together, so cutting the tail keeps every copy consistent.
    taken = []
    for command in cloned:
        if total >= events:
            break
        taken.append(command)
        total += command.events
    streams_taken = {write.stream_id: (write.category, write.customer_id)
                     for command in taken for write in command.writes}
    return Log(tuple(taken), total, streams_taken)


def _commands(template: Sequence[StoredEvent]) -> list[list[list[StoredEvent]]]:
    """The template's events grouped by command (consecutive, one key) and by stream."""
    commands: list[list[list[StoredEvent]]] = []
    for stored in template:
        if commands and commands[-1][-1][-1].command_key == stored.command_key != "":
            writes = commands[-1]
            if writes[-1][-1].stream_id == stored.stream_id:
                writes[-1].append(stored)
            else:
                writes.append([stored])
        else:
            commands.append([[stored]])
    return commands


def _new_event(stored: StoredEvent, event_id: str) -> NewEvent:
    return NewEvent(event_id, stored.type, stored.version, stored.data, stored.occurred_at,
                    stored.caused_by)
