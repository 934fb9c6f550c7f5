"""Event store benchmark: our SQLite and PostgreSQL stores against ``eventsourcing`` 9.5.

In one run on one machine, with the same events (same count, same JSON payloads) for all:

- ``append, batched``: 1,000 commands of 1–3 events per transaction (``append_many``;
  eventsourcing: one ``insert_events`` call per 1,000 commands);
- ``append, 1 command/tx``: one transaction per command (``append``; eventsourcing: one
  ``insert_events`` per command), on a smaller slice (``--single-events``) because it is
  bounded by commit latency, not throughput;
- ``read_all, raw``: every event back in position order (eventsourcing:
  ``select_notifications`` pages);
- ``read_all + json.loads``: the same, decoding every payload.

Stores compared: ours on SQLite (WAL, ``synchronous=NORMAL``) and PostgreSQL (a fresh
schema, dropped afterwards); eventsourcing's ``SQLiteApplicationRecorder`` (WAL, SQLite's
default ``synchronous=FULL``: it fsyncs every commit, ours does not) and, when its
``psycopg_pool`` dependency is importable, its ``PostgresApplicationRecorder``.

Each measurement is one function taking a ``Target`` and a ``Workload`` and returning a
``Figure``; add a measurement by writing one more and listing it in ``MEASUREMENTS``.

Run from the repository root:
  PYTHONPATH=src python bench/ledger.py [--events N] [--json PATH] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg import sql
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from lendguard.store.base import EventStore, NewEvent, StreamWrite
from lendguard.store.postgres import PostgresEventStore
from lendguard.store.sqlite import SQLiteEventStore

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
COMMANDS_PER_BATCH = 1_000
READ_BATCH = 10_000
EVENTS_PER_ACCOUNT = 20  # on average: sets how many streams the workload spreads over

# -- the workload -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Command:
    """One command's events for one account, with the version it expects."""

    stream_id: str
    expected_version: int
    events: tuple[NewEvent, ...]


@dataclass(frozen=True)
class Workload:
    """The commands every store appends, prepared before any clock starts.

    Attributes:
      commands: in append order; expected versions assume a fresh store.
      events: how many events the commands hold.
    """

    commands: tuple[Command, ...]
    events: int

    def prefix(self, events: int) -> Workload:
        """The first commands holding at least ``events`` events (all: still consistent)."""
        taken: list[Command] = []
        total = 0
        for command in self.commands:
            if total >= events:
                break
            taken.append(command)
            total += len(command.events)
        return Workload(tuple(taken), total)

    def batches(self) -> Iterator[Sequence[Command]]:
        for start in range(0, len(self.commands), COMMANDS_PER_BATCH):
            yield self.commands[start : start + COMMANDS_PER_BATCH]


EVENT_TYPES = ("PurchaseMade", "RepaymentReceived", "StatementIssued", "LoanDrawn")


def make_workload(events: int, seed: int = 20260301) -> Workload:
    """``events`` events in commands of 1–3, spread over ``events / 20`` accounts."""
    rng = random.Random(seed)
    accounts = max(1, events // EVENTS_PER_ACCOUNT)
    versions: dict[str, int] = {}
    commands: list[Command] = []
    total = 0
    while total < events:
        stream_id = f"acct-{rng.randrange(accounts):07d}"
        size = min(rng.randint(1, 3), events - total)
        version = versions.get(stream_id, 0)
        batch = tuple(make_event(rng, total + n) for n in range(size))
        commands.append(Command(stream_id, version, batch))
        versions[stream_id] = version + size
        total += size
    return Workload(tuple(commands), total)


def make_event(rng: random.Random, number: int) -> NewEvent:
    """A realistic event: a ~170-byte JSON payload with a few fields of each kind."""
    payload = {
        "order_id": f"ord-{number:09d}",
        "merchant": f"Merchant {rng.randrange(5000)}",
        "amount_fen": rng.randrange(100, 5_000_000),
        "currency": "CNY",
        "channel": rng.choice(["app", "web", "pos"]),
        "instalments": rng.choice([1, 3, 6, 12]),
        "posted_on": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
    }
    return NewEvent(
        event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        type=rng.choice(EVENT_TYPES),
        version=1,
        data=json.dumps(payload, separators=(",", ":")),
        occurred_at="2026-03-01T10:00:00+08:00",
        caused_by="user:bench",
    )


# -- what is measured -------------------------------------------------------------------


class Target(Protocol):
    """A store under test, behind the few operations the measurements need."""

    name: str

    def append_batch(self, commands: Sequence[Command]) -> None: ...

    def append_one(self, command: Command) -> None: ...

    def read_pages(self) -> Iterator[Sequence[str | bytes]]:
        """Every payload in position order, one page (list) at a time."""
        ...

    def close(self) -> None: ...


class OurStore:
    """One of our ``EventStore`` adapters."""

    def __init__(self, name: str, store: EventStore, cleanup: Callable[[], None]) -> None:
        self.name = name
        self.store = store
        self._cleanup = cleanup

    def append_batch(self, commands: Sequence[Command]) -> None:
        self.store.append_many([[_stream_write(command)] for command in commands])

    def append_one(self, command: Command) -> None:
        self.store.append([_stream_write(command)])

    def read_pages(self) -> Iterator[Sequence[str | bytes]]:
        page: list[str | bytes] = []
        for event in self.store.read_all(batch_size=READ_BATCH):
            page.append(event.data)
            if len(page) == READ_BATCH:
                yield page
                page = []
        yield page

    def close(self) -> None:
        self.store.close()
        self._cleanup()


def _stream_write(command: Command) -> StreamWrite:
    return StreamWrite(
        command.stream_id, command.expected_version, command.events, "credit_line", "bench"
    )


class EventsourcingRecorder:
    """An ``eventsourcing`` application recorder (stream = originator, seq = version)."""

    def __init__(self, name: str, recorder: Any, cleanup: Callable[[], None]) -> None:
        from eventsourcing.persistence import StoredEvent as EsStoredEvent

        self.name = name
        self.recorder = recorder
        self._cleanup = cleanup
        self._stored_event = EsStoredEvent
        self._converted: dict[int, list[Any]] = {}

    def prepare(self, workload: Workload) -> None:
        """Convert the workload to eventsourcing's type before any clock starts."""
        for command in workload.commands:
            self._converted.setdefault(id(command), self._convert(command))

    def _convert(self, command: Command) -> list[Any]:
        return [
            self._stored_event(
                originator_id=command.stream_id,
                originator_version=command.expected_version + n,
                topic=event.type,
                state=event.data.encode(),
            )
            for n, event in enumerate(command.events, start=1)
        ]

    def append_batch(self, commands: Sequence[Command]) -> None:
        self.recorder.insert_events(
            [stored for command in commands for stored in self._converted[id(command)]]
        )

    def append_one(self, command: Command) -> None:
        self.recorder.insert_events(self._converted[id(command)])

    def read_pages(self) -> Iterator[Sequence[str | bytes]]:
        last_id = 0
        while True:
            page = self.recorder.select_notifications(last_id, READ_BATCH, inclusive_of_start=False)
            yield [notification.state for notification in page]
            if len(page) < READ_BATCH:
                return
            last_id = page[-1].id

    def close(self) -> None:
        self.recorder.datastore.close()
        self._cleanup()


@dataclass(frozen=True)
class Figure:
    """One measurement of one store."""

    measurement: str
    store: str
    events: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else float("inf")


@dataclass
class Skipped:
    store: str
    reason: str


@dataclass
class Results:
    figures: list[Figure] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


Advance = Callable[[int], None]


def bench_append_batched(target: Target, workload: Workload, advance: Advance) -> Figure:
    started = time.perf_counter()
    for batch in workload.batches():
        target.append_batch(batch)
        advance(sum(len(command.events) for command in batch))
    return Figure("append, batched", target.name, workload.events, time.perf_counter() - started)


def bench_append_single(target: Target, workload: Workload, advance: Advance) -> Figure:
    started = time.perf_counter()
    for command in workload.commands:
        target.append_one(command)
        advance(len(command.events))
    seconds = time.perf_counter() - started
    return Figure("append, 1 command/tx", target.name, workload.events, seconds)


def bench_read_raw(target: Target, workload: Workload, advance: Advance) -> Figure:
    started = time.perf_counter()
    total = 0
    for page in target.read_pages():
        total += len(page)
        advance(len(page))
    _check_count(target, total, workload)
    return Figure("read_all, raw", target.name, total, time.perf_counter() - started)


def bench_read_decoded(target: Target, workload: Workload, advance: Advance) -> Figure:
    started = time.perf_counter()
    total = 0
    loads = json.loads
    for page in target.read_pages():
        for payload in page:
            loads(payload)
        total += len(page)
        advance(len(page))
    _check_count(target, total, workload)
    return Figure("read_all + json.loads", target.name, total, time.perf_counter() - started)


def _check_count(target: Target, total: int, workload: Workload) -> None:
    if total != workload.events:
        raise RuntimeError(f"{target.name} read {total} events, {workload.events} were appended")


Measurement = Callable[[Target, Workload, Advance], Figure]

# Each phase runs its measurements in order on one fresh store of every kind, so the reads
# follow the appends that filled the store. "full": --events; "single": --single-events.
PHASES: list[tuple[str, list[Measurement]]] = [
    ("full", [bench_append_batched, bench_read_raw, bench_read_decoded]),
    ("single", [bench_append_single]),
]


# -- the stores -------------------------------------------------------------------------


class Stores:
    """Opens fresh, empty stores of every kind; remembers what to drop afterwards."""

    def __init__(self, directory: Path, pg_url: str) -> None:
        self.directory = directory
        self.pg_url = pg_url

    def ours_sqlite(self) -> Target:
        path = self._fresh_file("ours")
        return OurStore("ours / SQLite", SQLiteEventStore(str(path)), lambda: None)

    def ours_postgres(self) -> Target:
        schema = self._fresh_schema("lg_bench")
        store = PostgresEventStore(self.pg_url, schema)
        return OurStore("ours / PostgreSQL", store, lambda: self._drop_schema(schema))

    def eventsourcing_sqlite(self) -> Target:
        from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

        datastore = SQLiteDatastore(str(self._fresh_file("es")), originator_id_type="text")
        recorder = SQLiteApplicationRecorder(datastore)
        recorder.create_table()
        return EventsourcingRecorder("eventsourcing / SQLite", recorder, lambda: None)

    def eventsourcing_postgres(self) -> Target:
        # Needs psycopg_pool, which eventsourcing imports at module level.
        from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

        schema = self._fresh_schema("es_bench")
        with psycopg.connect(self.pg_url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        params = psycopg.conninfo.conninfo_to_dict(self.pg_url)
        datastore = PostgresDatastore(
            dbname=str(params.get("dbname", "postgres")),
            host=str(params.get("host", "127.0.0.1")),
            port=str(params.get("port", 5432)),
            user=str(params.get("user", "postgres")),
            password=str(params.get("password", "")),
            schema=schema,
            originator_id_type="text",
        )
        recorder = PostgresApplicationRecorder(datastore)
        recorder.create_table()
        return EventsourcingRecorder(
            "eventsourcing / PostgreSQL", recorder, lambda: self._drop_schema(schema)
        )

    def _fresh_file(self, prefix: str) -> Path:
        return self.directory / f"{prefix}-{uuid.uuid4().hex[:8]}.db"

    @staticmethod
    def _fresh_schema(prefix: str) -> str:
        return f"{prefix}_{uuid.uuid4().hex[:10]}"

    def _drop_schema(self, schema: str) -> None:
        with psycopg.connect(self.pg_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )


# -- running and reporting --------------------------------------------------------------


def run(events: int, single_events: int, pg_url: str, console: Console) -> Results:
    workloads = {"full": make_workload(events), "single": make_workload(single_events, seed=7)}
    results = Results()
    with tempfile.TemporaryDirectory(prefix="lendguard-bench-") as directory:
        stores = Stores(Path(directory), pg_url)
        openers = [
            ("ours / SQLite", stores.ours_sqlite),
            ("eventsourcing / SQLite", stores.eventsourcing_sqlite),
            ("ours / PostgreSQL", stores.ours_postgres),
            ("eventsourcing / PostgreSQL", stores.eventsourcing_postgres),
        ]
        with _progress(console) as progress:
            for name, opener in openers:
                for phase, measurements in PHASES:
                    workload = workloads[phase]
                    try:
                        target = _open(opener, workload)
                    except Exception as e:  # a store that cannot run here is reported
                        results.skipped.append(Skipped(name, f"{type(e).__name__}: {e}"))
                        break
                    try:
                        for measurement in measurements:
                            task = progress.add_task(
                                f"{name}: {measurement.__name__.removeprefix('bench_')}",
                                total=workload.events,
                            )
                            advance = _advancer(progress, task)
                            results.figures.append(measurement(target, workload, advance))
                    finally:
                        target.close()
    return results


def _open(opener: Callable[[], Target], workload: Workload) -> Target:
    target = opener()
    if isinstance(target, EventsourcingRecorder):
        target.prepare(workload)
    return target


def _advancer(progress: Progress, task: TaskID) -> Advance:
    def advance(events: int) -> None:
        progress.advance(task, events)

    return advance


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def ratio_against_eventsourcing(figure: Figure, figures: Sequence[Figure]) -> float | None:
    """ours / eventsourcing for the same database and measurement (None when not ours or
    eventsourcing did not run)."""
    owner, _, database = figure.store.partition(" / ")
    if owner != "ours":
        return None
    for other in figures:
        if other.measurement == figure.measurement and other.store == f"eventsourcing / {database}":
            return figure.events_per_second / other.events_per_second
    return None


def render(results: Results, console: Console) -> None:
    table = Table(title="Event store benchmark: events per second (higher is better)")
    for column in ("measurement", "store", "events", "seconds", "events/s", "ours/eventsourcing"):
        table.add_column(column, justify="left" if column in ("measurement", "store") else "right")
    measurements = list(dict.fromkeys(figure.measurement for figure in results.figures))
    for measurement in measurements:
        rows = [figure for figure in results.figures if figure.measurement == measurement]
        for n, figure in enumerate(rows):
            ratio = ratio_against_eventsourcing(figure, results.figures)
            table.add_row(
                measurement if n == 0 else "",
                figure.store,
                f"{figure.events:,}",
                f"{figure.seconds:.2f}",
                f"{figure.events_per_second:,.0f}",
                f"{ratio:.2f}×" if ratio is not None else "",
                end_section=n == len(rows) - 1,
            )
    console.print(table)
    for skipped in results.skipped:
        console.print(f"[yellow]skipped {skipped.store}[/]: {skipped.reason}")


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "sqlite": sqlite3.sqlite_version,
        "psycopg": psycopg.__version__,
        "eventsourcing": _version_of("eventsourcing"),
    }


def _version_of(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def save_json(path: Path, results: Results, events: int, single_events: int) -> None:
    document = {
        "machine": machine(),
        "events": events,
        "single_events": single_events,
        "figures": [
            {
                **asdict(figure),
                "events_per_second": round(figure.events_per_second, 1),
                "ours_over_eventsourcing": ratio_against_eventsourcing(figure, results.figures),
            }
            for figure in results.figures
        ],
        "skipped": [asdict(skipped) for skipped in results.skipped],
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=200_000, help="events per store")
    parser.add_argument(
        "--single-events",
        type=int,
        default=None,
        help="events appended one command per transaction (default: events / 10)",
    )
    parser.add_argument("--json", type=Path, help="also save the figures to this file")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("LENDGUARD_BENCH_PG", DEFAULT_PG_URL),
        help="PostgreSQL server for both PostgreSQL stores (env LENDGUARD_BENCH_PG)",
    )
    args = parser.parse_args(argv)
    if args.events < 1:
        parser.error("--events must be at least 1")
    single_events = args.single_events or max(1, args.events // 10)

    console = Console()
    console.width = max(console.width, 110)  # not a terminal: rich would assume 80 columns
    results = run(args.events, single_events, args.pg_url, console)
    render(results, console)
    if args.json:
        save_json(args.json, results, args.events, single_events)
        console.print(f"figures saved to {args.json}")


if __name__ == "__main__":
    main()
