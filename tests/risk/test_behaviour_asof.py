"""No event after the as-of date is used: behaviour features on a small simulated log
(160 borrowers over 6 months) at random cut-offs.

The features at D must be the same whether the log is whole, cut at D, or cut at D and
followed by any selection of the later events with their payloads destroyed (so a fold
that so much as decoded one would fail). The target must read its window only. The
features also agree with the ledger's own as-of view (``Ledger.history``), and the
PostgreSQL store gives the same sample as SQLite.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.asof import behaviour_sample, fold_log
from lendguard.clock import DEFAULT_TZ, FixedClock
from lendguard.ledger.schedule import add_months
from lendguard.risk.behaviour import AsOf, BehaviourSample
from lendguard.service import Ledger
from lendguard.store import open_store
from lendguard.store.base import LoadRow, StoredEvent
from lendguard.store.postgres import PostgresEventStore
from tests.store.conftest import fresh_store_spec

TARGET_TYPES = {"DelinquencyChanged", "AccountWrittenOff"}


@dataclass(frozen=True)
class Log:
    path: Path
    events: list[StoredEvent]
    accounts: dict[str, tuple[str, str]]
    first: date
    last: date

    def fold(self, events: list[StoredEvent], as_of: date, window: int = 0
             ) -> BehaviourSample:
        return fold_log(events, self.accounts, AsOf.of(as_of, window))


def day(event: StoredEvent) -> date:
    return date.fromisoformat(event.occurred_at[:10])


def destroyed(event: StoredEvent) -> StoredEvent:
    return event._replace(data="{not json")


@pytest.fixture(scope="module")
def log(small_run: Path) -> Log:
    out = small_run
    with open_store(f"sqlite:///{out / 'events.db'}") as store:
        events = list(store.read_all())
        accounts = {s.stream_id: (s.category, s.customer_id) for s in store.streams()}
    days = [day(e) for e in events]
    return Log(out / "events.db", events, accounts, min(days), max(days))


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_no_event_after_the_as_of_date_is_used(log: Log, data: st.DataObject) -> None:
    as_of = data.draw(st.dates(log.first, log.last), label="as_of")
    chooser = random.Random(data.draw(st.integers(0, 2**32), label="which later events"))
    whole = log.fold(log.events, as_of).frame
    up_to = [e for e in log.events if day(e) <= as_of]
    later = [destroyed(e) for e in log.events if day(e) > as_of if chooser.random() < 0.5]
    assert log.fold(up_to, as_of).frame.equals(whole)
    assert log.fold(up_to + later, as_of).frame.equals(whole)


@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_the_target_reads_its_window_only(log: Log, data: st.DataObject) -> None:
    window = data.draw(st.integers(1, 3), label="window")
    as_of = data.draw(st.dates(log.first, add_months(log.last, -window)), label="as_of")
    chooser = random.Random(data.draw(st.integers(0, 2**32), label="which later events"))
    end = add_months(as_of, window)
    whole = log.fold(log.events, as_of, window).frame
    kept = [e for e in log.events if day(e) <= as_of]
    kept += [e if e.type in TARGET_TYPES else destroyed(e)
             for e in log.events if as_of < day(e) <= end]
    kept += [destroyed(e) for e in log.events if day(e) > end if chooser.random() < 0.5]
    assert log.fold(kept, as_of, window).frame.equals(whole)


def test_features_agree_with_the_ledgers_own_view_at_the_date(log: Log) -> None:
    as_of = date(2026, 4, 17)
    frame = log.fold(log.events, as_of).frame
    with open_store(f"sqlite:///{log.path}") as store:
        ledger = Ledger(store, FixedClock(datetime.combine(as_of, time(12), DEFAULT_TZ)))
        for features in frame.iter_rows(named=True):
            customer = features["customer_id"]
            states = {a: ledger.history(a, as_of).state for a in ledger.accounts_of(customer)}
            line = states[f"L-{customer}"]
            assert features["days_past_due"] == max(
                s.days_past_due(as_of) for s in states.values())
            if line.limit:
                assert features["line_utilisation"] == pytest.approx(
                    line.occupied() / line.limit)
            loan = states.get(f"K-{customer}")
            assert features["loan_balance_fen"] == (None if loan is None else loan.occupied())


@pytest.mark.postgres
def test_postgresql_gives_the_same_sample(log: Log, tmp_path: Path) -> None:
    with fresh_store_spec("postgres", tmp_path) as spec:
        store = spec.open()
        assert isinstance(store, PostgresEventStore)
        try:
            store.load([LoadRow(e.stream_id, e.seq, e.event_id, e.type, e.version, e.data,
                                e.occurred_at, e.caused_by, e.command_key,
                                *log.accounts[e.stream_id]) for e in log.events])
            on_postgres = behaviour_sample(store, date(2026, 3, 31), 2).frame
        finally:
            store.close()
    with open_store(f"sqlite:///{log.path}") as sqlite:
        on_sqlite = behaviour_sample(sqlite, date(2026, 3, 31), 2).frame
    assert on_postgres.equals(on_sqlite)
    assert on_sqlite.height > 100 and on_sqlite["bad"].is_not_null().any()
