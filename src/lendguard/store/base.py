"""The event store contract that every adapter implements and one test suite checks.

A *stream* is one account (one product of one customer). Each stream's events carry a
1-based sequence number; every event also gets a global *position* that only grows, so
projections and the monitor can read everything in order.

Writes are all-or-nothing: ``append`` takes the events of one command, possibly for
several streams (a repayment split across a customer's credit line and cash loan), each
with the version the command saw. If any stream moved on, nothing is written and
``ConcurrencyConflict`` is raised. If the command's idempotency key was used before,
nothing is written: with the same fingerprint the earlier result is returned
(``duplicate=True``); with a different one ``IdempotencyConflict`` is raised.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

# The records a command passes to a store are named tuples, like ``StoredEvent``: every
# command builds several, and a tuple is built in one C call where a frozen dataclass
# sets each field in turn.


class NewEvent(NamedTuple):
    """An event ready to be appended.

    Attributes:
      event_id: a unique id (UUID string) chosen by the writer.
      type: the stable event type name.
      version: the payload's schema version.
      data: the payload as JSON text.
      occurred_at: the business time, ISO 8601.
      caused_by: who or what caused it (``user:…``, ``cob``, ``rule:…``, ``model:…``).
    """

    event_id: str
    type: str
    version: int
    data: str
    occurred_at: str
    caused_by: str


class StreamWrite(NamedTuple):
    """The events one command appends to one stream.

    Attributes:
      stream_id: the account id.
      expected_version: the stream's last sequence number the command saw (0: new stream).
      events: what to append, in order.
      category: the stream's kind (``credit_line``/``cash_loan``); recorded on creation.
      customer_id: the owning customer; recorded on creation.
    """

    stream_id: str
    expected_version: int
    events: Sequence[NewEvent]
    category: str = ""
    customer_id: str = ""


class IdempotencyKey(NamedTuple):
    """A command's idempotency key and a fingerprint (hash) of its payload."""

    key: str
    fingerprint: str


class StoredEvent(NamedTuple):
    """An event as stored.

    A named tuple rather than a dataclass: reads build one per row, and a tuple is built
    in one C call where a frozen dataclass sets each of its ten fields in turn.

    Attributes:
      position: global position, strictly increasing in append order.
      stream_id, seq: the stream and the event's 1-based number in it.
      event_id, type, version, data, occurred_at, caused_by: as appended.
      command_key: the idempotency key of the command that appended it ('' if none).
    """

    position: int
    stream_id: str
    seq: int
    event_id: str
    type: str
    version: int
    data: str
    occurred_at: str
    caused_by: str
    command_key: str


class LoadRow(NamedTuple):
    """One event of an already-sequenced log, for ``EventStore.load``. (``LogRow`` is
    the same fields as a plain tuple, which a bulk loader may pass instead: a tuple is
    cheaper to build and to unpickle, and a simulator moves tens of millions.)"""

    stream_id: str
    seq: int
    event_id: str
    type: str
    version: int
    data: str
    occurred_at: str
    caused_by: str
    command_key: str
    category: str
    customer_id: str


# LoadRow's fields as a plain tuple: stream_id, seq, event_id, type, version, data,
# occurred_at, caused_by, command_key, category, customer_id.
LogRow = tuple[str, int, str, str, int, str, str, str, str, str, str]


def _writes_of(rows: Sequence[LoadRow]) -> list[StreamWrite]:
    """One command's rows as stream writes, each expecting the version before its first."""
    by_stream: dict[str, list[LoadRow]] = {}
    for row in rows:
        by_stream.setdefault(row.stream_id, []).append(row)
    return [
        StreamWrite(stream_id, events[0].seq - 1,
                    [NewEvent(r.event_id, r.type, r.version, r.data, r.occurred_at,
                              r.caused_by) for r in events],
                    events[0].category, events[0].customer_id)
        for stream_id, events in by_stream.items()
    ]


# What a fold needs of a stored event, as a plain tuple:
# (position, stream_id, seq, type, version, data).
EventRow = tuple[int, str, int, str, int, str]


class AppendResult(NamedTuple):
    """What an append did.

    Attributes:
      positions: the global positions of the appended events (of the original append when
        ``duplicate``).
      duplicate: the idempotency key had been used with the same fingerprint; nothing new
        was written.
    """

    positions: tuple[int, ...]
    duplicate: bool = False


class CommandRecord(NamedTuple):
    """A recorded idempotency key: its fingerprint and the positions it appended."""

    key: str
    fingerprint: str
    positions: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """One stream's identity and current version."""

    stream_id: str
    version: int
    category: str
    customer_id: str


class EventStore(abc.ABC):
    """The contract. Adapters: ``sqlite.SQLiteEventStore``, ``postgres.PostgresEventStore``."""

    @abc.abstractmethod
    def append(
        self, writes: Sequence[StreamWrite], idempotency: IdempotencyKey | None = None
    ) -> AppendResult:
        """Append atomically; see the module docstring for conflicts and duplicates."""

    @abc.abstractmethod
    def append_many(self, batches: Sequence[Sequence[StreamWrite]],
                    command_keys: Sequence[str] | None = None) -> list[AppendResult]:
        """Several independent commands' writes in one transaction.

        For bulk loaders and simulators. All or nothing: a conflict in any batch raises
        ``ConcurrencyConflict`` and writes nothing. ``command_keys`` (one per batch) are
        recorded on the events for audit but not registered as idempotency keys: a bulk
        load is one-shot, and a keyed index over millions of random keys would cost
        most of the load.
        """

    def load(self, rows: Sequence[LoadRow]) -> int:
        """Append an already-sequenced log (a simulator's, a migration's) in one
        transaction; returns the number of events written.

        Each row's ``seq`` must continue its stream: the stream's version + 1, or the
        previous row of that stream + 1 (a stream met for the first time starts at 1 and
        is created with the row's category and customer). Consecutive rows with the same
        ``command_key`` (not empty) are one command. All or nothing: a row out of order
        raises ``ConcurrencyConflict`` and nothing is written. Keys are recorded on the
        events, not registered for idempotency (see ``append_many``). Adapters may
        answer it faster; this version goes through ``append_many``.
        """
        batches: list[list[StreamWrite]] = []
        keys: list[str] = []
        current: list[LoadRow] = []
        for row in rows:
            if current and (not row.command_key or row.command_key != current[0].command_key):
                batches.append(_writes_of(current))
                keys.append(current[0].command_key)
                current = []
            current.append(row)
        if current:
            batches.append(_writes_of(current))
            keys.append(current[0].command_key)
        self.append_many(batches, keys)
        return len(rows)

    @abc.abstractmethod
    def read_stream(self, stream_id: str, after_seq: int = 0) -> list[StoredEvent]:
        """The stream's events with ``seq > after_seq``, in order ([] if none)."""

    @abc.abstractmethod
    def read_all(self, after_position: int = 0, batch_size: int = 10_000) -> Iterator[StoredEvent]:
        """Every event with ``position > after_position``, in position order, lazily."""

    def read_all_rows(
        self, after_position: int = 0, batch_size: int = 10_000, *,
        stream_ids: Collection[str] | None = None, through_position: int | None = None,
    ) -> Iterator[list[EventRow]]:
        """What ``read_all`` reads, cut to ``EventRow`` tuples, in pages (lists) of up to
        ``batch_size``; lazily. For replays and projections: adapters answer it with a
        narrower query than ``read_all``'s and build no object per row.

        ``stream_ids``: only these streams' events (a replay's share of the streams; the
        adapters filter in the database, so the other events cost no Python work).
        ``through_position``: nothing after this position (a fixed end for readers in
        several processes)."""
        _check_batch_size(batch_size)
        return self._rows_from_read_all(after_position, batch_size, stream_ids,
                                        through_position)

    def _rows_from_read_all(self, after_position: int, batch_size: int,
                            stream_ids: Collection[str] | None, through_position: int | None,
                            ) -> Iterator[list[EventRow]]:
        wanted = None if stream_ids is None else frozenset(stream_ids)
        page: list[EventRow] = []
        for stored in self.read_all(after_position, batch_size):
            if through_position is not None and stored.position > through_position:
                break
            if wanted is not None and stored.stream_id not in wanted:
                continue
            page.append(
                (stored.position, stored.stream_id, stored.seq, stored.type, stored.version,
                 stored.data)
            )
            if len(page) == batch_size:
                yield page
                page = []
        if page:
            yield page

    def opener(self) -> Callable[[], EventStore] | None:
        """A picklable function that opens another connection to this same store (for
        work in other processes), or None when there is no way to (an in-memory
        database). The default is None."""
        return None

    @abc.abstractmethod
    def stream_info(self, stream_id: str) -> StreamInfo | None:
        """The stream's info, or None if it does not exist."""

    @abc.abstractmethod
    def streams(
        self, category: str | None = None, customer_id: str | None = None
    ) -> list[StreamInfo]:
        """All streams, optionally filtered, ordered by stream id."""

    @abc.abstractmethod
    def find_command(self, key: str) -> CommandRecord | None:
        """The record of an idempotency key, or None if it was never used."""

    @abc.abstractmethod
    def last_position(self) -> int:
        """The highest global position (0 when empty)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
