"""Ledger benchmark: our event stores and replay against ``eventsourcing`` 9.5, side by side.

One run, one machine, the same events for both libraries (see ``_ledger_workload.py`` for
the log and ``_ledger_es.py`` for the eventsourcing application), on SQLite and on
PostgreSQL:

- ``append, batched``: the log appended 1,000 commands per transaction (ours:
  ``EventStore.append_many``; eventsourcing: ``ApplicationRecorder.insert_events``), with
  time-ordered event ids; ours once more with random (UUIDv4) ids;
- ``commands, 1 per transaction``: purchases on 200 accounts, each its own transaction
  (ours: ``Ledger.purchase``, which checks the limit and the idempotency key and records
  the key; eventsourcing: ``repository.get``, the aggregate's command, ``Application.save``);
- ``replay``: every event read back in order, decoded into its event object and folded
  into its account (ours: ``lendguard.replay.replay(verify=False)``; eventsourcing: the
  notification log read in pages, ``Mapper.to_domain_event``, ``event.mutate``), best of
  five; ours in one process and in ``--workers`` processes (``replay(workers=N)``: the
  streams shared out, each process on its own connection), runs alternating so both see
  the same machine; ours once more with ``verify=True`` (the journal derived, the books
  checked), likewise.

Each side gets a fresh database per workload: a SQLite file in a temporary directory, a
fresh PostgreSQL schema (dropped afterwards). Workloads are built before any clock starts.

Run from the repository root: ``./dev bench ledger [--events N] [--workers N] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _ledger_es as es
import _ledger_workload as workload
from _machine import cpu_model
from lendguard.clock import DEFAULT_TZ, FixedClock
from lendguard.events import decode_event
from lendguard.money import Money
from lendguard.replay import replay
from lendguard.service import Ledger
from lendguard.store.base import EventStore, StreamWrite
from lendguard.store.postgres import PostgresEventStore
from lendguard.store.sqlite import SQLiteEventStore

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
COMMANDS_PER_BATCH = 1_000
ACCOUNTS = 200  # for the one-command-per-transaction workload
TEMPLATE_CUSTOMERS = 100
TEMPLATE_DAYS = 365
REPLAY_RUNS = 5  # best of five: the machine is shared and a stray process costs a run
Advance = Callable[[int], None]

# Measurement names, in table order.
APPEND = "append, batched"
APPEND_RANDOM = "append, batched, random ids"
COMMANDS = "commands, 1 per transaction"
REPLAY = "replay"
REPLAY_PARALLEL = "replay, N processes"
REPLAY_VERIFY = "replay + verify the books"
REPLAY_VERIFY_PARALLEL = "replay + verify, N processes"
UNITS = {APPEND: "events/s", APPEND_RANDOM: "events/s", COMMANDS: "commands/s",
         REPLAY: "events/s", REPLAY_PARALLEL: "events/s", REPLAY_VERIFY: "events/s",
         REPLAY_VERIFY_PARALLEL: "events/s"}
# Ours only: compared with eventsourcing's figure for another measurement.
COMPARED_WITH = {APPEND_RANDOM: APPEND, REPLAY_PARALLEL: REPLAY, REPLAY_VERIFY: REPLAY,
                 REPLAY_VERIFY_PARALLEL: REPLAY}


@dataclass(frozen=True)
class Figure:
    """One measurement of one library on one database."""

    measurement: str
    database: str
    library: str
    count: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else float("inf")


@dataclass
class Results:
    figures: list[Figure] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def rate(self, measurement: str, database: str, library: str) -> float | None:
        for figure in self.figures:
            if (figure.measurement, figure.database, figure.library) == (
                measurement, database, library
            ):
                return figure.rate
        return None


# -- workloads ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Workloads:
    """Everything either library appends, built before any clock starts.

    Attributes:
      log: the cloned log, time-ordered event ids.
      log_random_ids: the same log with random event ids.
      batches: ``log`` as our stream writes, by transaction.
      batches_random_ids: ``log_random_ids`` likewise.
      es_batches: ``log`` as eventsourcing stored events, by transaction.
      commands: how many one-command transactions to run.
    """

    log: workload.Log
    log_random_ids: workload.Log
    batches: list[list[Sequence[StreamWrite]]]
    batches_random_ids: list[list[Sequence[StreamWrite]]]
    es_batches: list[list[Any]]
    commands: int


def build_workloads(events: int, commands: int, progress: Progress) -> Workloads:
    days = progress.add_task("simulating a year of 100 borrowers", total=TEMPLATE_DAYS)
    template, streams = workload.simulate(TEMPLATE_CUSTOMERS, TEMPLATE_DAYS, seed=2026,
                                          advance=lambda n: progress.advance(days, n))
    log = workload.clone(template, streams, events, workload.time_ordered_ids(1))
    log_random = workload.clone(template, streams, events, workload.random_ids(2))
    converting = progress.add_task("encoding the log for eventsourcing", total=log.events)
    decoded: dict[tuple[str, int], Any] = {}
    with es_mapper() as mapper:
        es_batches = [
            _es_stored_events(batch, mapper, decoded, lambda n: progress.advance(converting, n))
            for batch in log.batches(COMMANDS_PER_BATCH)
        ]
    return Workloads(
        log, log_random,
        [[command.writes for command in batch] for batch in log.batches(COMMANDS_PER_BATCH)],
        [[command.writes for command in batch]
         for batch in log_random.batches(COMMANDS_PER_BATCH)],
        es_batches, commands,
    )


def _es_stored_events(commands: Sequence[workload.Command], mapper: Any,
                      decoded: dict[tuple[str, int], Any], advance: Advance) -> list[Any]:
    """The commands' events as eventsourcing's mapper stores them (``decoded`` keeps our
    decoded events by template stream and seq: clones share them)."""
    stored = []
    for command in commands:
        for write in command.writes:
            template_stream = write.stream_id.rpartition(".")[0]
            for seq, event in enumerate(write.events, start=write.expected_version + 1):
                ours = decoded.get((template_stream, seq))
                if ours is None:
                    ours = decoded[(template_stream, seq)] = decode_event(
                        event.type, event.version, event.data)
                mirrored = es.mirrored_event(ours, write.stream_id, seq, event.occurred_at,
                                             event.event_id, event.caused_by)
                stored.append(mapper.to_stored_event(mirrored))
            advance(len(write.events))
    return stored


@contextmanager
def es_mapper() -> Iterator[Any]:
    """eventsourcing's mapper, as an ``Accounts`` application configures it."""
    with tempfile.TemporaryDirectory(prefix="lendguard-bench-") as directory:
        app = es.Accounts(env=es.environment({
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(Path(directory) / "mapper.db"),
        }))
        try:
            yield app.mapper
        finally:
            app.close()


# -- databases ---------------------------------------------------------------------------


class SQLiteDatabase:
    """Fresh SQLite files in one temporary directory."""

    name = "SQLite"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _fresh(self, prefix: str) -> str:
        return str(self.directory / f"{prefix}-{uuid.uuid4().hex[:8]}.db")

    @contextmanager
    def ours(self) -> Iterator[EventStore]:
        store = SQLiteEventStore(self._fresh("ours"))
        try:
            yield store
        finally:
            store.close()

    @contextmanager
    def theirs(self) -> Iterator[Any]:
        app = es.Accounts(env=es.environment({
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": self._fresh("eventsourcing"),
        }))
        try:
            yield app
        finally:
            app.close()


class PostgreSQLDatabase:
    """Fresh schemas on one PostgreSQL server, dropped afterwards."""

    name = "PostgreSQL"

    def __init__(self, url: str) -> None:
        self.url = url

    @contextmanager
    def _schema(self, prefix: str) -> Iterator[str]:
        schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
        try:
            yield schema
        finally:
            with psycopg.connect(self.url, autocommit=True) as admin:
                admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    sql.Identifier(schema)))

    @contextmanager
    def ours(self) -> Iterator[EventStore]:
        with self._schema("lg_bench") as schema:
            store = PostgresEventStore(self.url, schema)
            try:
                yield store
            finally:
                store.close()

    @contextmanager
    def theirs(self) -> Iterator[Any]:
        with self._schema("es_bench") as schema:
            with psycopg.connect(self.url, autocommit=True) as admin:
                admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            params = psycopg.conninfo.conninfo_to_dict(self.url)
            app = es.Accounts(env=es.environment({
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_DBNAME": str(params.get("dbname", "postgres")),
                "POSTGRES_HOST": str(params.get("host", "127.0.0.1")),
                "POSTGRES_PORT": str(params.get("port", 5432)),
                "POSTGRES_USER": str(params.get("user", "postgres")),
                "POSTGRES_PASSWORD": str(params.get("password", "")),
                "POSTGRES_SCHEMA": schema,
            }))
            try:
                yield app
            finally:
                app.close()

    def server_version(self) -> str:
        with psycopg.connect(self.url) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"


Database = SQLiteDatabase | PostgreSQLDatabase


# -- measurements ------------------------------------------------------------------------


def timed(run: Callable[[], int]) -> tuple[int, float]:
    """(what ``run`` counted, the seconds it took)."""
    started = time.perf_counter()
    count = run()
    return count, time.perf_counter() - started


def append_batches(store: EventStore, batches: list[list[Sequence[StreamWrite]]],
                   advance: Advance) -> int:
    appended = 0
    for batch in batches:
        store.append_many(batch)
        events = sum(len(write.events) for writes in batch for write in writes)
        appended += events
        advance(events)
    return appended


def es_append_batches(app: Any, batches: list[list[Any]], advance: Advance) -> int:
    for batch in batches:
        app.recorder.insert_events(batch)
        advance(len(batch))
    return sum(len(batch) for batch in batches)


def replay_ours(store: EventStore, verify: bool, workers: int, expected: int,
                advance: Advance) -> int:
    report = replay(store, verify=verify, progress=advance, workers=workers)
    if report.events != expected or not report.ok or report.workers != workers:
        raise RuntimeError(f"replay read {report.events} of {expected} events in "
                           f"{report.workers} processes: {report.problems[:3]}")
    return report.events


def replay_theirs(app: Any, expected: int, advance: Advance) -> int:
    """The notification log in pages, each event mapped and folded into its aggregate."""
    aggregates: dict[str, Any] = {}
    to_domain_event = app.mapper.to_domain_event
    page_size = 10_000
    last = 0
    count = 0
    while True:
        page = app.recorder.select_notifications(last, page_size, inclusive_of_start=False)
        for notification in page:
            event = to_domain_event(notification)
            aggregates[event.originator_id] = event.mutate(aggregates.get(event.originator_id))
        count += len(page)
        advance(len(page))
        if len(page) < page_size:
            break
        last = page[-1].id
    if count != expected or sum(a.events for a in aggregates.values()) != expected:
        raise RuntimeError(f"eventsourcing replay read {count} of {expected} events")
    return count


def best_of(runs: int, measure: Callable[[], tuple[int, float]]) -> tuple[int, float]:
    results = [measure() for _ in range(runs)]
    return min(results, key=lambda result: result[1])


def best_of_alternating(runs: int, measures: Sequence[Callable[[], tuple[int, float]]]
                        ) -> list[tuple[int, float]]:
    """Each measurement's best of ``runs``, run in turn (a, b, a, b, …) so that a busy
    spell on a shared machine falls on all of them alike."""
    results: list[list[tuple[int, float]]] = [[] for _ in measures]
    for _ in range(runs):
        for found, measure in zip(results, measures, strict=True):
            found.append(measure())
    return [min(found, key=lambda result: result[1]) for found in results]


@dataclass(frozen=True)
class Purchase:
    account: str
    order_id: str
    amount: Money
    merchant: str


def purchases(count: int) -> list[Purchase]:
    rng = random.Random(5)
    return [Purchase(f"CL-{n % ACCOUNTS:04d}", f"O-{n:07d}", Money(rng.randrange(100, 10_000)),
                     f"merchant-{rng.randrange(500)}") for n in range(count)]


OPENED = datetime(2026, 3, 2, 10, tzinfo=DEFAULT_TZ)
LIMIT = Money(100_000_000)
EVENT_IDS = uuid.UUID("7d3f4a52-9a55-4a63-9d0c-0f7c6a1e2b44")


def run_commands(store: EventStore, work: list[Purchase], advance: Advance) -> tuple[int, float]:
    ledger = Ledger(store, FixedClock(OPENED), actor="user:bench")
    for n in range(ACCOUNTS):
        ledger.open_credit_line(f"CL-{n:04d}", f"C-{n:04d}", LIMIT, key=f"open-{n}")

    def run() -> int:
        for n, purchase in enumerate(work):
            ledger.purchase(purchase.account, purchase.order_id, purchase.amount,
                            purchase.merchant, "grocery", "app", key=f"buy-{n}")
            if n % 100 == 99:
                advance(100)
        return len(work)

    return timed(run)


def es_run_commands(app: Any, work: list[Purchase], advance: Advance) -> tuple[int, float]:
    for n in range(ACCOUNTS):
        app.save(es.Account.open(f"CL-{n:04d}", f"C-{n:04d}", LIMIT, OPENED.date()))
    at = OPENED.isoformat()

    def run() -> int:
        for n, purchase in enumerate(work):
            account = app.repository.get(purchase.account)
            account.purchase(purchase.order_id, purchase.amount, purchase.merchant, "grocery",
                             "app", at, OPENED.date(), str(uuid.uuid5(EVENT_IDS, f"buy-{n}")))
            app.save(account)
            if n % 100 == 99:
                advance(100)
        return len(work)

    return timed(run)


# -- running -----------------------------------------------------------------------------


class Bench:
    """Runs every measurement on one database and collects the figures."""

    def __init__(self, work: Workloads, progress: Progress, results: Results,
                 workers: int) -> None:
        self.work = work
        self.workers = workers
        self.progress = progress
        self.results = results

    def advancer(self, description: str, total: int) -> Advance:
        task = self.progress.add_task(description, total=total)
        return lambda n: self.progress.advance(task, n)

    def record(self, measurement: str, database: Database, library: str,
               result: tuple[int, float]) -> None:
        self.results.figures.append(Figure(measurement, database.name, library, *result))

    def run(self, database: Database) -> None:
        for library, steps in (("ours", self._ours), ("eventsourcing", self._theirs)):
            try:
                steps(database)
            except Exception as e:  # a database or library that cannot run here is reported
                self.results.skipped.append(
                    f"{library} on {database.name}: {type(e).__name__}: {e}")

    def _ours(self, database: Database) -> None:
        log = self.work.log
        name = f"{database.name}, ours"
        with database.ours() as store:
            advance = self.advancer(f"{name}: {APPEND}", log.events)
            self.record(APPEND, database, "ours", timed(
                lambda: append_batches(store, self.work.batches, advance)))
            for verify, measurements in ((False, (REPLAY, REPLAY_PARALLEL)),
                                         (True, (REPLAY_VERIFY, REPLAY_VERIFY_PARALLEL))):
                self._replay_ours(store, database, measurements, verify)
        with database.ours() as store:
            advance = self.advancer(f"{name}: {APPEND_RANDOM}", log.events)
            self.record(APPEND_RANDOM, database, "ours", timed(
                lambda: append_batches(store, self.work.batches_random_ids, advance)))
        with database.ours() as store:
            work = purchases(self.work.commands)
            advance = self.advancer(f"{name}: {COMMANDS}", len(work))
            self.record(COMMANDS, database, "ours", run_commands(store, work, advance))

    def _replay_ours(self, store: EventStore, database: Database, measurements: Sequence[str],
                     verify: bool) -> None:
        """One process and ``self.workers`` processes, alternating."""
        events = self.work.log.events
        name = " / ".join(measurements).replace("N processes", f"{self.workers} processes")
        advance = self.advancer(f"{database.name}, ours: {name}", 2 * REPLAY_RUNS * events)
        single, parallel = best_of_alternating(REPLAY_RUNS, [
            lambda: timed(lambda: replay_ours(store, verify, 1, events, advance)),
            lambda: timed(lambda: replay_ours(store, verify, self.workers, events, advance)),
        ])
        self.record(measurements[0], database, "ours", single)
        self.record(measurements[1], database, "ours", parallel)

    def _theirs(self, database: Database) -> None:
        log = self.work.log
        name = f"{database.name}, eventsourcing"
        with database.theirs() as app:
            advance = self.advancer(f"{name}: {APPEND}", log.events)
            self.record(APPEND, database, "eventsourcing", timed(
                lambda: es_append_batches(app, self.work.es_batches, advance)))
            advance = self.advancer(f"{name}: {REPLAY}", REPLAY_RUNS * log.events)
            self.record(REPLAY, database, "eventsourcing", best_of(REPLAY_RUNS, lambda: timed(
                lambda: replay_theirs(app, log.events, advance))))
        with database.theirs() as app:
            work = purchases(self.work.commands)
            advance = self.advancer(f"{name}: {COMMANDS}", len(work))
            self.record(COMMANDS, database, "eventsourcing", es_run_commands(app, work, advance))


# -- reporting ---------------------------------------------------------------------------


def ratio(results: Results, measurement: str, database: str) -> float | None:
    ours = results.rate(measurement, database, "ours")
    theirs = results.rate(COMPARED_WITH.get(measurement, measurement), database,
                          "eventsourcing")
    return ours / theirs if ours is not None and theirs else None


def render(results: Results, console: Console, workers: int) -> None:
    table = Table(title="lendguard vs eventsourcing 9.5 (higher is better)")
    for column in ("measurement", "database", "unit", "ours", "eventsourcing", "ours ÷ es"):
        table.add_column(column, justify="left" if column in ("measurement", "database",
                                                               "unit") else "right")
    databases = list(dict.fromkeys(figure.database for figure in results.figures))
    for measurement in UNITS:
        for n, database in enumerate(databases):
            ours = results.rate(measurement, database, "ours")
            theirs = results.rate(measurement, database, "eventsourcing")
            if ours is None and theirs is None:
                continue
            quotient = ratio(results, measurement, database)
            note = " *" if measurement in COMPARED_WITH else ""
            table.add_row(
                label(measurement, workers) if n == 0 else "", database, UNITS[measurement],
                f"{ours:,.0f}" if ours is not None else "—",
                f"{theirs:,.0f}" if theirs is not None else "—",
                f"{quotient:.2f}×{note}" if quotient is not None else "",
                end_section=n == len(databases) - 1,
            )
    console.print(table)
    for measurement, other in COMPARED_WITH.items():
        console.print(f"* {label(measurement, workers)}: ours against eventsourcing's {other}")
    for skipped in results.skipped:
        console.print(f"[yellow]skipped[/] {skipped}")


def label(measurement: str, workers: int) -> str:
    return measurement.replace("N processes", f"{workers} processes")


def machine(pg: PostgreSQLDatabase) -> dict[str, object]:
    """What the figures were measured on."""
    try:
        postgres = pg.server_version()
    except psycopg.Error as e:
        postgres = f"unavailable ({e})"
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres,
        "eventsourcing": version("eventsourcing"),
        "psycopg": psycopg.__version__,
        "orjson": version("orjson"),
    }


def save_json(path: Path, results: Results, facts: dict[str, object],
              parameters: dict[str, object]) -> None:
    document = {
        "machine": facts,
        "parameters": parameters,
        "figures": [
            {**asdict(figure), "unit": UNITS[figure.measurement],
             "rate": round(figure.rate, 1),
             "ours_over_eventsourcing": ratio(results, figure.measurement, figure.database)
             if figure.library == "ours" else None}
            for figure in results.figures
        ],
        "skipped": results.skipped,
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000,
                        help="events in the log appended and replayed (default 200,000)")
    parser.add_argument("--commands", type=int, default=None,
                        help="one-command transactions (default: events / 20)")
    parser.add_argument("--workers", type=int, default=max(2, min(os.cpu_count() or 2, 4)),
                        help="processes for the parallel replays (default: the CPUs, "
                             "2 to 4)")
    parser.add_argument("--json", type=Path, help="also save the figures to this file")
    parser.add_argument("--pg-url", default=os.environ.get("LENDGUARD_BENCH_PG", DEFAULT_PG_URL),
                        help="PostgreSQL server for both libraries (env LENDGUARD_BENCH_PG)")
    args = parser.parse_args(argv)
    if args.events < 1:
        parser.error("--events must be at least 1")
    if args.workers < 2:
        parser.error("--workers must be at least 2 (one process is measured anyway)")
    commands = args.commands or max(100, args.events // 20)

    console = Console()
    console.width = max(console.width, 110)  # not a terminal: rich would assume 80 columns
    pg = PostgreSQLDatabase(args.pg_url)
    facts = machine(pg)
    load_before = os.getloadavg()
    results = Results()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lendguard-bench-") as directory, Progress(
        TextColumn("[progress.description]{task.description}"), BarColumn(),
        MofNCompleteColumn(), TimeElapsedColumn(), console=console,
    ) as progress:
        work = build_workloads(args.events, commands, progress)
        bench = Bench(work, progress, results, args.workers)
        for database in (SQLiteDatabase(Path(directory)), pg):
            bench.run(database)
    facts["load_average_before"] = [round(x, 2) for x in load_before]
    facts["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    render(results, console, args.workers)
    console.print(f"{work.log.events:,} events in {len(work.log.commands):,} commands on "
                  f"{len(work.log.streams):,} accounts; {commands:,} one-command transactions; "
                  f"{cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
                  f"load average {load_before[0]:.2f} → {os.getloadavg()[0]:.2f}; "
                  f"{timedelta(seconds=round(time.perf_counter() - started))} in all")
    if args.json:
        parameters = {"events": work.log.events, "commands": commands,
                      "accounts_in_log": len(work.log.streams),
                      "commands_per_batch": COMMANDS_PER_BATCH, "replay_runs": REPLAY_RUNS,
                      "replay_workers": args.workers,
                      "command_accounts": ACCOUNTS}
        save_json(args.json, results, facts, parameters)
        console.print(f"figures saved to {args.json}")


if __name__ == "__main__":
    main()
