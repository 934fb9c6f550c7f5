"""Shared fixtures: a ``Ledger`` on a fresh SQLite file with a business clock that moves
only when a test moves it, and ``BusinessDays`` to walk the calendar with close of
business run for every day left behind.

Every scenario built on the ``ledger`` fixture is replayed from the log when the test
ends: a replay that finds a gap, an unbalanced entry or a state that disagrees with its
journal fails the test at teardown, so each scenario also proves its books.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TypeVar

import pytest

from lendguard.clock import DEFAULT_TZ, FixedClock
from lendguard.events import Event, decode_event
from lendguard.replay import ReplayReport, replay
from lendguard.service import Ledger
from lendguard.store import open_store
from lendguard.store.base import EventStore

START = date(2026, 1, 1)
OPENING_HOUR = 9


def morning(day: date) -> datetime:
    return datetime.combine(day, time(OPENING_HOUR), DEFAULT_TZ)


@dataclass
class BusinessDays:
    """Walks the business calendar of one ledger.

    ``go_to(day)`` runs close of business for today and every later day before ``day``,
    then stands at 09:00 on ``day``: commands issued next happen during ``day``, before
    its own close of business (``close_today``).
    """

    ledger: Ledger
    clock: FixedClock

    @property
    def today(self) -> date:
        return self.clock.today()

    def go_to(self, day: date) -> None:
        if day < self.today:
            raise ValueError(f"cannot go back from {self.today} to {day}")
        while self.today < day:
            self.ledger.close_of_business(self.today)
            self.clock.set(morning(self.today + timedelta(days=1)))

    def close_today(self) -> int:
        """Run today's close of business; the number of events it appended."""
        return self.ledger.close_of_business(self.today)

    def close_through(self, day: date) -> None:
        """Close every day up to and including ``day`` and stand at the morning after."""
        self.go_to(day + timedelta(days=1))


E = TypeVar("E", bound=Event)


def events_of(store: EventStore, stream_id: str, cls: type[E]) -> list[E]:
    """The stream's stored events of one type, decoded, in order."""
    decoded = (decode_event(e.type, e.version, e.data) for e in store.read_stream(stream_id))
    return [ev for ev in decoded if isinstance(ev, cls)]


def books_of(store: EventStore) -> ReplayReport:
    """Replay the whole log and fail with every problem found."""
    report = replay(store, verify=True, keep_states=True)
    assert report.problems == []
    assert report.journal.is_balanced()
    return report


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(morning(START))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    opened = open_store(f"sqlite:///{tmp_path}/ledger.db")
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def ledger(store: EventStore, clock: FixedClock) -> Iterator[Ledger]:
    lg = Ledger(store, clock, actor="test")
    yield lg
    books_of(store)


@pytest.fixture
def books(store: EventStore) -> Callable[[], ReplayReport]:
    """Call it to replay the log so far and get the rebuilt journal and states."""
    return lambda: books_of(store)


@pytest.fixture
def days(ledger: Ledger, clock: FixedClock) -> BusinessDays:
    return BusinessDays(ledger, clock)
