"""The in-memory store the simulator decides against: the rules a command can observe,
and draining (events handed over, payloads forgotten, reads refused rather than partial)."""

from __future__ import annotations

import pytest

from lendguard.errors import ConcurrencyConflict, IdempotencyConflict, StoreError
from lendguard.store.base import IdempotencyKey, StreamInfo
from lendguard.store.memory import MemoryEventStore

from .test_contract import load_row, new_event, write


def test_appends_check_versions_and_keys_all_or_nothing() -> None:
    store = MemoryEventStore()
    first = store.append([write("A", 0, new_event(), new_event())], IdempotencyKey("k", "f"))
    assert first.positions == (1, 2)
    again = store.append([write("A", 0, new_event())], IdempotencyKey("k", "f"))
    assert again.duplicate and again.positions == (1, 2)
    with pytest.raises(IdempotencyConflict):
        store.append([write("A", 2, new_event())], IdempotencyKey("k", "other"))
    with pytest.raises(ConcurrencyConflict):
        store.append([write("B", 0, new_event()), write("A", 1, new_event())])
    assert store.stream_info("B") is None and store.last_position() == 2
    assert store.stream_info("A") == StreamInfo("A", 2, "credit_line", "cust-1")


def test_append_many_plans_versions_across_batches() -> None:
    store = MemoryEventStore()
    store.append_many([[write("A", 0, new_event())], [write("A", 1, new_event())]],
                      ["k1", "k2"])
    assert [(e.seq, e.command_key) for e in store.read_stream("A")] == [(1, "k1"), (2, "k2")]
    with pytest.raises(ConcurrencyConflict):
        store.append_many([[write("A", 2, new_event())], [write("A", 2, new_event())]])
    assert store.last_position() == 2


def test_drain_hands_over_once_and_forgets_payloads() -> None:
    store = MemoryEventStore()
    store.append([write("A", 0, new_event(), new_event())])
    drained = store.drain()
    assert [e.seq for e in drained] == [1, 2]
    assert store.drain() == []
    store.append([write("A", 2, new_event())])
    assert [e.seq for e in store.read_stream("A", after_seq=2)] == [3]
    with pytest.raises(StoreError, match="drained"):
        store.read_stream("A")
    with pytest.raises(StoreError, match="drained"):
        list(store.read_all())
    assert store.stream_info("A") == StreamInfo("A", 3, "credit_line", "cust-1")


def test_load_goes_through_the_same_checks() -> None:
    store = MemoryEventStore()
    store.load([load_row("A", 1), load_row("A", 2)])
    with pytest.raises(ConcurrencyConflict):
        store.load([load_row("A", 4)])
    assert store.last_position() == 2
