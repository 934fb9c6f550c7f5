"""Merging the shards' spools into the store: business-time order, and failures raised."""

from __future__ import annotations

import gc
import multiprocessing
import pickle
from pathlib import Path

import pytest

from lendguard.errors import ConcurrencyConflict, StoreError
from lendguard.sim.run import _collecting_less, _merge_into, _write_fresh_file, _Writer
from lendguard.store import open_store
from lendguard.store.base import LoadRow, StoredEvent


def _row(stream: str, seq: int, at: str, key: str) -> LoadRow:
    return LoadRow(stream, seq, f"{stream}-{seq}", "Noted", 1, "{}", at, "sim", key,
                   "credit_line", "c-" + stream)


def _spool(path: Path, days: list[tuple[int, list[LoadRow]]]) -> Path:
    with path.open("wb") as sink:
        for record in days:
            pickle.dump(record, sink)
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
        total, _ = _merge_into(store, _two_shards(tmp_path), 7, lambda *_: None)
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
    assert _write_fresh_file(fresh, spools, 7, lambda _, done, total: seen.append(
        (done, total))) == shared
    with open_store(f"sqlite:///{fresh}") as store:
        assert (list(store.read_all()), store.streams()) == expected
        assert [(e.stream_id, e.seq) for e in store.read_all()] == MERGED
    assert seen[-1] == (7, 7)


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
    cut.write_bytes(spools[1].read_bytes()[:-7])
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
