"""Event store adapters. One contract (``base.EventStore``), two implementations.

``open_store(url)`` is the only place that maps a URL to an adapter:
``sqlite:///path/to.db`` (the embedded default, WAL) or ``postgresql://...``.
"""

from __future__ import annotations

from lendguard.store.base import (
    AppendResult,
    CommandRecord,
    EventRow,
    EventStore,
    IdempotencyKey,
    NewEvent,
    StoredEvent,
    StreamInfo,
    StreamWrite,
)


def open_store(url: str) -> EventStore:
    """An event store for ``sqlite:///PATH`` or ``postgresql://...``; schema is created."""
    if url.startswith("sqlite:///"):
        from lendguard.store.sqlite import SQLiteEventStore

        # SQLAlchemy's convention: sqlite:///rel.db is relative, sqlite:////abs.db absolute.
        return SQLiteEventStore(url.removeprefix("sqlite:///"))
    if url.startswith(("postgresql://", "postgres://")):
        from lendguard.store.postgres import PostgresEventStore

        return PostgresEventStore(url)
    raise ValueError(f"unsupported store URL {url!r}: use sqlite:///PATH or postgresql://...")


__all__ = [
    "AppendResult",
    "CommandRecord",
    "EventRow",
    "EventStore",
    "IdempotencyKey",
    "NewEvent",
    "StoredEvent",
    "StreamInfo",
    "StreamWrite",
    "open_store",
]
