"""The PostgreSQL event store: the same tables as SQLite, inside one schema.

Positions must read back gap-free and in commit order even with writers in several
processes, or a projection reading by position could skip an event that commits late.
So every write transaction first takes a transaction-level advisory lock (one per schema),
then checks idempotency keys and expected versions, and allocates positions as max+1. The
lock is held until commit, so appends to one schema are serialised; reads never take it.
Unique constraints stay as the last line of defence and map to the same typed errors.

One connection per store, created in ``__init__`` and guarded by a lock, so a store may be
shared between threads but each call runs alone. A broken connection is not re-established:
calls raise ``StoreError`` and the caller opens a new store.

Nothing domain-specific lives here: payloads are stored as the JSON text they arrived as
(``text``, not ``jsonb``, so they read back byte for byte).
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from itertools import starmap
from typing import Any

import psycopg
from psycopg import sql

from lendguard.errors import ConcurrencyConflict, IdempotencyConflict, StoreError
from lendguard.store.base import (
    AppendResult,
    CommandRecord,
    EventRow,
    EventStore,
    IdempotencyKey,
    StoredEvent,
    StreamInfo,
    StreamWrite,
)

# First key of the two-key advisory lock ("LG"); the second identifies the schema.
_LOCK_NAMESPACE = 0x4C47

_EVENT_COLUMNS = (
    "position, stream_id, seq, event_id, type, version, data, occurred_at, caused_by, command_key"
)

_SCHEMA = (
    "CREATE SCHEMA IF NOT EXISTS {schema}",
    """CREATE TABLE IF NOT EXISTS {events} (
        position BIGINT PRIMARY KEY,
        stream_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        type TEXT NOT NULL,
        version INTEGER NOT NULL,
        data TEXT NOT NULL,
        occurred_at TEXT NOT NULL,
        caused_by TEXT NOT NULL,
        command_key TEXT NOT NULL DEFAULT '',
        CONSTRAINT events_event_id_key UNIQUE (event_id),
        CONSTRAINT events_stream_seq_key UNIQUE (stream_id, seq)
    )""",
    """CREATE TABLE IF NOT EXISTS {streams} (
        stream_id TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        category TEXT NOT NULL,
        customer_id TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS streams_category ON {streams} (category)",
    "CREATE INDEX IF NOT EXISTS streams_customer ON {streams} (customer_id)",
    """CREATE TABLE IF NOT EXISTS {commands} (
        key TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        positions BIGINT[] NOT NULL
    )""",
)

_EventRow = tuple[int, str, int, str, str, int, str, str, str, str]
_make_stored_event = StoredEvent._make
_StreamRow = tuple[str, int, str, str]


@dataclass(frozen=True, slots=True)
class _Statements:
    """Every statement, composed once with the schema-qualified table names."""

    schema: tuple[sql.Composed, ...]
    begin_and_lock: sql.Composed
    select_state: sql.Composed
    write_command: sql.Composed
    copy_events: sql.Composed
    upsert_streams: sql.Composed
    select_last_position: sql.Composed
    select_command: sql.Composed
    select_stream: sql.Composed
    select_batch: sql.Composed
    select_rows: sql.Composed
    select_stream_info: sql.Composed

    @classmethod
    def for_schema(cls, schema: str) -> _Statements:
        names = {
            "schema": sql.Identifier(schema),
            "events": sql.Identifier(schema, "events"),
            "streams": sql.Identifier(schema, "streams"),
            "commands": sql.Identifier(schema, "commands"),
            "columns": sql.SQL(_EVENT_COLUMNS),
            "namespace": sql.Literal(_LOCK_NAMESPACE),
            "lock_id": sql.Literal(_schema_lock_id(schema)),
        }

        def compose(text: str) -> sql.Composed:
            return sql.SQL(text).format(**{k: v for k, v in names.items() if f"{{{k}}}" in text})

        # Category and customer are recorded on creation; later writes move the version.
        upsert_streams = (
            "INSERT INTO {streams} (stream_id, version, category, customer_id) "
            "SELECT * FROM unnest(%s::text[], %s::int[], %s::text[], %s::text[]) "
            "ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version"
        )
        return cls(
            schema=tuple(compose(statement) for statement in _SCHEMA),
            # One simple query (no parameters), so one round trip for both.
            begin_and_lock=compose("BEGIN; SELECT pg_advisory_xact_lock({namespace}, {lock_id})"),
            # Everything a write checks, in one round trip, tagged by kind. It runs after the
            # lock, so (read committed) its snapshot includes every earlier append.
            select_state=compose(
                "SELECT 'last_position', NULL::text, COALESCE(MAX(position), 0), NULL::bigint[] "
                "FROM {events} "
                "UNION ALL SELECT 'stream', stream_id, version::bigint, NULL FROM {streams} "
                "WHERE stream_id = ANY(%s::text[]) "
                "UNION ALL SELECT 'command', fingerprint, NULL, positions FROM {commands} "
                "WHERE key = %s::text"
            ),
            # One command's events, stream versions and idempotency key in one statement.
            write_command=compose(
                "WITH appended AS (INSERT INTO {events} ({columns}) SELECT * FROM unnest("
                "%s::bigint[], %s::text[], %s::int[], %s::text[], %s::text[], "
                "%s::int[], %s::text[], %s::text[], %s::text[], %s::text[])), "
                f"moved AS ({upsert_streams}) "
                "INSERT INTO {commands} (key, fingerprint, positions) "
                "SELECT * FROM (VALUES (%s::text, %s::text, %s::bigint[])) AS c (k, f, p) "
                "WHERE k IS NOT NULL"
            ),
            copy_events=compose("COPY {events} ({columns}) FROM STDIN"),
            upsert_streams=compose(upsert_streams),
            select_last_position=compose("SELECT COALESCE(MAX(position), 0) FROM {events}"),
            select_command=compose(
                "SELECT key, fingerprint, positions FROM {commands} WHERE key = %s"
            ),
            select_stream=compose(
                "SELECT {columns} FROM {events} WHERE stream_id = %s AND seq > %s ORDER BY seq"
            ),
            select_batch=compose(
                "SELECT {columns} FROM {events} WHERE position > %s ORDER BY position LIMIT %s"
            ),
            select_rows=compose(
                "SELECT position, stream_id, seq, type, version, data FROM {events} "
                "WHERE position > %s ORDER BY position LIMIT %s"
            ),
            select_stream_info=compose(
                "SELECT stream_id, version, category, customer_id FROM {streams}"
            ),
        )


class PostgresEventStore(EventStore):
    """An ``EventStore`` in one PostgreSQL schema; see the module docstring.

    Attributes:
      schema: the schema holding the ``events``, ``streams`` and ``commands`` tables.
    """

    def __init__(self, url: str, schema: str = "public") -> None:
        self.schema = schema
        self._sql = _Statements.for_schema(schema)
        self._lock = threading.RLock()
        try:
            self._conn = psycopg.connect(url, autocommit=True)
        except psycopg.Error as e:
            raise StoreError(f"cannot connect to the PostgreSQL event store: {e}") from e
        try:
            with self._write() as cur:
                for statement in self._sql.schema:
                    cur.execute(statement)
        except psycopg.Error as e:
            self._conn.close()
            raise StoreError(f"cannot prepare schema {schema!r}: {e}") from e

    # -- writing ------------------------------------------------------------------------

    def append(
        self, writes: Sequence[StreamWrite], idempotency: IdempotencyKey | None = None
    ) -> AppendResult:
        key = idempotency.key if idempotency is not None else None
        with _postgres_errors("append"), self._write() as cur:
            plan, earlier = self._plan(cur, [writes], key)
            if idempotency is not None and earlier is not None:
                return _repeat(earlier, idempotency)
            positions = plan.add_command(writes, key or "")
            if plan.event_rows or idempotency is not None:
                command = (
                    (idempotency.key, idempotency.fingerprint, list(positions))
                    if idempotency is not None
                    else (None, None, None)
                )
                cur.execute(
                    self._sql.write_command,
                    (*_columns(plan.event_rows, 10), *_columns(plan.stream_rows(), 4), *command),
                )
        return AppendResult(positions)

    def append_many(self, batches: Sequence[Sequence[StreamWrite]],
                    command_keys: Sequence[str] | None = None) -> list[AppendResult]:
        if command_keys is not None and len(command_keys) != len(batches):
            raise ValueError(f"{len(command_keys)} command keys for {len(batches)} batches")
        keys = command_keys if command_keys is not None else [""] * len(batches)
        with _postgres_errors("append_many"), self._write() as cur:
            plan, _ = self._plan(cur, batches, None)
            results = [AppendResult(plan.add_command(writes, key))
                       for writes, key in zip(batches, keys, strict=True)]
            if plan.event_rows:
                with cur.copy(self._sql.copy_events) as copy:
                    for row in plan.event_rows:
                        copy.write_row(row)
                cur.execute(self._sql.upsert_streams, _columns(plan.stream_rows(), 4))
        return results

    @contextmanager
    def _write(self) -> Iterator[psycopg.Cursor[Any]]:
        """One write transaction holding the schema's append lock until it ends.

        BEGIN, the lock, the checks, the writes and COMMIT take four round trips: on a
        small machine each statement's client-side cost outweighs the server's work.
        """
        with self._lock, self._conn.cursor() as cur:
            cur.execute(self._sql.begin_and_lock)
            try:
                yield cur
                self._conn.commit()
            except BaseException:
                with suppress(psycopg.Error):  # a broken connection: report the first error
                    self._conn.rollback()
                raise

    def _plan(
        self,
        cur: psycopg.Cursor[Any],
        batches: Sequence[Sequence[StreamWrite]],
        command_key: str | None,
    ) -> tuple[_WritePlan, CommandRecord | None]:
        """Committed versions, the last position and the key's record, read under the lock."""
        stream_ids = sorted({write.stream_id for writes in batches for write in writes})
        cur.execute(self._sql.select_state, (stream_ids, command_key))
        versions: dict[str, int] = {}
        last_position = 0
        earlier: CommandRecord | None = None
        for kind, text, number, positions in cur.fetchall():
            if kind == "stream":
                versions[text] = number
            elif kind == "last_position":
                last_position = number
            elif command_key is not None:
                earlier = CommandRecord(command_key, text, tuple(positions))
        return _WritePlan(versions, last_position), earlier

    # -- reading ------------------------------------------------------------------------

    def read_stream(self, stream_id: str, after_seq: int = 0) -> list[StoredEvent]:
        with _postgres_errors("read_stream"), self._lock, self._conn.cursor() as cur:
            cur.execute(self._sql.select_stream, (stream_id, after_seq))
            rows = cur.fetchall()
        return list(map(_make_stored_event, rows))

    def read_all(self, after_position: int = 0, batch_size: int = 10_000) -> Iterator[StoredEvent]:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        return self._read_batches(after_position, batch_size)

    def _read_batches(self, after_position: int, batch_size: int) -> Iterator[StoredEvent]:
        for rows in self._pages(self._sql.select_batch, after_position, batch_size):
            yield from map(_make_stored_event, rows)

    def read_all_rows(
        self, after_position: int = 0, batch_size: int = 10_000
    ) -> Iterator[list[EventRow]]:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        return self._pages(self._sql.select_rows, after_position, batch_size)

    def _pages(
        self, query: sql.Composed, after_position: int, batch_size: int
    ) -> Iterator[list[Any]]:
        # Keyset pages: positions commit in order (see the module docstring), so reading
        # past the last position seen never skips an event, and nothing stays open between
        # pages for a slow consumer to hold. Every query paged here selects the position
        # first.
        while True:
            with _postgres_errors("read_all"), self._lock, self._conn.cursor() as cur:
                cur.execute(query, (after_position, batch_size))
                rows = cur.fetchall()
            if rows:
                yield rows
            if len(rows) < batch_size:
                return
            after_position = rows[-1][0]

    def stream_info(self, stream_id: str) -> StreamInfo | None:
        query = self._sql.select_stream_info + sql.SQL(" WHERE stream_id = %s")
        with _postgres_errors("stream_info"), self._lock, self._conn.cursor() as cur:
            cur.execute(query, (stream_id,))
            row = cur.fetchone()
        return None if row is None else StreamInfo(*row)

    def streams(
        self, category: str | None = None, customer_id: str | None = None
    ) -> list[StreamInfo]:
        conditions: list[sql.Composable] = []
        params: list[str] = []
        if category is not None:
            conditions.append(sql.SQL("category = %s"))
            params.append(category)
        if customer_id is not None:
            conditions.append(sql.SQL("customer_id = %s"))
            params.append(customer_id)
        query = self._sql.select_stream_info
        if conditions:
            query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions)
        # Byte order, as in SQLite, whatever the database's collation.
        query += sql.SQL(' ORDER BY stream_id COLLATE "C"')
        with _postgres_errors("streams"), self._lock, self._conn.cursor() as cur:
            cur.execute(query, params)
            rows = cur.fetchall()
        return list(starmap(StreamInfo, rows))

    def find_command(self, key: str) -> CommandRecord | None:
        with _postgres_errors("find_command"), self._lock, self._conn.cursor() as cur:
            cur.execute(self._sql.select_command, (key,))
            return _command_record(cur.fetchone())

    def last_position(self) -> int:
        with _postgres_errors("last_position"), self._lock, self._conn.cursor() as cur:
            cur.execute(self._sql.select_last_position)
            row = cur.fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __repr__(self) -> str:
        return f"PostgresEventStore(schema={self.schema!r})"


class _WritePlan:
    """Turns commands' stream writes into rows, checking expected versions on the way.

    ``versions`` holds the committed version of every stream the commands touch (missing:
    0) and is advanced as events are planned, so a later command in the same transaction
    must expect the version an earlier one left behind.
    """

    def __init__(self, versions: dict[str, int], last_position: int) -> None:
        self.versions = versions
        self.position = last_position
        self.event_rows: list[_EventRow] = []
        self.created: dict[str, tuple[str, str]] = {}

    def add_command(self, writes: Sequence[StreamWrite], command_key: str) -> tuple[int, ...]:
        first = self.position + 1
        for write in writes:
            self._add_write(write, command_key)
        return tuple(range(first, self.position + 1))

    def _add_write(self, write: StreamWrite, command_key: str) -> None:
        stream_id = write.stream_id
        seq = self.versions.get(stream_id, 0)
        if write.expected_version != seq:
            raise ConcurrencyConflict(
                f"stream {stream_id!r} is at version {seq}, "
                f"the command expected version {write.expected_version}"
            )
        if not write.events:
            return
        if seq == 0 and stream_id not in self.created:
            self.created[stream_id] = (write.category, write.customer_id)
        rows = self.event_rows
        position = self.position
        for event in write.events:
            position += 1
            seq += 1
            rows.append(
                (
                    position,
                    stream_id,
                    seq,
                    event.event_id,
                    event.type,
                    event.version,
                    event.data,
                    event.occurred_at,
                    event.caused_by,
                    command_key,
                )
            )
        self.position = position
        self.versions[stream_id] = seq

    def stream_rows(self) -> list[_StreamRow]:
        """One upsert row per touched stream, with its final version."""
        touched = dict.fromkeys(row[1] for row in self.event_rows)
        return [
            (stream_id, self.versions[stream_id], *self.created.get(stream_id, ("", "")))
            for stream_id in touched
        ]


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows turned into one list per column, for ``unnest`` (one statement for many rows)."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


def _schema_lock_id(schema: str) -> int:
    """A stable signed 32-bit id for the schema (collisions only serialise more)."""
    return zlib.crc32(schema.encode()) - 2**31


def _command_record(row: tuple[Any, ...] | None) -> CommandRecord | None:
    return None if row is None else CommandRecord(row[0], row[1], tuple(row[2]))


def _repeat(earlier: CommandRecord, idempotency: IdempotencyKey) -> AppendResult:
    if earlier.fingerprint != idempotency.fingerprint:
        raise IdempotencyConflict(
            f"idempotency key {idempotency.key!r} was already used by a different command"
        )
    return AppendResult(earlier.positions, duplicate=True)


@contextmanager
def _postgres_errors(action: str) -> Iterator[None]:
    """Map psycopg failures to typed errors; unique constraints are the last defence."""
    try:
        yield
    except psycopg.errors.UniqueViolation as e:
        raise _unique_violation(action, e) from e
    except psycopg.Error as e:
        raise StoreError(f"PostgreSQL {action} failed: {e}") from e


def _unique_violation(action: str, error: psycopg.errors.UniqueViolation) -> Exception:
    constraint = error.diag.constraint_name
    if constraint in ("events_stream_seq_key", "events_pkey"):
        return ConcurrencyConflict(f"another writer appended first ({error})")
    if constraint == "commands_pkey":
        return IdempotencyConflict(f"the idempotency key was used concurrently ({error})")
    if constraint == "events_event_id_key":
        return StoreError(f"PostgreSQL {action} failed: an event id is already stored ({error})")
    return StoreError(f"PostgreSQL {action} failed: {error}")
