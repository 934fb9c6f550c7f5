"""What the SQLite adapter adds to the contract: the database's own last line of defence
against a stale write, and refusing a file laid out by another version."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lendguard.errors import ConcurrencyConflict, StoreError
from lendguard.store.sqlite import SQLiteEventStore, _WritePlan

from .test_contract import new_event, positions_of, write


def test_a_write_planned_on_a_stale_version_is_refused_by_the_database(
    tmp_path: Path,
) -> None:
    with SQLiteEventStore(str(tmp_path / "events.db")) as store:
        store.append([write("acct-1", 0, new_event())])
        store.append([write("acct-2", 0, new_event())])
        # A writer that planned before acct-1 moved on, and got past the write lock by a
        # bug: its plan passes its own version check, the database refuses it.
        stale = _WritePlan([("acct-1", 1, 0, 0), ("acct-2", 2, 1, 2)], 2, 2)
        stale.add_command([write("acct-1", 0, new_event()), write("acct-2", 1, new_event())],
                          "")

        with pytest.raises(ConcurrencyConflict), store._write():
            store._insert(stale)

        assert positions_of(store) == [1, 2]
        assert [info.version for info in store.streams()] == [1, 1]
        assert store.append([write("acct-1", 1, new_event())]).positions == (3,)


def test_a_file_with_another_layout_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE events (position INTEGER PRIMARY KEY, stream_id TEXT)")

    with pytest.raises(StoreError, match="layout version 0"):
        SQLiteEventStore(str(path))


def test_streams_read_back_along_their_chain(tmp_path: Path) -> None:
    with SQLiteEventStore(str(tmp_path / "events.db")) as store:
        for n in range(30):
            store.append_many([[write(f"acct-{m}", n, new_event())] for m in range(3)])
        store.append([write("acct-0", 30, new_event(), new_event()),
                      write("acct-2", 30, new_event())])

        stream = store.read_stream("acct-0")
        assert [e.seq for e in stream] == list(range(1, 33))
        assert [e.position for e in stream] == [*range(1, 90, 3), 91, 92]
        assert [e.seq for e in store.read_stream("acct-0", after_seq=29)] == [30, 31, 32]
        assert [e.seq for e in store.read_stream("acct-2", after_seq=30)] == [31]
        assert store.read_stream("acct-1", after_seq=30) == []
