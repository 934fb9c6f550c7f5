"""Merging the shards' spools into the store: business-time order, and failures raised."""

from __future__ import annotations

import gc
import multiprocessing
import pickle
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.errors import ConcurrencyConflict, StoreError
from lendguard.sim.run import (
    _chunks,
    _collecting_less,
    _merge_into,
    _merged_rows,
    _write_fresh_file,
    _Writer,
)
from lendguard.store import open_store
from lendguard.store.base import LoadRow, StoredEvent


def _row(stream: str, seq: int, at: str, key: str) -> LoadRow:
    return LoadRow(stream, seq, f"{stream}-{seq}", "Noted", 1, "{}", at, "sim", key,
                   "credit_line", "c-" + stream)


def _spool(path: Path, days: list[tuple[int, list[LoadRow]]], record: int = 256) -> Path:
    """A shard's spool as the engine writes it: (day, the day's events, rows) records
    of at most ``record`` rows."""
    with path.open("wb") as sink:
        for day, rows in days:
            for start in range(0, len(rows), record):
                pickle.dump((day, len(rows), rows[start:start + record]), sink)
    return path


def _two_shards(tmp_path: Path) -> list[Path]:
    first = _spool(tmp_path / "0.spool", [
        (1, [_row("a", 1, "2026-01-01T09:00:00+08:00", "k1"),
             _row("a", 2, "2026-01-01T09:00:00+08:00", "k1"),
             _row("a", 3, "2026-01-01T23:59:59+08:00", "k2")]),
        (3, [_row("a", 4, "2026-01-03T08:00:00+08:00", "k3")]),
    ])
    second = _spool(tmp_path / "1.spool", [
        (1, [_row("b", 1, "2026-01-01T09:00:00+08:00", "k4"),
             _row("b", 2, "2026-01-01T10:00:00+08:00", "k5")]),
        (2, [_row("b", 3, "2026-01-02T10:00:00+08:00", "k6")]),
    ])
    return [first, second]


# Same moment in both shards: the first shard's command, whole, then the second's.
MERGED = [("a", 1), ("a", 2), ("b", 1), ("b", 2), ("a", 3), ("b", 3), ("a", 4)]


def test_days_are_merged_by_business_time_with_ties_in_shard_order(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'events.db'}") as store:
        total = _merge_into(store, _two_shards(tmp_path), 7, lambda *_: None).events
        order = [(e.stream_id, e.seq) for e in store.read_all()]
    assert total == 7
    assert order == MERGED


def test_a_fresh_file_holds_the_same_log_as_a_shared_store(tmp_path: Path) -> None:
    """The fresh file is ordered and numbered in a merging process of its own; the
    shared-store path does it all in one. Same order, same hash, same streams."""
    spools = _two_shards(tmp_path)
    with open_store(f"sqlite:///{tmp_path / 'shared.db'}") as store:
        shared = _merge_into(store, spools, 7, lambda *_: None)
        expected = (list(store.read_all()), store.streams())
    fresh = tmp_path / "fresh" / "events.db"
    fresh.parent.mkdir()
    seen: list[tuple[int, int]] = []
    written = _write_fresh_file(fresh, spools, 7, lambda _, done, total: seen.append(
        (done, total)))
    assert written[:2] == shared[:2]
    assert written.merge_peak_bytes and written.merge_peak_bytes > 10 * 2**20  # an RSS
    with open_store(f"sqlite:///{fresh}") as store:
        assert (list(store.read_all()), store.streams()) == expected
        assert [(e.stream_id, e.seq) for e in store.read_all()] == MERGED
    assert seen[-1] == (7, 7)


# A shard: its days, each a list of (hour, events in the command) in time order.
_shard = st.lists(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 3)), max_size=6)
                  .map(sorted), max_size=4)


@settings(max_examples=80, deadline=None)
@given(shards=st.lists(_shard, min_size=1, max_size=4), record=st.integers(1, 5),
       in_memory=st.integers(0, 12))
def test_the_merge_is_the_sorted_merge_of_whole_days(
        tmp_path_factory: pytest.TempPathFactory, shards: list[list[list[tuple[int, int]]]],
        record: int, in_memory: int) -> None:
    """However the shards' days are cut into spool records, and whether a day is merged
    whole or streamed, the merge yields what concatenating each day's events in shard
    order and sorting stably by time gives."""
    tmp = tmp_path_factory.mktemp("spools")
    spools, whole_days = [], []
    for s_no, days in enumerate(shards):
        spooled, seqs = [], {}
        for d_no, commands in enumerate(days):
            rows = []
            for c_no, (hour, size) in enumerate(commands):
                stream = f"s{s_no}-{c_no % 2}"
                for _ in range(size):
                    seqs[stream] = seqs.get(stream, 0) + 1
                    rows.append(_row(stream, seqs[stream],
                                     f"2026-01-{d_no + 1:02d}T{hour:02d}:00:00+08:00",
                                     f"k{s_no}-{d_no}-{c_no}"))
            whole_days.append((d_no, s_no, rows))
            spooled.append((d_no, rows))
        spools.append(_spool(tmp / f"{s_no}.spool", spooled, record))
    expected: list[LoadRow] = []
    for day in sorted({d for d, _, _ in whole_days}):
        rows = [r for d, _, day_rows in sorted(whole_days, key=lambda w: w[1]) if d == day
                for r in day_rows]
        expected += sorted(rows, key=lambda r: r.occurred_at)
    assert list(_merged_rows(spools, in_memory)) == expected


@given(keys=st.lists(st.sampled_from(["", "a", "b", "c"]), max_size=40),
       size=st.integers(1, 6))
def test_chunks_keep_each_command_whole(keys: list[str], size: int) -> None:
    # consecutive rows with one non-empty key are one command; "" is no command
    rows = [_row("s", n + 1, "2026-01-01T00:00:00+08:00", key) for n, key in enumerate(keys)]
    chunks = list(_chunks(iter(rows), size))
    assert [r for chunk in chunks for r in chunk] == rows
    assert all(len(chunk) >= size for chunk in chunks[:-1])
    for before, after in pairwise(chunks):
        assert not before[-1].command_key or before[-1].command_key != after[0].command_key
        # and no longer than needed: the size, then the rest of the last command
        tail = [r.command_key for r in before[size - 1:]]
        assert len(set(tail)) == 1


def test_a_failed_chunk_is_raised_and_nothing_after_it_is_written(tmp_path: Path) -> None:
    good = [_row("a", 1, "2026-01-01T09:00:00+08:00", "k1")]
    gap = [_row("a", 3, "2026-01-01T10:00:00+08:00", "k2")]  # seq 2 is missing
    later = [_row("b", 1, "2026-01-01T11:00:00+08:00", "k3")]
    with open_store(f"sqlite:///{tmp_path / 'events.db'}") as store:
        with pytest.raises(ConcurrencyConflict), _Writer(store) as writer:
            for chunk in (good, gap, later):
                writer.load(chunk)
        assert [(e.stream_id, e.seq) for e in store.read_all()] == [("a", 1)]
        assert writer.written == 1


def test_a_spooled_row_is_a_stored_event_after_its_position_and_the_stream_kind() -> None:
    # The spooler builds rows (plain LogRow tuples) as ``stored[1:] + (category,
    # customer)``.
    assert (*StoredEvent._fields[1:], "category", "customer_id") == LoadRow._fields


def test_a_fresh_log_file_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    """The simulator's own SQLite file is filled unjournalled under another name: on
    success it is renamed into place as an ordinary (WAL) store; when a chunk fails the
    partial file is deleted and no events.db appears."""
    rows = [_row("a", 1, "2026-01-01T09:00:00+08:00", "k1"),
            _row("a", 2, "2026-01-01T10:00:00+08:00", "k2")]
    spool = _spool(tmp_path / "0.spool", [(1, rows)])
    done = tmp_path / "done" / "events.db"
    done.parent.mkdir()
    assert _write_fresh_file(done, [spool], 2, lambda *a: None)[0] == 2
    assert not done.with_name("events.db.partial").exists()
    with open_store(f"sqlite:///{done}") as store:
        assert [(e.stream_id, e.seq) for e in store.read_all()] == [("a", 1), ("a", 2)]

    broken = _spool(tmp_path / "1.spool", [(1, [rows[0], _row("a", 3, rows[1][6], "k2")])])
    failed = tmp_path / "failed" / "events.db"
    failed.parent.mkdir()
    with pytest.raises(ConcurrencyConflict):
        _write_fresh_file(failed, [broken], 2, lambda *a: None)
    assert list(failed.parent.iterdir()) == []


def test_a_merging_process_that_fails_or_dies_leaves_no_file(tmp_path: Path) -> None:
    """An error in the merging process (here a spool cut short) is raised in the writing
    one; a merging process that vanishes without a word is reported too; either way no
    file is left behind and no process either."""
    spools = _two_shards(tmp_path)
    cut = tmp_path / "cut.spool"
    cut.write_bytes(spools[1].read_bytes()[:-7])  # the last record cut short
    target = tmp_path / "cut" / "events.db"
    target.parent.mkdir()
    with pytest.raises(pickle.UnpicklingError):
        _write_fresh_file(target, [spools[0], cut], 7, lambda *a: None)
    assert list(target.parent.iterdir()) == []

    def vanish(phase: str, done: int, total: int) -> None:
        for child in multiprocessing.active_children():
            child.kill()  # as the out-of-memory killer would
            child.join()

    many = _spool(tmp_path / "many.spool", [
        (day, [_row("a", day, f"2026-01-01T09:00:{day % 60:02d}+08:00", f"k{day}")])
        for day in range(1, 60_001)])
    with pytest.raises(StoreError, match="merging process ended"):
        _write_fresh_file(target, [many], 60_000, vanish)
    assert list(target.parent.iterdir()) == []
    assert multiprocessing.active_children() == []


def test_a_failure_while_writing_stops_the_merging_process(tmp_path: Path) -> None:
    target = tmp_path / "events.db"

    def refuse(phase: str, done: int, total: int) -> None:
        raise KeyboardInterrupt  # the user's ^C during the first chunk

    with pytest.raises(KeyboardInterrupt):
        _write_fresh_file(target, _two_shards(tmp_path), 7, refuse)
    assert multiprocessing.active_children() == []
    assert list(tmp_path.glob("events.db*")) == []


def test_the_collector_is_slowed_or_stopped_only_for_the_block() -> None:
    before = gc.get_threshold()
    assert gc.isenabled()
    with _collecting_less(None):
        assert not gc.isenabled()
    with _collecting_less(12_345):
        assert gc.isenabled() and gc.get_threshold()[0] == 12_345
    with pytest.raises(RuntimeError), _collecting_less(None):
        raise RuntimeError("the settings come back after a failure too")
    assert gc.isenabled() and gc.get_threshold() == before
