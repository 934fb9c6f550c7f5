"""What the SQLite adapter adds to the contract: the database's own last line of defence
against a stale write, and refusing a file laid out by another version."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lendguard.errors import ConcurrencyConflict, StoreError
from lendguard.store.base import LoadRow
from lendguard.store.sqlite import LogSequencer, SQLiteEventStore, _WritePlan

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


def _rows(stream: str, seqs: range, key: str) -> list[LoadRow]:
    return [LoadRow(stream, n, f"{stream}-{n}", "Noted", 1, "{}", f"2026-01-01T0{n}:00:00",
                    "sim", key, "credit_line", "c-" + stream) for n in seqs]


def test_a_fresh_load_gives_the_same_store_as_load(tmp_path: Path) -> None:
    chunks = [_rows("a", range(1, 3), "k1") + _rows("b", range(1, 2), "k2"),
              _rows("b", range(2, 4), "k3") + _rows("a", range(3, 4), "k4")]
    with SQLiteEventStore(str(tmp_path / "ordinary.db")) as ordinary:
        for chunk in chunks:
            ordinary.load(chunk)
        expected = (list(ordinary.read_all()), ordinary.streams(),
                    ordinary.read_stream("a"), ordinary.read_stream("b", after_seq=1))
    fresh = SQLiteEventStore(str(tmp_path / "fresh.db"), journal=False)
    with fresh, fresh.fresh_load() as loader:
        assert sum(loader.load(chunk) for chunk in chunks) == 6
    with SQLiteEventStore(str(tmp_path / "fresh.db")) as reopened:
        assert (list(reopened.read_all()), reopened.streams(), reopened.read_stream("a"),
                reopened.read_stream("b", after_seq=1)) == expected
        reopened.append([write("a", 3, new_event())])  # the streams table is right
        assert reopened.read_stream("a")[-1].seq == 4


def test_a_fresh_load_is_only_for_an_empty_unjournalled_store(tmp_path: Path) -> None:
    with SQLiteEventStore(str(tmp_path / "wal.db")) as journalled, \
            pytest.raises(StoreError, match="journal=False"), journalled.fresh_load():
        pass
    with SQLiteEventStore(str(tmp_path / "full.db"), journal=False) as full:
        full.load(_rows("a", range(1, 2), "k"))
        with pytest.raises(StoreError, match="empty"), full.fresh_load():
            pass


def test_after_a_failed_chunk_a_fresh_load_refuses_to_go_on_or_finish(
        tmp_path: Path) -> None:
    fresh = SQLiteEventStore(str(tmp_path / "fresh.db"), journal=False)
    with fresh, pytest.raises(StoreError, match="failed"), fresh.fresh_load() as loader:
        loader.load(_rows("a", range(1, 3), "k1"))
        with pytest.raises(ConcurrencyConflict):
            loader.load(_rows("a", range(4, 5), "k2"))  # seq 3 is missing
        with pytest.raises(StoreError, match="earlier chunk"):
            loader.load(_rows("b", range(1, 2), "k3"))
    with SQLiteEventStore(str(tmp_path / "fresh.db")) as reopened:
        assert reopened.streams() == []  # never finished: no streams were written


def test_rows_numbered_elsewhere_must_continue_the_fresh_file(tmp_path: Path) -> None:
    """``LogSequencer`` numbers a log without a database (the simulator runs it in another
    process); ``FreshLoad.write`` takes its rows only where they continue the file, and
    the streams written at the end are the sequencer's."""
    remote = LogSequencer()
    first = remote.records(_rows("a", range(1, 3), "k1"))
    second = remote.records([tuple(r) for r in _rows("b", range(1, 2), "k2")])  # plain
    assert [r[0] for r in first + second] == [1, 2, 3]
    assert [r[-1] for r in first + second] == [0, 1, 0]  # each event's previous
    fresh = SQLiteEventStore(str(tmp_path / "fresh.db"), journal=False)
    with fresh, fresh.fresh_load() as loader:
        with pytest.raises(StoreError, match="do not continue"):
            loader.write(second)  # position 3 before 1 and 2
        loader.failed = None  # (only to go on testing: a real caller would stop here)
        assert loader.write(first) + loader.write(second) == 3
        loader.sequencer = remote
    with SQLiteEventStore(str(tmp_path / "fresh.db")) as reopened:
        assert [(s.stream_id, s.version) for s in reopened.streams()] == [("a", 2), ("b", 1)]
        assert reopened.read_stream("a")[-1].seq == 2

    short = SQLiteEventStore(str(tmp_path / "short.db"), journal=False)
    with short, pytest.raises(StoreError, match="numbered 3 events but 2"), \
            short.fresh_load() as loader:
        loader.write(first)
        loader.sequencer = remote  # it numbered one more than was written
