"""The SQLite event store: the embedded default, one file (or ``":memory:"``).

Several processes may write the same file. The journal is WAL, so readers never block the
writer; every write runs in a ``BEGIN IMMEDIATE`` transaction, so it takes the single write
lock first (waiting up to the busy timeout) and only then checks idempotency keys and
expected versions against committed data. Positions are allocated as max+1 under that lock,
so they are gap-free and in commit order.

``synchronous=NORMAL``: a commit survives a crash of the process, and an OS crash or power
loss can lose only the last transactions, never corrupt the file.

The layout is shaped for appending. A B-tree keyed by something random (an account id, a
random UUID) takes new entries on pages all over the tree, so every transaction dirties,
logs and later checkpoints most of its pages. With the log in position order and two such
indexes, ``UNIQUE (stream_id, seq)`` and ``UNIQUE (event_id)``, an append cost about three
times what writing the rows alone costs. So:

- A stream's events are chained, not indexed: each event records ``previous``, the
  position of its stream's event before it (0 for the first), and the ``streams`` row
  records the stream's ``version`` and ``last_position``. ``read_stream`` walks the chain
  back from the last position, one rowid lookup per event, in one recursive query. The
  last line of defence against two writers appending the same version, which a unique
  ``(stream_id, seq)`` index used to be, is the ``streams`` update: a compare-and-set
  (``... WHERE version = <the version the plan read>``), and a write whose update misses
  is rolled back as a ``ConcurrencyConflict``. Under the write lock it never misses; it is
  there for a writer that got past the lock by a bug.
- Event ids stay ``UNIQUE``. Time-ordered ids (UUIDv7 and the like) land at the right edge
  of that index and cost little; random ones (UUIDv4, or the v5 ids the ``Ledger`` derives
  from idempotency keys) cost one random index insert each, which is most of what a bulk
  append of them costs. Bulk loaders should use time-ordered ids.

A store opened with ``journal=False`` writes without a journal and without syncing
(``journal_mode=OFF``, ``synchronous=OFF``): a transaction that fails half-way, or a crash,
can leave such a file corrupt. It is for one thing only: filling a fresh file nobody else
has open, under a temporary name that is deleted if anything fails and renamed into place
once the file is complete and synced (``lendguard simulate`` writes its log so). Each
page is then written once, not to the WAL and again at the checkpoint, and pages are
16 KiB rather than 4 KiB (fewer splits and headers per appended row). ``fresh_load`` fills
one; its numbering (``LogSequencer``) needs no database and can run in another process.

One connection per store, guarded by a lock, so a store may be shared between threads but
each call runs alone. Nothing domain-specific lives here: payloads are opaque JSON text.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import partial
from itertools import starmap
from typing import Any

from lendguard.errors import ConcurrencyConflict, IdempotencyConflict, StoreError
from lendguard.store.base import (
    AppendResult,
    CommandRecord,
    EventRow,
    EventStore,
    IdempotencyKey,
    LoadRow,
    LogRow,
    StoredEvent,
    StreamInfo,
    StreamWrite,
)

# Kept in PRAGMA user_version; a file with another layout is refused when opened.
SCHEMA_VERSION = 2

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS streams (
        stream_no INTEGER PRIMARY KEY,
        stream_id TEXT NOT NULL UNIQUE,
        version INTEGER NOT NULL,
        last_position INTEGER NOT NULL,
        category TEXT NOT NULL,
        customer_id TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS streams_category ON streams (category)",
    "CREATE INDEX IF NOT EXISTS streams_customer ON streams (customer_id)",
    """CREATE TABLE IF NOT EXISTS events (
        position INTEGER PRIMARY KEY,
        stream_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        type TEXT NOT NULL,
        version INTEGER NOT NULL,
        data TEXT NOT NULL,
        occurred_at TEXT NOT NULL,
        caused_by TEXT NOT NULL,
        command_key TEXT NOT NULL,
        previous INTEGER NOT NULL
    )""",
    "CREATE UNIQUE INDEX IF NOT EXISTS events_event_id ON events (event_id)",
    """CREATE TABLE IF NOT EXISTS commands (
        key TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        positions TEXT NOT NULL
    )""",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)

_EVENT_COLUMNS = (
    "position, stream_id, seq, event_id, type, version, data, occurred_at, caused_by, command_key"
)
_INSERT_EVENT = (
    f"INSERT INTO events ({_EVENT_COLUMNS}, previous) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_STREAM = (
    "INSERT INTO streams (stream_no, stream_id, version, last_position, category, customer_id) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
# The compare-and-set that guards each stream's version (see the module docstring).
_MOVE_STREAM = (
    "UPDATE streams SET version = ?, last_position = ? WHERE stream_no = ? AND version = ?"
)
_SELECT_STREAMS = (
    "SELECT stream_id, stream_no, version, last_position FROM streams "
    "WHERE stream_id IN (SELECT value FROM json_each(?))"
)
_SELECT_LAST_NUMBERS = (
    "SELECT (SELECT COALESCE(MAX(position), 0) FROM events), "
    "(SELECT COALESCE(MAX(stream_no), 0) FROM streams)"
)
_SELECT_LAST_POSITION = "SELECT COALESCE(MAX(position), 0) FROM events"
_SELECT_COMMAND = "SELECT key, fingerprint, positions FROM commands WHERE key = ?"
_INSERT_COMMAND = "INSERT INTO commands (key, fingerprint, positions) VALUES (?, ?, ?)"
# Back along the chain from the stream's last event while seq > after_seq (?2).
_SELECT_STREAM = f"""WITH RECURSIVE chain AS (
    SELECT e.*
    FROM streams AS s JOIN events AS e ON e.position = s.last_position
    WHERE s.stream_id = ?1 AND s.version > ?2
    UNION ALL
    SELECT e.* FROM chain AS c JOIN events AS e ON e.position = c.previous
    WHERE c.seq - 1 > ?2
)
SELECT {_EVENT_COLUMNS} FROM chain ORDER BY seq"""
_SELECT_BATCH = f"SELECT {_EVENT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?"
# The replay read, with optional conditions (``?`` parameters between the position and
# the limit) on streams and the last position.
_SELECT_ROWS = (
    "SELECT position, stream_id, seq, type, version, data FROM events "
    "WHERE position > ?{conditions} ORDER BY position LIMIT ?"
)
# One JSON array parameter rather than one per stream: SQLite turns the subquery into a
# transient index once per page, and checks each row against it without leaving C.
_IN_STREAMS = " AND stream_id IN (SELECT value FROM json_each(?))"
_THROUGH_POSITION = " AND position <= ?"
_SELECT_STREAM_INFO = "SELECT stream_id, version, category, customer_id FROM streams"

# An events row as inserted: position, stream_id, seq, event_id, type, version, data,
# occurred_at, caused_by, command_key, previous.
EventRecord = tuple[int, str, int, str, str, int, str, str, str, str, int]
# A streams row: stream_no, stream_id, version, last_position, category, customer_id.
StreamRecord = tuple[int, str, int, int, str, str]
_make_stored_event = StoredEvent._make


class SQLiteEventStore(EventStore):
    """An ``EventStore`` in one SQLite file; see the module docstring.

    Attributes:
      path: the database file, or ``":memory:"``.
    """

    def __init__(self, path: str, *, busy_timeout: float = 30.0, journal: bool = True
                 ) -> None:
        self.path = path
        self._journal = journal
        self._busy_timeout = busy_timeout
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
            with _sqlite_errors("prepare the schema"), self._write():
                self._create_schema()
        except StoreError:
            self._db.close()
            raise

    def _configure(self, busy_timeout: float) -> None:
        db = self._db
        with _sqlite_errors("configure the connection"):
            db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            if self._journal:
                db.execute("PRAGMA journal_mode = WAL")  # 'memory' for ':memory:': fine
                db.execute("PRAGMA synchronous = NORMAL")
            else:  # a fresh file filled once; see the module docstring
                db.execute("PRAGMA journal_mode = OFF")
                db.execute("PRAGMA synchronous = OFF")
                # Bigger pages for a file written in one go (before its first table,
                # else a no-op): fewer page splits and cell headers per row appended,
                # about 8% off a simulator's write.
                db.execute("PRAGMA page_size = 16384")
            db.execute("PRAGMA cache_size = -65536")  # 64 MiB: replays read the whole log
            db.execute("PRAGMA mmap_size = 268435456")
            db.execute("PRAGMA temp_store = MEMORY")
            # Checkpointing every ~40 MiB of WAL instead of SQLite's default ~4 MiB copies
            # pages that bulk appends dirty again and again (the event-key index, the
            # streams table) into the database file, and syncs it, once rather than
            # several times; the size limit truncates the WAL back after a checkpoint.
            db.execute("PRAGMA wal_autocheckpoint = 10000")
            db.execute("PRAGMA journal_size_limit = 67108864")

    def _create_schema(self) -> None:
        (found,) = self._db.execute("PRAGMA user_version").fetchone()
        tables = self._db.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
        if tables and found != SCHEMA_VERSION:
            raise StoreError(
                f"SQLite event store {self.path!r} has layout version {found}; this "
                f"lendguard reads version {SCHEMA_VERSION}"
            )
        for statement in _SCHEMA:
            self._db.execute(statement)

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

    def append_many(self, batches: Sequence[Sequence[StreamWrite]],
                    command_keys: Sequence[str] | None = None) -> list[AppendResult]:
        keys = _command_keys(batches, command_keys)
        with _sqlite_errors("append_many"), self._write():
            plan = self._plan(batches)
            results = [AppendResult(plan.add_command(writes, key))
                       for writes, key in zip(batches, keys, strict=True)]
            self._insert(plan)
        return results

    def load(self, rows: Sequence[LoadRow]) -> int:
        # The same checks and rows as append_many, without building a NewEvent and a
        # StreamWrite per event first: a simulator loads tens of millions of them.
        with _sqlite_errors("load"), self._write():
            plan = self._plan([[StreamWrite(sid, 0, ())] for sid in
                               {row.stream_id: None for row in rows}])
            plan.add_rows(rows)
            self._insert(plan)
        return len(rows)

    @contextmanager
    def fresh_load(self) -> Iterator[FreshLoad]:
        """Fill this empty, unjournalled store (``journal=False``) with an
        already-sequenced log, chunk by chunk: ``FreshLoad.load`` takes the same rows as
        ``load``, checked the same way, but nothing is read back between chunks (the
        streams are tracked in memory by a ``LogSequencer``, since nobody else has the
        file) and the streams table is written once, when the block ends without an
        error. After an error the file is unfinished and must be discarded, as any
        ``journal=False`` file."""
        if self._journal:
            raise StoreError("fresh_load is for a store opened with journal=False")
        if self.last_position() != 0:
            raise StoreError(f"fresh_load needs an empty store; {self.path!r} has events")
        loader = FreshLoad(self)
        yield loader
        if loader.failed is not None:
            raise StoreError("a chunk of this fresh load failed") from loader.failed
        if loader.sequencer.position != loader.written:
            raise StoreError(f"the log's sequencer numbered {loader.sequencer.position} "
                             f"events but {loader.written} were written")
        with _sqlite_errors("fresh_load"), self._write():
            self._db.executemany(_INSERT_STREAM, loader.sequencer.streams())

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
        stream_ids = list({write.stream_id: None for writes in batches for write in writes})
        known = self._db.execute(_SELECT_STREAMS, (json.dumps(stream_ids),)).fetchall()
        last_position, last_stream_no = self._db.execute(_SELECT_LAST_NUMBERS).fetchone()
        return _WritePlan(known, last_position, last_stream_no)

    def _insert(self, plan: _WritePlan) -> None:
        if not plan.records:
            return
        if plan.created:
            self._db.executemany(_INSERT_STREAM, plan.created_streams())
        moves = plan.stream_moves()
        if moves and self._db.executemany(_MOVE_STREAM, moves).rowcount != len(moves):
            raise ConcurrencyConflict("another writer moved a stream this write read")
        self._db.executemany(_INSERT_EVENT, plan.records)

    # -- reading ------------------------------------------------------------------------

    def read_stream(self, stream_id: str, after_seq: int = 0) -> list[StoredEvent]:
        with _sqlite_errors("read_stream"), self._lock:
            rows = self._db.execute(_SELECT_STREAM, (stream_id, after_seq)).fetchall()
        return list(map(_make_stored_event, rows))

    def read_all(self, after_position: int = 0, batch_size: int = 10_000) -> Iterator[StoredEvent]:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        return self._read_all(after_position, batch_size)

    def _read_all(self, after_position: int, batch_size: int) -> Iterator[StoredEvent]:
        for rows in self._pages(_SELECT_BATCH, after_position, batch_size):
            yield from map(_make_stored_event, rows)

    def read_all_rows(
        self, after_position: int = 0, batch_size: int = 10_000, *,
        stream_ids: Collection[str] | None = None, through_position: int | None = None,
    ) -> Iterator[list[EventRow]]:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        conditions = ""
        parameters: list[object] = []
        if stream_ids is not None:
            conditions += _IN_STREAMS
            parameters.append(json.dumps(list(stream_ids)))
        if through_position is not None:
            conditions += _THROUGH_POSITION
            parameters.append(through_position)
        query = _SELECT_ROWS.format(conditions=conditions)
        return self._pages(query, after_position, batch_size, tuple(parameters))

    def _pages(self, query: str, after_position: int, batch_size: int,
               conditions: tuple[object, ...] = ()) -> Iterator[list[Any]]:
        # Keyset pages rather than one open cursor: nothing is held between pages, so a
        # slow consumer never keeps a read transaction (and the WAL) pinned. Every query
        # paged here selects the position first and takes (after, *conditions, limit).
        while True:
            with _sqlite_errors("read_all"), self._lock:
                rows = self._db.execute(query, (after_position, *conditions, batch_size)
                                        ).fetchall()
            if rows:
                yield rows
            if len(rows) < batch_size:
                return
            after_position = rows[-1][0]

    def opener(self) -> Callable[[], EventStore] | None:
        if self.path == ":memory:" or "mode=memory" in self.path:
            return None
        return partial(SQLiteEventStore, self.path, busy_timeout=self._busy_timeout)

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


class LogSequencer:
    """Numbers an already-sequenced log for a fresh file: positions from 1 and each
    event's ``previous``, checking on the way that every row continues its stream (the
    checks of ``EventStore.load``). It needs no database, so the numbering can run in one
    process while another writes the file (``lendguard simulate`` does so)."""

    def __init__(self) -> None:
        self._plan = _WritePlan([], 0, 0)

    @property
    def position(self) -> int:
        """The position of the last event numbered."""
        return self._plan.position

    def records(self, rows: Sequence[LogRow]) -> list[EventRecord]:
        """The rows as events rows, numbered after the last ones; ``ConcurrencyConflict``
        for a row out of sequence (the sequencer is then unusable)."""
        plan = self._plan
        try:
            plan.add_rows(rows)
            return plan.records
        finally:
            plan.records = []

    def streams(self) -> list[StreamRecord]:
        """The streams rows of every stream numbered so far, at its last event."""
        return self._plan.created_streams(moved=True)


class FreshLoad:
    """``SQLiteEventStore.fresh_load``'s loader. The first failure (a row out of sequence,
    a database error) ends it: later loads and the end of the block are refused, since
    the file is unfinished.

    Attributes:
      sequencer: numbers the rows ``load`` is given. A caller that numbers them elsewhere
        (another process) and hands over events rows to ``write`` sets this to that
        sequencer before the block ends: its streams are the ones written then.
      written: events written so far.
    """

    def __init__(self, store: SQLiteEventStore) -> None:
        self._store = store
        self.sequencer = LogSequencer()
        self.written = 0
        self.failed: BaseException | None = None

    def load(self, rows: Sequence[LogRow]) -> int:
        """Append the rows (``LoadRow`` or plain ``LogRow`` tuples) in one transaction;
        see ``EventStore.load`` for the checks."""
        self._refuse_after_failure()
        try:
            records = self.sequencer.records(rows)
        except BaseException as exc:
            self.failed = exc
            raise
        return self.write(records)

    def write(self, records: Sequence[EventRecord]) -> int:
        """Append events rows a ``LogSequencer`` numbered, in one transaction. They must
        continue the file: the first at the position after the last written."""
        self._refuse_after_failure()
        try:
            if records and (records[0][0] != self.written + 1
                            or records[-1][0] != self.written + len(records)):
                raise StoreError(
                    f"events rows at positions {records[0][0]}..{records[-1][0]} do not "
                    f"continue the {self.written} written")
            with _sqlite_errors("fresh_load"), self._store._write():
                self._store._db.executemany(_INSERT_EVENT, records)
        except BaseException as exc:
            self.failed = exc
            raise
        self.written += len(records)
        return len(records)

    def _refuse_after_failure(self) -> None:
        if self.failed is not None:
            raise StoreError("an earlier chunk of this fresh load failed") from self.failed


class _WritePlan:
    """Turns commands' stream writes into rows, checking expected versions on the way.

    ``streams`` maps every stream the commands touch to ``[stream_no, committed version,
    planned version, planned last position]``; the planned figures advance as events are
    planned, so a later command in the same transaction must expect the version an
    earlier one left behind. Streams met for the first time are numbered after the
    highest ``stream_no`` in use and start at version 0.
    """

    def __init__(
        self, known: list[tuple[str, int, int, int]], last_position: int, last_stream_no: int
    ) -> None:
        self.streams = {row[0]: [row[1], row[2], row[2], row[3]] for row in known}
        self.position = last_position
        self.last_stream_no = last_stream_no
        self.records: list[EventRecord] = []
        self.created: dict[str, tuple[str, str]] = {}

    def add_command(self, writes: Sequence[StreamWrite], command_key: str) -> tuple[int, ...]:
        first = self.position + 1
        for write in writes:
            self._add_write(write, command_key)
        return tuple(range(first, self.position + 1))

    def _add_write(self, write: StreamWrite, command_key: str) -> None:
        stream_id = write.stream_id
        stream = self.streams.get(stream_id)
        version = 0 if stream is None else stream[2]
        if write.expected_version != version:
            raise ConcurrencyConflict(
                f"stream {stream_id!r} is at version {version}, "
                f"the command expected version {write.expected_version}"
            )
        events = write.events
        if not events:
            return
        if stream is None:
            self.last_stream_no += 1
            stream = self.streams[stream_id] = [self.last_stream_no, 0, 0, 0]
            self.created[stream_id] = (write.category, write.customer_id)
        position = self.position
        previous = stream[3]
        for event in events:
            position += 1
            version += 1
            self.records.append((
                position, stream_id, version, event.event_id, event.type, event.version,
                event.data, event.occurred_at, event.caused_by, command_key, previous,
            ))
            previous = position
        self.position = stream[3] = position
        stream[2] = version

    def add_rows(self, rows: Sequence[LogRow]) -> None:
        """Events of an already-sequenced log (``EventStore.load``), each continuing its
        stream. (One loop with everything local and the row taken by index, so plain
        tuples serve as well as ``LoadRow``: a simulator loads tens of millions.)"""
        streams, created, append = self.streams, self.created, self.records.append
        position = self.position
        try:
            for row in rows:
                stream_id, seq = row[0], row[1]
                stream = streams.get(stream_id)
                if stream is None:
                    if seq != 1:
                        raise ConcurrencyConflict(
                            f"stream {stream_id!r} is at version 0; the log's next event "
                            f"has seq {seq}")
                    self.last_stream_no += 1
                    stream = streams[stream_id] = [self.last_stream_no, 0, 0, 0]
                    created[stream_id] = (row[9], row[10])  # category, customer
                elif seq != stream[2] + 1:
                    raise ConcurrencyConflict(
                        f"stream {stream_id!r} is at version {stream[2]}; the log's next "
                        f"event has seq {seq}")
                position += 1
                # stream_id … command_key as they are, between the position and previous
                append((position, *row[:9], stream[3]))
                stream[2] = seq
                stream[3] = position
        finally:
            self.position = position

    def created_streams(self, *, moved: bool = False) -> list[StreamRecord]:
        """Rows for the streams this plan creates: at version 0, for the moves to take
        them on, or ``moved``, at the version and last position the plan took them to."""
        rows = []
        for stream_id, (category, customer) in self.created.items():
            stream_no, _, version, last = self.streams[stream_id]
            rows.append((stream_no, stream_id, version if moved else 0,
                         last if moved else 0, category, customer))
        return rows

    def stream_moves(self) -> list[tuple[int, int, int, int]]:
        """(version, last position, stream_no, version read) of every stream that moved."""
        return [
            (planned, last, stream_no, committed)
            for stream_no, committed, planned, last in self.streams.values()
            if planned != committed
        ]


def _repeat(earlier: CommandRecord, idempotency: IdempotencyKey) -> AppendResult:
    if earlier.fingerprint != idempotency.fingerprint:
        raise IdempotencyConflict(
            f"idempotency key {idempotency.key!r} was already used by a different command"
        )
    return AppendResult(earlier.positions, duplicate=True)


def _command_keys(batches: Sequence[object], command_keys: Sequence[str] | None
                  ) -> Sequence[str]:
    if command_keys is None:
        return [""] * len(batches)
    if len(command_keys) != len(batches):
        raise ValueError(f"{len(command_keys)} command keys for {len(batches)} batches")
    return command_keys


def _encode_positions(positions: tuple[int, ...]) -> str:
    return ",".join(map(str, positions))


def _decode_positions(text: str) -> tuple[int, ...]:
    return tuple(map(int, text.split(","))) if text else ()


@contextmanager
def _sqlite_errors(action: str) -> Iterator[None]:
    """Map sqlite3 failures to typed errors; constraints are the last defence."""
    try:
        yield
    except sqlite3.IntegrityError as e:
        raise _integrity_error(action, e) from e
    except sqlite3.Error as e:
        raise StoreError(f"SQLite {action} failed: {e}") from e


def _integrity_error(action: str, error: sqlite3.IntegrityError) -> Exception:
    message = str(error)
    if "events.position" in message or "streams.stream_id" in message:
        return ConcurrencyConflict(f"another writer appended first ({message})")
    if "commands.key" in message:
        return IdempotencyConflict(f"the idempotency key was used concurrently ({message})")
    if "events.event_id" in message:
        return StoreError(f"SQLite {action} failed: an event id is already stored ({message})")
    return StoreError(f"SQLite {action} failed: {message}")
