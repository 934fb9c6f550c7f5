"""The event store contract (``lendguard.store.base``), run on every adapter.

Each test gets an empty ``store`` per adapter (see ``conftest.py``). The property test
replays the same random operations on SQLite and PostgreSQL and demands the same outcome
from both; the race test has several processes fight over one stream.
"""

from __future__ import annotations

import json
import multiprocessing
import queue
import time
import uuid
from collections.abc import Iterator, Sequence
from itertools import count, islice
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lendguard.errors import ConcurrencyConflict, IdempotencyConflict, StoreError
from lendguard.store import open_store
from lendguard.store.base import (
    AppendResult,
    CommandRecord,
    EventStore,
    IdempotencyKey,
    LoadRow,
    NewEvent,
    StoredEvent,
    StreamInfo,
    StreamWrite,
)
from lendguard.store.sqlite import SQLiteEventStore

from .conftest import StoreSpec, fresh_store_spec

_event_numbers = count(1)


def new_event(type_: str = "PurchaseMade", data: object = None, **overrides: str) -> NewEvent:
    """A valid event with a fresh id; ``data`` is JSON-encoded."""
    number = next(_event_numbers)
    payload = json.dumps({"n": number} if data is None else data, ensure_ascii=False)
    fields = {
        "event_id": overrides.get("event_id", str(uuid.uuid4())),
        "occurred_at": overrides.get("occurred_at", "2026-03-01T10:00:00+08:00"),
        "caused_by": overrides.get("caused_by", "user:alice"),
    }
    return NewEvent(type=type_, version=1, data=payload, **fields)


def write(
    stream_id: str,
    expected_version: int,
    *events: NewEvent,
    category: str = "credit_line",
    customer_id: str = "cust-1",
) -> StreamWrite:
    return StreamWrite(stream_id, expected_version, events, category, customer_id)


def positions_of(store: EventStore) -> list[int]:
    return [stored.position for stored in store.read_all()]


# -- append and read back ---------------------------------------------------------------


def test_append_and_read_back(store: EventStore) -> None:
    first, second, third = new_event(), new_event("RepaymentReceived"), new_event()

    result = store.append([write("acct-1", 0, first, second)])
    later = store.append([write("acct-1", 2, third)])

    assert result == AppendResult((1, 2))
    assert later == AppendResult((3,))
    stored = store.read_stream("acct-1")
    assert [(e.position, e.seq, e.event_id) for e in stored] == [
        (1, 1, first.event_id),
        (2, 2, second.event_id),
        (3, 3, third.event_id),
    ]
    assert stored[1] == StoredEvent(
        position=2,
        stream_id="acct-1",
        seq=2,
        event_id=second.event_id,
        type="RepaymentReceived",
        version=1,
        data=second.data,
        occurred_at=second.occurred_at,
        caused_by=second.caused_by,
        command_key="",
    )
    assert list(store.read_all()) == stored


def test_positions_interleave_streams(store: EventStore) -> None:
    store.append([write("acct-a", 0, new_event())])
    store.append([write("acct-b", 0, new_event(), new_event())])
    store.append([write("acct-a", 1, new_event())])

    assert [(e.stream_id, e.seq, e.position) for e in store.read_all()] == [
        ("acct-a", 1, 1),
        ("acct-b", 1, 2),
        ("acct-b", 2, 3),
        ("acct-a", 2, 4),
    ]


def test_read_stream_after_seq(store: EventStore) -> None:
    store.append([write("acct-1", 0, *(new_event() for _ in range(5)))])

    assert [e.seq for e in store.read_stream("acct-1", after_seq=3)] == [4, 5]
    assert store.read_stream("acct-1", after_seq=5) == []
    assert store.read_stream("no-such-stream") == []


def test_read_all_after_position(store: EventStore) -> None:
    for n in range(10):
        store.append([write(f"acct-{n % 3}", n // 3, new_event())])

    assert [e.position for e in store.read_all(after_position=7)] == [8, 9, 10]
    assert list(store.read_all(after_position=10)) == []
    assert positions_of(store) == list(range(1, 11))


def test_read_all_is_lazy_and_batched(store: EventStore) -> None:
    store.append([write("acct-1", 0, *(new_event() for _ in range(10)))])

    events = store.read_all(batch_size=4)
    assert isinstance(events, Iterator)
    assert next(events).position == 1
    # Appended after the first batch was fetched: a lazy reader still reaches it.
    store.append([write("acct-1", 10, new_event())])

    assert [e.position for e in events] == list(range(2, 12))
    assert [e.position for e in islice(store.read_all(3, batch_size=2), 3)] == [4, 5, 6]


def test_read_all_rows_is_read_all_cut_to_what_a_fold_needs(store: EventStore) -> None:
    for n in range(7):
        store.append([write(f"acct-{n % 3}", n // 3, new_event())])
    expected = [(e.position, e.stream_id, e.seq, e.type, e.version, e.data)
                for e in store.read_all()]

    pages = list(store.read_all_rows(batch_size=3))

    assert [len(page) for page in pages] == [3, 3, 1]
    assert [row for page in pages for row in page] == expected
    assert [row for page in store.read_all_rows(after_position=5) for row in page] == (
        expected[5:]
    )
    assert list(store.read_all_rows(after_position=7)) == []
    # The contract's own implementation, for adapters that do not answer it themselves.
    assert [row for page in EventStore.read_all_rows(store, 2, 4) for row in page] == (
        expected[2:]
    )
    with pytest.raises(ValueError):
        store.read_all_rows(batch_size=0)


def test_last_position(store: EventStore) -> None:
    assert store.last_position() == 0
    store.append([write("acct-1", 0, new_event(), new_event())])
    assert store.last_position() == 2


# -- optimistic concurrency -------------------------------------------------------------


def test_stale_expected_version_is_refused_and_writes_nothing(store: EventStore) -> None:
    store.append([write("acct-1", 0, new_event(), new_event())])

    with pytest.raises(ConcurrencyConflict, match=r"acct-1.*version 2.*expected version 1"):
        store.append([write("acct-1", 1, new_event())])
    with pytest.raises(ConcurrencyConflict):
        store.append([write("acct-1", 3, new_event())])
    with pytest.raises(ConcurrencyConflict, match=r"acct-new.*version 0.*expected version 1"):
        store.append([write("acct-new", 1, new_event())])

    assert store.last_position() == 2
    assert store.stream_info("acct-1") == StreamInfo("acct-1", 2, "credit_line", "cust-1")
    assert store.stream_info("acct-new") is None


def test_conflict_on_one_stream_writes_nothing_on_any(store: EventStore) -> None:
    store.append([write("line-1", 0, new_event())])
    store.append([write("loan-1", 0, new_event(), category="cash_loan")])

    with pytest.raises(ConcurrencyConflict, match="loan-1"):
        store.append([write("line-1", 1, new_event()), write("loan-1", 0, new_event())])

    assert positions_of(store) == [1, 2]
    assert store.stream_info("line-1") == StreamInfo("line-1", 1, "credit_line", "cust-1")
    assert [s.version for s in store.streams()] == [1, 1]


def test_multi_stream_append_is_atomic_and_contiguous(store: EventStore) -> None:
    result = store.append(
        [write("line-1", 0, new_event()), write("loan-1", 0, new_event(), new_event())]
    )

    assert result.positions == (1, 2, 3)
    assert [(e.stream_id, e.seq) for e in store.read_all()] == [
        ("line-1", 1),
        ("loan-1", 1),
        ("loan-1", 2),
    ]


def test_empty_write_asserts_the_version_it_read(store: EventStore) -> None:
    store.append([write("loan-1", 0, new_event())])

    with pytest.raises(ConcurrencyConflict, match="loan-1"):
        store.append([write("line-1", 0, new_event()), write("loan-1", 0)])
    assert store.last_position() == 1

    result = store.append([write("line-1", 0, new_event()), write("loan-1", 1)])
    assert result.positions == (2,)
    assert store.stream_info("loan-1") == StreamInfo("loan-1", 1, "credit_line", "cust-1")
    # Asserting a stream is still empty does not create it.
    store.append([write("ghost", 0)])
    assert store.stream_info("ghost") is None


def test_two_writes_to_one_stream_in_one_command_follow_each_other(store: EventStore) -> None:
    result = store.append([write("acct-1", 0, new_event()), write("acct-1", 1, new_event())])
    assert result.positions == (1, 2)

    with pytest.raises(ConcurrencyConflict):
        store.append([write("acct-1", 2, new_event()), write("acct-1", 2, new_event())])
    assert [e.seq for e in store.read_stream("acct-1")] == [1, 2]


# -- idempotency ------------------------------------------------------------------------


def test_repeated_key_with_same_fingerprint_returns_the_original(store: EventStore) -> None:
    key = IdempotencyKey("cmd-1", "fp-a")
    original = store.append([write("acct-1", 0, new_event(), new_event())], key)

    # The retry carries the version it saw before the first try: stale by now, but a
    # duplicate is recognised before versions are checked.
    retry = store.append([write("acct-1", 0, new_event(), new_event())], key)

    assert original == AppendResult((1, 2))
    assert retry == AppendResult((1, 2), duplicate=True)
    assert store.last_position() == 2
    assert {e.command_key for e in store.read_all()} == {"cmd-1"}


def test_repeated_key_with_other_fingerprint_is_refused(store: EventStore) -> None:
    store.append([write("acct-1", 0, new_event())], IdempotencyKey("cmd-1", "fp-a"))

    with pytest.raises(IdempotencyConflict, match="cmd-1"):
        store.append([write("acct-1", 1, new_event())], IdempotencyKey("cmd-1", "fp-b"))

    assert store.last_position() == 1
    assert store.find_command("cmd-1") == CommandRecord("cmd-1", "fp-a", (1,))


def test_find_command(store: EventStore) -> None:
    assert store.find_command("cmd-1") is None
    store.append([write("acct-1", 0, new_event())])
    store.append([write("acct-1", 1, new_event(), new_event())], IdempotencyKey("cmd-1", "fp"))
    store.append([write("acct-1", 3)], IdempotencyKey("cmd-check", "fp"))

    assert store.find_command("cmd-1") == CommandRecord("cmd-1", "fp", (2, 3))
    assert store.find_command("cmd-check") == CommandRecord("cmd-check", "fp", ())
    assert store.append([], IdempotencyKey("cmd-check", "fp")) == AppendResult((), True)


def test_a_refused_command_does_not_use_up_its_key(store: EventStore) -> None:
    store.append([write("acct-1", 0, new_event())])
    key = IdempotencyKey("cmd-1", "fp")

    with pytest.raises(ConcurrencyConflict):
        store.append([write("acct-1", 0, new_event())], key)
    assert store.find_command("cmd-1") is None

    assert store.append([write("acct-1", 1, new_event())], key) == AppendResult((2,))


# -- streams ----------------------------------------------------------------------------


def test_stream_info_and_filters(store: EventStore) -> None:
    store.append([write("line-b", 0, new_event(), customer_id="cust-2")])
    store.append([write("loan-a", 0, new_event(), category="cash_loan", customer_id="cust-1")])
    store.append([write("line-a", 0, new_event(), new_event(), customer_id="cust-1")])
    # Category and customer are recorded on creation and not changed by later writes.
    store.append([write("line-b", 1, new_event(), category="other", customer_id="cust-9")])

    line_a = StreamInfo("line-a", 2, "credit_line", "cust-1")
    line_b = StreamInfo("line-b", 2, "credit_line", "cust-2")
    loan_a = StreamInfo("loan-a", 1, "cash_loan", "cust-1")
    assert store.stream_info("line-b") == line_b
    assert store.stream_info("nope") is None
    assert store.streams() == [line_a, line_b, loan_a]
    assert store.streams(category="credit_line") == [line_a, line_b]
    assert store.streams(customer_id="cust-1") == [line_a, loan_a]
    assert store.streams(category="cash_loan", customer_id="cust-1") == [loan_a]
    assert store.streams(category="cash_loan", customer_id="cust-2") == []


def test_streams_are_ordered_by_stream_id_bytes(store: EventStore) -> None:
    for stream_id in ["b", "B", "a", "_", "账户"]:
        store.append([write(stream_id, 0, new_event())])

    assert [s.stream_id for s in store.streams()] == ["B", "_", "a", "b", "账户"]


# -- bulk -------------------------------------------------------------------------------


def test_append_many(store: EventStore) -> None:
    results = store.append_many(
        [
            [write("acct-1", 0, new_event())],
            [write("acct-2", 0, new_event(), new_event())],
            [write("acct-1", 1, new_event())],  # follows the first batch
            [write("acct-2", 2)],
        ]
    )

    assert results == [
        AppendResult((1,)),
        AppendResult((2, 3)),
        AppendResult((4,)),
        AppendResult(()),
    ]
    assert [(e.stream_id, e.seq) for e in store.read_all()] == [
        ("acct-1", 1),
        ("acct-2", 1),
        ("acct-2", 2),
        ("acct-1", 2),
    ]
    assert store.stream_info("acct-1") == StreamInfo("acct-1", 2, "credit_line", "cust-1")


def test_append_many_is_all_or_nothing(store: EventStore) -> None:
    store.append([write("acct-1", 0, new_event())])

    with pytest.raises(ConcurrencyConflict, match="acct-1"):
        store.append_many(
            [
                [write("acct-2", 0, *(new_event() for _ in range(100)))],
                [write("acct-1", 0, new_event())],
            ]
        )

    assert positions_of(store) == [1]
    assert store.stream_info("acct-2") is None
    assert store.append_many([]) == []


def test_append_many_large_batch(store: EventStore) -> None:
    batches = [[write(f"acct-{n}", 0, new_event(), new_event())] for n in range(600)]

    results = store.append_many(batches)

    assert results[-1] == AppendResult((1199, 1200))
    assert positions_of(store) == list(range(1, 1201))
    assert len(store.streams()) == 600


# -- payloads, failures, persistence ----------------------------------------------------


def test_unicode_payloads_round_trip_exactly(store: EventStore) -> None:
    data = {"商户": "星巴克 ☕", "note": 'quote " backslash \\ tab \t', "emoji": "🚀👩‍💻"}
    event = new_event("还款", data, caused_by="用户:张三", occurred_at="2026-03-01T10:00:00+08:00")

    store.append([write("账户-1", 0, event, customer_id="客户-1")])

    (stored,) = store.read_all()
    assert (stored.stream_id, stored.type, stored.data, stored.caused_by) == (
        "账户-1",
        "还款",
        event.data,
        "用户:张三",
    )
    assert json.loads(stored.data) == data
    assert store.streams(customer_id="客户-1")[0].stream_id == "账户-1"


def test_duplicate_event_id_is_a_store_error_and_writes_nothing(store: EventStore) -> None:
    first = new_event()
    store.append([write("acct-1", 0, first)])

    with pytest.raises(StoreError) as raised:
        store.append([write("acct-2", 0, new_event(), new_event(event_id=first.event_id))])

    assert raised.value.__cause__ is not None
    assert store.last_position() == 1
    assert store.stream_info("acct-2") is None
    # The store is still usable after the failed transaction.
    assert store.append([write("acct-2", 0, new_event())]).positions == (2,)


def test_reopened_store_sees_the_data(store_spec: StoreSpec) -> None:
    with store_spec.open() as first:
        first.append([write("acct-1", 0, new_event())], IdempotencyKey("cmd-1", "fp"))

    with store_spec.open() as reopened:
        assert positions_of(reopened) == [1]
        assert reopened.find_command("cmd-1") == CommandRecord("cmd-1", "fp", (1,))
        assert reopened.append([write("acct-1", 1, new_event())]).positions == (2,)


def test_sqlite_in_memory_and_open_store(tmp_path: Path) -> None:
    with SQLiteEventStore(":memory:") as memory:
        assert memory.append([write("acct-1", 0, new_event())]).positions == (1,)

    path = tmp_path / "events.db"
    with open_store(f"sqlite:///{path}") as opened:
        assert isinstance(opened, SQLiteEventStore)
        opened.append([write("acct-1", 0, new_event())])
    assert path.exists()


# -- property: both adapters agree ------------------------------------------------------

STREAMS = ["acct-a", "acct-b", "acct-c"]

# One command: up to two stream writes (stream, events to append, version skew: 0 is the
# right version, anything else stale or ahead), and maybe an idempotency key.
stream_writes = st.lists(
    st.tuples(st.sampled_from(STREAMS), st.integers(0, 3), st.sampled_from([0, 0, 0, -1, 1])),
    max_size=2,
)
keys = st.one_of(
    st.none(), st.builds(IdempotencyKey, st.sampled_from(["k1", "k2", "k3"]), st.just("fp"))
)
fingerprints = st.sampled_from(["fp", "fp", "other"])
operations = st.lists(st.tuples(stream_writes, keys, fingerprints), max_size=12)

Outcome = tuple[str, tuple[int, ...]]


def apply_operations(
    store: EventStore,
    ops: Sequence[tuple[list[tuple[str, int, int]], IdempotencyKey | None, str]],
) -> list[Outcome]:
    """Run the operations; event ids are derived from the operation so both stores agree."""
    outcomes: list[Outcome] = []
    for number, (writes, key, fingerprint) in enumerate(ops):
        stream_writes = []
        for index, (stream_id, event_count, skew) in enumerate(writes):
            info = store.stream_info(stream_id)
            events = [
                new_event(data={"op": number}, event_id=f"e-{number}-{index}-{n}")
                for n in range(event_count)
            ]
            version = (info.version if info else 0) + skew
            stream_writes.append(write(stream_id, max(version, 0), *events))
        idempotency = IdempotencyKey(key.key, fingerprint) if key else None
        try:
            result = store.append(stream_writes, idempotency)
        except ConcurrencyConflict:
            outcomes.append(("conflict", ()))
        except IdempotencyConflict:
            outcomes.append(("idempotency-conflict", ()))
        else:
            outcomes.append(("duplicate" if result.duplicate else "ok", result.positions))
    return outcomes


def check_log_invariants(store: EventStore) -> None:
    events = list(store.read_all(batch_size=3))
    assert [e.position for e in events] == list(range(1, len(events) + 1))
    for info in store.streams():
        assert [e.seq for e in store.read_stream(info.stream_id)] == list(
            range(1, info.version + 1)
        )
    assert store.last_position() == len(events)


@pytest.mark.postgres
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(ops=operations)
def test_random_appends_keep_the_log_contiguous_and_adapters_agree(
    ops: list[tuple[list[tuple[str, int, int]], IdempotencyKey | None, str]],
    tmp_path: Path,
) -> None:
    logs = []
    outcomes = []
    for kind in ("sqlite", "postgres"):
        with fresh_store_spec(kind, tmp_path) as spec, spec.open() as store:
            outcomes.append(apply_operations(store, ops))
            check_log_invariants(store)
            logs.append(
                ([tuple(e) for e in store.read_all()], store.streams(), store.last_position())
            )

    assert outcomes[0] == outcomes[1]
    assert logs[0] == logs[1]


# -- race: several processes, one stream ------------------------------------------------

RACERS = 3
APPENDS_PER_RACER = 40


def race(
    spec: StoreSpec,
    racer: int,
    start: multiprocessing.synchronize.Barrier,
    results: multiprocessing.Queue[tuple[int, int]],
) -> None:
    """Append to one stream, retrying on conflicts; report how many conflicts were met."""
    conflicts = 0
    with spec.open() as store:
        start.wait()
        done = 0
        while done < APPENDS_PER_RACER:
            info = store.stream_info("contested")
            version = info.version if info else 0
            event = new_event(
                data={"racer": racer, "n": done, "read_version": version},
                event_id=f"r{racer}-{done}",
            )
            try:
                store.append([write("contested", version, event)])
            except ConcurrencyConflict:
                conflicts += 1
            else:
                done += 1
    results.put((racer, conflicts))


def collect_reports(
    racers: Sequence[multiprocessing.process.BaseProcess],
    results: multiprocessing.Queue[tuple[int, int]],
) -> list[tuple[int, int]]:
    """Every racer's report; fails fast if a racer dies instead of waiting out a timeout."""
    reports: list[tuple[int, int]] = []
    deadline = time.monotonic() + 60
    while len(reports) < len(racers):
        try:
            reports.append(results.get(timeout=0.2))
        except queue.Empty:
            crashed = [p.exitcode for p in racers if p.exitcode not in (None, 0)]
            if crashed or time.monotonic() > deadline:
                pytest.fail(f"racing processes failed (exit codes {crashed}) or timed out")
    return reports


def test_processes_racing_on_one_stream_never_lose_or_duplicate(store_spec: StoreSpec) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(RACERS)
    results: multiprocessing.Queue[tuple[int, int]] = context.Queue()
    racers = [
        context.Process(target=race, args=(store_spec, n, start, results)) for n in range(RACERS)
    ]
    for process in racers:
        process.start()
    try:
        reports = collect_reports(racers, results)
    finally:
        for process in racers:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    assert [process.exitcode for process in racers] == [0] * RACERS
    assert sorted(racer for racer, _ in reports) == list(range(RACERS))

    total = RACERS * APPENDS_PER_RACER
    with store_spec.open() as store:
        stream = store.read_stream("contested")
        assert [e.seq for e in stream] == list(range(1, total + 1))
        assert len({e.event_id for e in stream}) == total
        # Nothing was appended on a stale read: each event follows the version its writer saw.
        assert [json.loads(e.data)["read_version"] for e in stream] == list(range(total))
        for racer in range(RACERS):
            # Each racer's own appends keep their order.
            mine = [json.loads(e.data)["n"] for e in stream if e.event_id.startswith(f"r{racer}-")]
            assert mine == list(range(APPENDS_PER_RACER))
        assert positions_of(store) == list(range(1, total + 1))
        assert store.stream_info("contested") == StreamInfo(
            "contested", total, "credit_line", "cust-1"
        )


def load_row(stream_id: str, seq: int, key: str = "k", customer: str = "cust-1") -> LoadRow:
    event = new_event()
    return LoadRow(stream_id, seq, event.event_id, event.type, event.version, event.data,
                   event.occurred_at, event.caused_by, key, "credit_line", customer)


def test_load_appends_a_sequenced_log_with_its_keys(store: EventStore) -> None:
    store.append([write("A", 0, new_event())])
    rows = [load_row("A", 2, "k1"), load_row("B", 1, "k1"), load_row("A", 3, "k2"),
            load_row("B", 2, "k3", customer="cust-1")]
    assert store.load(rows) == 4
    assert [(e.stream_id, e.seq, e.command_key) for e in store.read_all()][1:] == [
        ("A", 2, "k1"), ("B", 1, "k1"), ("A", 3, "k2"), ("B", 2, "k3")]
    assert store.stream_info("B") == StreamInfo("B", 2, "credit_line", "cust-1")
    assert [e.seq for e in store.read_stream("A")] == [1, 2, 3]
    assert store.find_command("k1") is None  # recorded on events, not registered


@pytest.mark.parametrize("bad", [[("A", 1)], [("A", 3)], [("B", 1), ("B", 3)], [("C", 2)]])
def test_load_refuses_a_log_out_of_order_and_writes_nothing(
        store: EventStore, bad: list[tuple[str, int]]) -> None:
    store.append([write("A", 0, new_event())])
    with pytest.raises(ConcurrencyConflict):
        store.load([load_row("B", 1, "x")] + [load_row(s, n, "y") for s, n in bad])
    assert store.last_position() == 1
    assert store.stream_info("B") is None
