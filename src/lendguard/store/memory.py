"""An event store in memory, for one process: the simulator's unit of work.

The simulator decides every borrower's commands through the ordinary ``Ledger`` against
this store, then moves what was appended into the durable store in large transactions
(``drain`` hands over the rows and forgets their payloads). It keeps the contract's rules
that a command can observe: atomic multi-stream appends, expected versions, idempotency
keys with fingerprints, gap-free global positions. It is not durable and not shared
between processes, so it is no adapter for production.

After a ``drain``, the drained events' payloads are gone: ``read_stream`` and ``read_all``
refuse to answer for them (``StoreError``) rather than answer partly. A ``Ledger`` keeps
the states it decided on, so it never needs to read them back.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

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


@dataclass(slots=True)
class _Stream:
    category: str
    customer_id: str
    version: int = 0
    drained: int = 0  # events with seq <= drained have been handed over
    events: list[StoredEvent] = field(default_factory=list)  # seq > drained, in order


class MemoryEventStore(EventStore):
    """Everything in dictionaries; see the module docstring."""

    def __init__(self) -> None:
        self._streams: dict[str, _Stream] = {}
        self._by_customer: dict[str, list[str]] = {}
        self._commands: dict[str, CommandRecord] = {}
        self._pending: list[StoredEvent] = []  # appended since the last drain, in order
        self._position = 0
        self._drained_position = 0

    # -- writing ------------------------------------------------------------------------

    def append(
        self, writes: Sequence[StreamWrite], idempotency: IdempotencyKey | None = None
    ) -> AppendResult:
        if idempotency is not None:
            earlier = self._commands.get(idempotency.key)
            if earlier is not None:
                if earlier.fingerprint != idempotency.fingerprint:
                    raise IdempotencyConflict(
                        f"idempotency key {idempotency.key!r} was already used by a "
                        "different command")
                return AppendResult(earlier.positions, duplicate=True)
        self._check([writes])
        positions = self._add(writes, idempotency.key if idempotency else "")
        if idempotency is not None:
            self._commands[idempotency.key] = CommandRecord(
                idempotency.key, idempotency.fingerprint, positions)
        return AppendResult(positions)

    def append_many(self, batches: Sequence[Sequence[StreamWrite]],
                    command_keys: Sequence[str] | None = None) -> list[AppendResult]:
        _check_keys(batches, command_keys)
        self._check(batches)
        keys = command_keys or [""] * len(batches)
        return [AppendResult(self._add(writes, key)) for writes, key in zip(batches, keys,
                                                                           strict=True)]

    def _check(self, batches: Sequence[Sequence[StreamWrite]]) -> None:
        """Every expected version against the versions the batches leave behind, before
        anything is written (all or nothing)."""
        planned: dict[str, int] = {}
        for writes in batches:
            for write in writes:
                stream = self._streams.get(write.stream_id)
                version = planned.get(write.stream_id, stream.version if stream else 0)
                if write.expected_version != version:
                    raise ConcurrencyConflict(
                        f"stream {write.stream_id!r} is at version {version}, "
                        f"the command expected version {write.expected_version}")
                planned[write.stream_id] = version + len(write.events)

    def _add(self, writes: Sequence[StreamWrite], command_key: str) -> tuple[int, ...]:
        first = self._position + 1
        for write in writes:
            if not write.events:
                continue
            stream = self._streams.get(write.stream_id)
            if stream is None:
                stream = self._streams[write.stream_id] = _Stream(write.category,
                                                                  write.customer_id)
                self._by_customer.setdefault(write.customer_id, []).append(write.stream_id)
            for event in write.events:
                self._position += 1
                stream.version += 1
                stored = StoredEvent(
                    self._position, write.stream_id, stream.version, event.event_id,
                    event.type, event.version, event.data, event.occurred_at,
                    event.caused_by, command_key)
                stream.events.append(stored)
                self._pending.append(stored)
        return tuple(range(first, self._position + 1))

    def drain(self) -> list[StoredEvent]:
        """Everything appended since the last drain, in position order; their payloads
        are forgotten here (stream versions, customers and idempotency keys are kept)."""
        drained, self._pending = self._pending, []
        for stream_id in {stored.stream_id for stored in drained}:
            stream = self._streams[stream_id]
            stream.drained, stream.events = stream.version, []
        self._drained_position = self._position
        return drained

    def forget_commands(self) -> None:
        """Drop the idempotency records (a simulator that will never repeat a key)."""
        self._commands.clear()

    # -- reading ------------------------------------------------------------------------

    def read_stream(self, stream_id: str, after_seq: int = 0) -> list[StoredEvent]:
        stream = self._streams.get(stream_id)
        if stream is None or after_seq >= stream.version:
            return []  # the common case: the reader is up to date
        if after_seq < stream.drained:
            raise StoreError(
                f"events {after_seq + 1}..{stream.drained} of {stream_id!r} were drained "
                "from this memory store")
        return [e for e in stream.events if e.seq > after_seq]

    def read_all(self, after_position: int = 0, batch_size: int = 10_000
                 ) -> Iterator[StoredEvent]:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if after_position < self._drained_position:
            raise StoreError(
                f"events up to position {self._drained_position} were drained from this "
                "memory store")
        return iter([e for e in self._pending if e.position > after_position])

    def stream_info(self, stream_id: str) -> StreamInfo | None:
        stream = self._streams.get(stream_id)
        if stream is None:
            return None
        return StreamInfo(stream_id, stream.version, stream.category, stream.customer_id)

    def streams(self, category: str | None = None, customer_id: str | None = None
                ) -> list[StreamInfo]:
        ids = (self._by_customer.get(customer_id, []) if customer_id is not None
               else self._streams)
        infos = [self.stream_info(s) for s in sorted(ids)]
        return [i for i in infos
                if i is not None and (category is None or i.category == category)]

    def find_command(self, key: str) -> CommandRecord | None:
        return self._commands.get(key)

    def last_position(self) -> int:
        return self._position

    def close(self) -> None:
        """Nothing to release."""


def _check_keys(batches: Sequence[object], command_keys: Sequence[str] | None) -> None:
    if command_keys is not None and len(command_keys) != len(batches):
        raise ValueError(
            f"{len(command_keys)} command keys for {len(batches)} batches")
