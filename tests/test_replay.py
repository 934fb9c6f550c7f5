"""Replay: a realistic multi-account log, rebuilt from the store, must give back exactly the
states the live ledger holds, with balanced books, on SQLite and on PostgreSQL alike.

The log comes from the real ``Ledger`` on a business clock: customers with a credit line
(some with a cash-loan account too) buying, being settled and refunded, converting
purchases into instalments, repaying in full, in part or not at all, drawing and repaying
loans, with close of business every day.
"""

from __future__ import annotations

import gc
import json
import os
import random
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from lendguard.clock import DEFAULT_TZ, FixedClock
from lendguard.errors import LendguardError
from lendguard.ledger.account import AccountState
from lendguard.ledger.cash_loan import amount_due as loan_amount_due
from lendguard.ledger.credit_line import amount_due
from lendguard.money import Money
from lendguard.replay import ReplayFailed, ReplayReport, _share_out, default_workers, replay
from lendguard.service import Ledger
from lendguard.store import open_store
from lendguard.store.base import EventRow, EventStore, NewEvent, StreamWrite
from lendguard.store.postgres import PostgresEventStore
from lendguard.store.sqlite import SQLiteEventStore

from .store.conftest import StoreSpec, fresh_store_spec

PG_URL = os.environ.get("LENDGUARD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
START = date(2026, 1, 1)


def simulate(ledger: Ledger, clock: FixedClock, customers: int, days: int, seed: int) -> None:
    """Drive ``customers`` borrowers through ``days`` business days."""
    rng = random.Random(seed)
    lines = [f"CL-{n:03d}" for n in range(customers)]
    loans = {f"CA-{n:03d}": f"CL-{n:03d}" for n in range(customers) if n % 2 == 0}
    clock.set(datetime.combine(START, time(9), DEFAULT_TZ))
    for n, line in enumerate(lines):
        ledger.open_credit_line(line, f"C-{n:03d}", Money(rng.choice([300_000, 1_000_000])),
                                key=f"open-{line}")
    for loan, line in loans.items():
        ledger.open_cash_loan(loan, f"C-{line[3:]}", Money(5_000_000), key=f"open-{loan}")
    unsettled: list[tuple[str, str]] = []
    settled: list[tuple[str, str]] = []
    for offset in range(days):
        day = START + timedelta(days=offset)
        clock.set(datetime.combine(day, time(10), DEFAULT_TZ))
        actions = 0
        for line, order in unsettled:
            _try(ledger.settle, line, order, key=f"settle-{order}")
        settled += unsettled
        unsettled = []
        for line in lines:
            if rng.random() < 0.35:
                actions += 1
                order = f"O-{day:%m%d}-{line}-{actions}"
                if _try(ledger.purchase, line, order, Money(rng.randrange(500, 90_000)),
                        f"merchant-{rng.randrange(40)}", "retail", "app", key=order):
                    unsettled.append((line, order))
            if settled and rng.random() < 0.04:
                owner, order = settled.pop(rng.randrange(len(settled)))
                if rng.random() < 0.5:
                    _try(ledger.refund, owner, order, Money(300), key=f"refund-{order}")
                else:
                    _try(ledger.convert_purchase, owner, order, 3, f"P-{order}",
                         key=f"convert-{order}")
            if day.day == 9:
                _repay_line(ledger, rng, line, day)
        for loan in loans:
            if day.day == 15 and rng.random() < 0.3:
                _try(ledger.draw, loan, f"L-{day:%m%d}", Money(rng.randrange(100_000, 900_000)),
                     rng.choice([3, 6]), rng.choice(["equal_instalment", "equal_principal"]),
                     key=f"draw-{loan}-{day}")
            due = loan_amount_due(ledger.cash_loan(loan), day)
            if due > 0 and rng.random() < 0.9:
                _try(ledger.repay, loan, f"R-{loan}-{day}", Money(due), key=f"r-{loan}-{day}")
        clock.set(datetime.combine(day, time(23, 59), DEFAULT_TZ))
        ledger.close_of_business(day)


def _repay_line(ledger: Ledger, rng: random.Random, line: str, day: date) -> None:
    due = amount_due(ledger.credit_line(line), day)
    choice = rng.random()
    if due <= 0 or choice < 0.1:
        return  # nothing owed, or a missed payment (penalties, delinquency)
    amount = due if choice < 0.8 else max(1, ledger.credit_line(line).minimum_due())
    _try(ledger.repay, line, f"R-{line}-{day}", Money(amount), key=f"r-{line}-{day}")


def _try(command: object, *args: object, **kwargs: object) -> bool:
    """Run a command the way a client would: a refusal is an answer, not a failure."""
    try:
        command(*args, **kwargs)  # type: ignore[operator]
    except LendguardError:
        return False
    return True


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Ledger]]:
    path = tmp_path_factory.mktemp("replay") / "log.db"
    store = open_store(f"sqlite:///{path}")
    clock = FixedClock(datetime.combine(START, time(9), DEFAULT_TZ))
    ledger = Ledger(store, clock, actor="user:test")
    simulate(ledger, clock, customers=8, days=120, seed=11)
    yield str(path), ledger
    store.close()


def fingerprint(state: AccountState) -> tuple[object, ...]:
    """What two states must agree on: balances, version, status, limit, bucket."""
    return (sorted(state.balances().items()), state.version, state.status, state.limit,
            state.bucket, state.credit_balance, state.customer_id, state.opened_on)


def test_the_simulated_log_is_realistic(simulated: tuple[str, Ledger]) -> None:
    path, _ = simulated
    with SQLiteEventStore(path) as store:
        types = {row[3] for page in store.read_all_rows() for row in page}
    assert {"PurchaseMade", "PurchaseSettled", "StatementIssued", "RepaymentReceived",
            "LoanDrawn", "InstalmentFellDue", "InstalmentPlanCreated",
            "PurchaseRefunded"} <= types


def test_replay_rebuilds_every_account_as_the_live_ledger_holds_it(
    simulated: tuple[str, Ledger],
) -> None:
    path, ledger = simulated
    with SQLiteEventStore(path) as store:
        report = replay(store, verify=True, keep_states=True)
        live = {stream_id: ledger.state(stream_id) for stream_id in ledger.all_accounts()}

        assert report.problems == []
        assert report.journal.is_balanced()
        assert report.events == store.last_position()
        assert report.streams == len(live) == 12
        assert {s: fingerprint(st) for s, st in report.states.items()} == {
            s: fingerprint(st) for s, st in live.items()
        }


def test_replay_without_verifying_folds_the_same_states(simulated: tuple[str, Ledger]) -> None:
    path, _ = simulated
    with SQLiteEventStore(path) as store:
        checked = replay(store, verify=True, keep_states=True)
        fast = replay(store, verify=False, keep_states=True)

    assert fast.events == checked.events and fast.problems == []
    assert fast.journal.entries == 0  # nothing posted: no journal was asked for
    assert {s: fingerprint(st) for s, st in fast.states.items()} == {
        s: fingerprint(st) for s, st in checked.states.items()
    }


def test_progress_is_reported_page_by_page(simulated: tuple[str, Ledger]) -> None:
    path, _ = simulated
    seen: list[int] = []
    with SQLiteEventStore(path) as store:
        report = replay(store, verify=False, progress=seen.append)
    assert sum(seen) == report.events and all(0 < n <= 10_000 for n in seen)


class _GapInStream(SQLiteEventStore):
    """A store whose log skips a sequence number in one stream (as a lost write would)."""

    def read_all_rows(self, after_position: int = 0, batch_size: int = 10_000,
                      **filters: Any) -> Iterator[list[EventRow]]:
        for page in super().read_all_rows(after_position, batch_size, **filters):
            yield [(p, s, seq + 1 if s == "CL-001" and seq >= 5 else seq, t, v, d)
                   for p, s, seq, t, v, d in page]


def test_a_gap_in_a_stream_is_reported(simulated: tuple[str, Ledger]) -> None:
    path, _ = simulated
    with _GapInStream(path) as store:
        report = replay(store, verify=True)
    assert report.problems[0] == "CL-001: event 6 follows 4"
    assert not report.ok


@pytest.mark.postgres
def test_postgres_replays_the_same_log_to_the_same_books(simulated: tuple[str, Ledger]) -> None:
    path, _ = simulated
    schema = f"lg_replay_{uuid.uuid4().hex[:12]}"
    try:
        with SQLiteEventStore(path) as source, PostgresEventStore(PG_URL, schema) as copy:
            _copy_log(source, copy)
            expected = replay(source, keep_states=True)
            copied = replay(copy, keep_states=True)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(schema)))

    assert copied.problems == [] and copied.events == expected.events
    assert dict(copied.journal.totals) == dict(expected.journal.totals)
    assert {s: fingerprint(st) for s, st in copied.states.items()} == {
        s: fingerprint(st) for s, st in expected.states.items()
    }


def _copy_log(source: EventStore, target: EventStore) -> None:
    """Every event of ``source`` appended to ``target`` in order, one write per event."""
    streams = {info.stream_id: info for info in source.streams()}
    batch = []
    for stored in source.read_all():
        info = streams[stored.stream_id]
        event = NewEvent(stored.event_id, stored.type, stored.version, stored.data,
                         stored.occurred_at, stored.caused_by)
        batch.append([StreamWrite(stored.stream_id, stored.seq - 1, [event], info.category,
                                  info.customer_id)])
    target.append_many(batch)



class _BrokenLog(SQLiteEventStore):
    """A store whose log cannot be read past its first page."""

    def read_all_rows(self, after_position: int = 0, batch_size: int = 10_000,
                      **filters: Any) -> Iterator[list[EventRow]]:
        yield from islice(super().read_all_rows(after_position, 10, **filters), 1)
        raise OSError("disk gone")


def test_garbage_collection_is_as_it_was_after_a_replay(simulated: tuple[str, Ledger]) -> None:
    path, _ = simulated
    with _BrokenLog(path) as broken, SQLiteEventStore(path) as store:
        assert gc.isenabled()
        replay(store, verify=False)
        assert gc.isenabled()
        with pytest.raises(OSError):
            replay(broken)
        assert gc.isenabled()
        gc.disable()
        try:
            replay(store, verify=False)
            assert not gc.isenabled()
        finally:
            gc.enable()


# -- several processes -------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def copied_log(request: pytest.FixtureRequest, simulated: tuple[str, Ledger],
               tmp_path: Path) -> Iterator[StoreSpec]:
    """The simulated log, copied into a fresh store of each kind (tests may break it)."""
    path, _ = simulated
    with fresh_store_spec(request.param, tmp_path) as spec:
        with SQLiteEventStore(path) as source, spec.open() as copy:
            _copy_log(source, copy)
        yield spec


def books(report: ReplayReport) -> tuple[object, ...]:
    """Everything a replay reports but its states and timing."""
    journal = report.journal
    return (report.events, report.streams, report.problems, dict(journal.totals),
            {stream: dict(accounts) for stream, accounts in journal.by_stream.items()},
            journal.entries, [(e.stream_id, e.seq) for e in journal.unbalanced])


@pytest.mark.parametrize("workers", [2, 3])
def test_parallel_replay_gives_the_books_one_process_does(copied_log: StoreSpec,
                                                          workers: int) -> None:
    with copied_log.open() as store:
        alone = replay(store, verify=True)
        shared = replay(store, verify=True, workers=workers)
        unchecked = replay(store, verify=False, workers=workers)

    assert shared.workers == workers and alone.workers == 1
    assert alone.problems == [] and alone.events > 500
    assert books(shared) == books(alone)
    assert shared.states == {}  # states stay in the processes that folded them
    assert (unchecked.events, unchecked.streams, unchecked.problems) == (
        alone.events, alone.streams, [])


def test_parallel_replay_finds_a_gap_and_an_unbalanced_entry(copied_log: StoreSpec) -> None:
    with copied_log.open() as store:
        _break_log(copied_log)
        alone = replay(store, verify=True)
        shared = replay(store, verify=True, workers=2)

    assert "CL-001: event 1005 follows 4" in alone.problems
    assert any(p.startswith("unbalanced entry: CL-002 #") for p in alone.problems)
    assert "trial balance is off by 1 fen" in alone.problems
    assert books(shared) == books(alone) and shared.workers == 2


def _break_log(spec: StoreSpec) -> None:
    """A lost write in CL-001 (its events from the 5th on renumbered from 1005) and one
    fen more on CL-002's first repayment than its allocations add up to."""
    renumber = "UPDATE {events} SET seq = seq + 1000 WHERE stream_id = 'CL-001' AND seq >= 5"
    first = ("SELECT position, data FROM {events} WHERE stream_id = 'CL-002' "
             "AND type = 'RepaymentReceived' ORDER BY position LIMIT 1")
    overpay = "UPDATE {events} SET data = {param} WHERE position = {param}"
    if spec.kind == "sqlite":
        with sqlite3.connect(spec.target) as db:
            db.execute(renumber.format(events="events"))
            position, data = db.execute(first.format(events="events")).fetchone()
            db.execute(overpay.format(events="events", param="?"), (_plus_a_fen(data), position))
        return
    events = sql.Identifier(spec.schema, "events")
    with psycopg.connect(spec.target, autocommit=True) as db:
        db.execute(sql.SQL(renumber).format(events=events))
        row = db.execute(sql.SQL(first).format(events=events)).fetchone()
        assert row is not None
        db.execute(sql.SQL(overpay).format(events=events, param=sql.Placeholder()),
                   (_plus_a_fen(row[1]), row[0]))


def _plus_a_fen(data: str) -> str:
    payload = json.loads(data)
    payload["amount"] += 1
    return json.dumps(payload)


def test_a_failing_process_fails_the_replay(copied_log: StoreSpec) -> None:
    with copied_log.open() as store:
        # A payload that is not JSON, in a stream the forked process folds.
        theirs = _share_out(store.streams(), 2)[1][0].stream_id
        with _raw(copied_log) as (db, events):
            db.execute(f"UPDATE {events} SET data = 'not json' WHERE stream_id = '{theirs}'")
        with pytest.raises(ReplayFailed, match="a replay process failed"):
            replay(store, verify=True, workers=2)


@contextmanager
def _raw(spec: StoreSpec) -> Iterator[tuple[Any, str]]:
    """A plain connection to the store's database and its events table's name."""
    if spec.kind == "sqlite":
        with sqlite3.connect(spec.target) as db:
            yield db, "events"
        return
    with psycopg.connect(spec.target, autocommit=True) as conn:
        yield conn, f'"{spec.schema}".events'


def test_parallel_progress_counts_every_event_once(simulated: tuple[str, Ledger]) -> None:
    path, _ = simulated
    seen: list[int] = []
    with SQLiteEventStore(path) as store:
        report = replay(store, verify=False, progress=seen.append, workers=2)
        assert sum(seen) == report.events == store.last_position()
    assert all(n >= 0 for n in seen)


def test_one_process_when_it_must_be(simulated: tuple[str, Ledger]) -> None:
    path, _ = simulated
    with SQLiteEventStore(path) as store:
        with pytest.raises(ValueError, match="keep_states needs workers=1"):
            replay(store, workers=2, keep_states=True)
        with pytest.raises(ValueError, match="workers must be at least 1"):
            replay(store, workers=0)
    with SQLiteEventStore(path) as source, SQLiteEventStore(":memory:") as memory:
        _copy_log(source, memory)  # in memory: nothing another process could open
        report = replay(memory, workers=2)
    assert report.workers == 1 and report.ok


def test_the_default_is_the_cpus_not_already_busy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1, 2, 3, 4, 5}, raising=False)
    for load, workers in ((0.3, 4), (2.7, 4), (3.2, 3), (5.9, 1), (12.0, 1)):
        monkeypatch.setattr(os, "getloadavg", lambda load=load: (load, load, load))
        assert default_workers() == workers
