"""The SQLite event store: the embedded default, one file (or ``":memory:"``).

Several processes may write the same file. The journal is WAL, so readers never block the
writer; every write runs in a ``BEGIN IMMEDIATE`` transaction, so it takes the single write
lock first (waiting up to the busy timeout) and only then checks idempotency keys and
expected versions against committed data. Positions are allocated as max+1 under that lock,
so they are gap-free and in commit order.

``synchronous=NORMAL``: a commit survives a crash of the process, and an OS crash or power
loss can lose only the last transactions, never corrupt the file.

One connection per store, guarded by a lock, so a store may be shared between threads but
each call runs alone. Nothing domain-specific lives here: payloads are opaque JSON text.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from itertools import starmap

from lendguard.errors import ConcurrencyConflict, IdempotencyConflict, StoreError
from lendguard.store.base import (
    AppendResult,
    CommandRecord,
    EventStore,
    IdempotencyKey,
    StoredEvent,
    StreamInfo,
    StreamWrite,
)

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS events (
        position INTEGER PRIMARY KEY,
        stream_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        event_id TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        version INTEGER NOT NULL,
        data TEXT NOT NULL,
        occurred_at TEXT NOT NULL,
        caused_by TEXT NOT NULL,
        command_key TEXT NOT NULL DEFAULT '',
        UNIQUE (stream_id, seq)
    )""",
    """CREATE TABLE IF NOT EXISTS streams (
        stream_id TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        category TEXT NOT NULL,
        customer_id TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS streams_category ON streams (category)",
    "CREATE INDEX IF NOT EXISTS streams_customer ON streams (customer_id)",
    """CREATE TABLE IF NOT EXISTS commands (
        key TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        positions TEXT NOT NULL
    )""",
)

_EVENT_COLUMNS = (
    "position, stream_id, seq, event_id, type, version, data, occurred_at, caused_by, command_key"
)
_INSERT_EVENT = f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
# Category and customer are recorded when the stream is created; later writes move the version.
_UPSERT_STREAM = (
    "INSERT INTO streams (stream_id, version, category, customer_id) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version"
)
_SELECT_VERSIONS = (
    "SELECT stream_id, version FROM streams WHERE stream_id IN (SELECT value FROM json_each(?))"
)
_SELECT_LAST_POSITION = "SELECT COALESCE(MAX(position), 0) FROM events"
_SELECT_COMMAND = "SELECT key, fingerprint, positions FROM commands WHERE key = ?"
_INSERT_COMMAND = "INSERT INTO commands (key, fingerprint, positions) VALUES (?, ?, ?)"
_SELECT_STREAM = f"SELECT {_EVENT_COLUMNS} FROM events WHERE stream_id = ? AND seq > ? ORDER BY seq"
_SELECT_BATCH = f"SELECT {_EVENT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?"
_SELECT_STREAM_INFO = "SELECT stream_id, version, category, customer_id FROM streams"

_EventRow = tuple[int, str, int, str, str, int, str, str, str, str]
_StreamRow = tuple[str, int, str, str]


class SQLiteEventStore(EventStore):
    """An ``EventStore`` in one SQLite file; see the module docstring.

    Attributes:
      path: the database file, or ``":memory:"``.
    """

    def __init__(self, path: str, *, busy_timeout: float = 30.0) -> None:
        self.path = path
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(
                path,
                timeout=busy_timeout,
                isolation_level=None,  # we issue BEGIN IMMEDIATE / COMMIT ourselves
                check_same_thread=False,
                cached_statements=64,
            )
        except sqlite3.Error as e:
            raise StoreError(f"cannot open SQLite event store {path!r}: {e}") from e
        try:
            self._configure(busy_timeout)
            with self._write():
                for statement in _SCHEMA:
                    self._db.execute(statement)
        except sqlite3.Error as e:
            self._db.close()
            raise StoreError(f"cannot prepare SQLite event store {path!r}: {e}") from e

    def _configure(self, busy_timeout: float) -> None:
        db = self._db
        db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        db.execute("PRAGMA journal_mode = WAL")  # answers 'memory' for ':memory:', which is fine
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA cache_size = -65536")  # 64 MiB: replays read the whole log
        db.execute("PRAGMA mmap_size = 268435456")
        db.execute("PRAGMA temp_store = MEMORY")
        # Bulk appends dirty the same index pages (event ids, stream/seq) batch after batch.
        # Checkpointing every ~40 MiB of WAL instead of SQLite's default ~4 MiB copies each
        # of them into the database file once rather than several times; the size limit
        # truncates the WAL file back after a checkpoint.
        db.execute("PRAGMA wal_autocheckpoint = 10000")
        db.execute("PRAGMA journal_size_limit = 67108864")

    # -- writing ------------------------------------------------------------------------

    def append(
        self, writes: Sequence[StreamWrite], idempotency: IdempotencyKey | None = None
    ) -> AppendResult:
        with _sqlite_errors("append"), self._write():
            if idempotency is not None:
                earlier = self._find_command(idempotency.key)
                if earlier is not None:
                    return _repeat(earlier, idempotency)
            plan = self._plan([writes])
            positions = plan.add_command(writes, idempotency.key if idempotency else "")
            self._insert(plan)
            if idempotency is not None:
                self._db.execute(
                    _INSERT_COMMAND,
                    (idempotency.key, idempotency.fingerprint, _encode_positions(positions)),
                )
        return AppendResult(positions)

    def append_many(self, batches: Sequence[Sequence[StreamWrite]]) -> list[AppendResult]:
        with _sqlite_errors("append_many"), self._write():
            plan = self._plan(batches)
            results = [AppendResult(plan.add_command(writes, "")) for writes in batches]
            self._insert(plan)
        return results

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction: the write lock first, all or nothing."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    with suppress(sqlite3.Error):  # report the error that got us here
                        self._db.execute("ROLLBACK")
                raise

    def _plan(self, batches: Sequence[Sequence[StreamWrite]]) -> _WritePlan:
        stream_ids = sorted({write.stream_id for writes in batches for write in writes})
        versions: dict[str, int] = dict(
            self._db.execute(_SELECT_VERSIONS, (json.dumps(stream_ids),)).fetchall()
        )
        (last_position,) = self._db.execute(_SELECT_LAST_POSITION).fetchone()
        return _WritePlan(versions, last_position)

    def _insert(self, plan: _WritePlan) -> None:
        if plan.event_rows:
            self._db.executemany(_INSERT_EVENT, plan.event_rows)
            self._db.executemany(_UPSERT_STREAM, plan.stream_rows())

    # -- reading ------------------------------------------------------------------------

    def read_stream(self, stream_id: str, after_seq: int = 0) -> list[StoredEvent]:
        with _sqlite_errors("read_stream"), self._lock:
            rows = self._db.execute(_SELECT_STREAM, (stream_id, after_seq)).fetchall()
        return list(starmap(StoredEvent, rows))

    def read_all(self, after_position: int = 0, batch_size: int = 10_000) -> Iterator[StoredEvent]:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        return self._read_batches(after_position, batch_size)

    def _read_batches(self, after_position: int, batch_size: int) -> Iterator[StoredEvent]:
        # Keyset batches rather than one open cursor: nothing is held between batches, so
        # a slow consumer never keeps a read transaction (and the WAL) pinned.
        while True:
            with _sqlite_errors("read_all"), self._lock:
                rows = self._db.execute(_SELECT_BATCH, (after_position, batch_size)).fetchall()
            yield from starmap(StoredEvent, rows)
            if len(rows) < batch_size:
                return
            after_position = rows[-1][0]

    def stream_info(self, stream_id: str) -> StreamInfo | None:
        with _sqlite_errors("stream_info"), self._lock:
            row = self._db.execute(
                f"{_SELECT_STREAM_INFO} WHERE stream_id = ?", (stream_id,)
            ).fetchone()
        return None if row is None else StreamInfo(*row)

    def streams(
        self, category: str | None = None, customer_id: str | None = None
    ) -> list[StreamInfo]:
        conditions: list[str] = []
        params: list[str] = []
        if category is not None:
            conditions.append("category = ?")
            params.append(category)
        if customer_id is not None:
            conditions.append("customer_id = ?")
            params.append(customer_id)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        with _sqlite_errors("streams"), self._lock:
            rows = self._db.execute(
                f"{_SELECT_STREAM_INFO}{where} ORDER BY stream_id", params
            ).fetchall()
        return list(starmap(StreamInfo, rows))

    def find_command(self, key: str) -> CommandRecord | None:
        with _sqlite_errors("find_command"), self._lock:
            return self._find_command(key)

    def _find_command(self, key: str) -> CommandRecord | None:
        row = self._db.execute(_SELECT_COMMAND, (key,)).fetchone()
        if row is None:
            return None
        return CommandRecord(row[0], row[1], _decode_positions(row[2]))

    def last_position(self) -> int:
        with _sqlite_errors("last_position"), self._lock:
            (position,) = self._db.execute(_SELECT_LAST_POSITION).fetchone()
        return int(position)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __repr__(self) -> str:
        return f"SQLiteEventStore({self.path!r})"


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


def _repeat(earlier: CommandRecord, idempotency: IdempotencyKey) -> AppendResult:
    if earlier.fingerprint != idempotency.fingerprint:
        raise IdempotencyConflict(
            f"idempotency key {idempotency.key!r} was already used by a different command"
        )
    return AppendResult(earlier.positions, duplicate=True)


def _encode_positions(positions: tuple[int, ...]) -> str:
    return ",".join(map(str, positions))


def _decode_positions(text: str) -> tuple[int, ...]:
    return tuple(map(int, text.split(","))) if text else ()


@contextmanager
def _sqlite_errors(action: str) -> Iterator[None]:
    """Map sqlite3 failures to typed errors; unique constraints are the last defence."""
    try:
        yield
    except sqlite3.IntegrityError as e:
        raise _integrity_error(action, e) from e
    except sqlite3.Error as e:
        raise StoreError(f"SQLite {action} failed: {e}") from e


def _integrity_error(action: str, error: sqlite3.IntegrityError) -> Exception:
    message = str(error)
    if "events.stream_id, events.seq" in message or "events.position" in message:
        return ConcurrencyConflict(f"another writer appended first ({message})")
    if "commands.key" in message:
        return IdempotencyConflict(f"the idempotency key was used concurrently ({message})")
    if "events.event_id" in message:
        return StoreError(f"SQLite {action} failed: an event id is already stored ({message})")
    return StoreError(f"SQLite {action} failed: {message}")
