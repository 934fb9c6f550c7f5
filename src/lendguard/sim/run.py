"""A whole simulation run: blocks in parallel, one chronological log, tables and manifest.

``simulate`` draws the population block by block, simulates each block over the horizon
(``engine.BlockSimulation``) in a pool of worker processes, each writing its events to a
spool file in business-time order, then merges the spools by business time into the
event store in large transactions: for the default SQLite file, one process merges,
hashes and numbers the events while another writes them (``_write_fresh_file``). Memory
stays flat as the population grows: a worker holds one block, the merge a spool record
of every block and a transaction's events.

It writes to ``out``:

- ``events.db``: the event store (unless a PostgreSQL URL is given),
- ``applications.parquet``: what the lender saw at application time, with the decision,
- ``labels.parquet``: the ground truth, kept apart (segment, fraud type and start,
  defaulted within 12 months),
- ``manifest.json``: seed, configuration hash, generator versions, counts, the log's
  sha256 (same seed and configuration, same hash) and timings.
"""

from __future__ import annotations

import gc
import hashlib
import heapq
import io
import json
import os
import pickle
import queue
import resource
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from itertools import islice, pairwise
from multiprocessing import get_context
from multiprocessing.connection import Connection
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, NamedTuple

import polars as pl

from lendguard.errors import InvalidConfiguration, StoreError
from lendguard.sim import population
from lendguard.sim.config import SimulationConfig
from lendguard.sim.engine import BlockResult, BlockSimulation
from lendguard.store import open_store
from lendguard.store.base import EventStore, LoadRow, LogRow, StoredEvent
from lendguard.store.sqlite import EventRecord, LogSequencer, SQLiteEventStore

ENGINE_VERSION = 1
# Borrowers simulated together in one process (a divisor of the population's block):
# small enough to balance the work across processes, large enough to amortise startup.
SHARD_SIZE = 512
EVENTS_PER_TRANSACTION = 50_000
# Events a spool record holds at most: on a day too big to hold whole (over
# MERGE_DAY_IN_MEMORY events in all), the merge streams it, a record of every shard at once.
SPOOL_RECORD_EVENTS = 256
MERGE_DAY_IN_MEMORY = 100_000
SIMULATION_GC_THRESHOLD = 50_000  # see _collecting_less



@dataclass(frozen=True)
class RunSummary:
    """What a run did; also written as ``manifest.json``."""

    manifest: dict[str, Any]
    out: Path

    @property
    def log_sha256(self) -> str:
        return str(self.manifest["log_sha256"])


Progress = Callable[[str, int, int], None]  # (phase, done, total)


def simulate(config: SimulationConfig, borrowers: int, months: int, seed: int, out: Path,
             store_url: str | None = None, workers: int | None = None,
             progress: Progress | None = None) -> RunSummary:
    """Run the simulation; see the module docstring. Arguments are checked before
    anything is written (``InvalidConfiguration`` lists every problem)."""
    problems = _problems(config, borrowers, months, seed)
    if problems:
        raise InvalidConfiguration(problems)
    out.mkdir(parents=True, exist_ok=True)
    url = store_url or f"sqlite:///{out / 'events.db'}"
    _require_empty(url)
    report = progress or (lambda phase, done, total: None)
    blocks = -(-borrowers // SHARD_SIZE)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lendguard-sim-", dir=out) as spool_dir:
        spools = [Path(spool_dir) / f"block-{b:05d}.spool" for b in range(blocks)]
        results = _simulate_blocks(config, borrowers, months, seed, spools, workers, report)
        simulated = time.perf_counter()
        expected = sum(r.counts.get("events", 0) for r in results)
        if store_url is None:
            written = _write_fresh_file(out / "events.db", spools, expected, report)
        else:
            with open_store(url) as store:
                _require_empty(url, store)
                written = _merge_into(store, spools, expected, report)
    finished = time.perf_counter()
    counts: dict[str, int] = {}
    for result in results:
        for what, n in result.counts.items():
            counts[what] = counts.get(what, 0) + n
    labels = _write_tables(config, borrowers, seed, results, out)
    manifest = {
        "seed": seed,
        "borrowers": borrowers,
        "months": months,
        "start": config.start.isoformat(),
        "config_sha256": config.config_hash(),
        "generator_version": population.GENERATOR_VERSION,
        "engine_version": ENGINE_VERSION,
        "events": written.events,
        "log_sha256": written.digest,
        "store": url if store_url is None else "(given)",
        "counts": dict(sorted(counts.items())),
        "figures": portfolio_figures(counts, labels, borrowers),
        "seconds": {"simulate": round(simulated - started, 2),
                    "write": round(finished - simulated, 2)},
        "merge_peak_bytes": written.merge_peak_bytes,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return RunSummary(manifest, out)


def _require_empty(url: str, store: EventStore | None = None) -> None:
    """A simulation writes a fresh log: a store that already holds events is refused
    (before anything is simulated, and again just before writing to a shared store)."""
    if store is None:
        path = url.removeprefix("sqlite:///")
        if url.startswith("sqlite:///") and not Path(path).exists():
            return
        with open_store(url) as opened:
            _require_empty(url, opened)
        return
    if store.last_position() != 0:
        raise InvalidConfiguration([f"store {url!r} is not empty: a simulation writes a "
                                    "fresh log"])


def _problems(config: object, borrowers: object, months: object, seed: object) -> list[str]:
    problems = []
    if not isinstance(config, SimulationConfig):
        problems.append("config: must be a SimulationConfig")
    if not isinstance(borrowers, int) or isinstance(borrowers, bool) or borrowers < 1:
        problems.append(f"borrowers: must be a whole number ≥ 1, got {borrowers!r}")
    if not isinstance(months, int) or isinstance(months, bool) or not 1 <= months <= 120:
        problems.append(f"months: must be a whole number from 1 to 120, got {months!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        problems.append(f"seed: must be an integer ≥ 0, got {seed!r}")
    return problems


# ---- simulating the blocks ------------------------------------------------------------


def _simulate_blocks(config: SimulationConfig, borrowers: int, months: int, seed: int,
                     spools: list[Path], workers: int | None, report: Progress
                     ) -> list[BlockResult]:
    jobs = [(config, borrowers, months, seed, b, spool) for b, spool in enumerate(spools)]
    processes = min(workers or os.cpu_count() or 1, len(jobs))
    results: dict[int, BlockResult] = {}
    report("simulate", 0, len(jobs))
    if processes <= 1:
        for job in jobs:
            results[job[4]] = _simulate_block(*job)
            report("simulate", len(results), len(jobs))
    else:
        # Spawned, not forked: a fork after polars (or any library) has started its
        # thread pool can deadlock in the child.
        with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(_simulate_block, *job): job[4] for job in jobs}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                report("simulate", len(results), len(jobs))
    return [results[b] for b in range(len(jobs))]


def _simulate_block(config: SimulationConfig, borrowers: int, months: int, seed: int,
                    index: int, spool: Path) -> BlockResult:
    first = index * SHARD_SIZE
    block = population.block(config, borrowers, seed, first // population.BLOCK_SIZE)
    frame = block.slice(first % population.BLOCK_SIZE, SHARD_SIZE)
    with spool.open("wb") as sink, _collecting_less(SIMULATION_GC_THRESHOLD):
        simulation = BlockSimulation(config, frame, seed, index, months,
                                     lambda events: None)
        simulation.sink = _spooler(simulation, sink)
        return simulation.run()


@contextmanager
def _collecting_less(first_generation: int | None) -> Iterator[None]:
    """Python's cycle collector at a slower pace (``first_generation`` allocations between
    young collections instead of 700), or not at all (``None``), for the block; the
    previous settings are restored after it.

    Simulating and merging allocate millions of short-lived objects while a large heap
    stays alive, and every so often a collection walks all of it: about 10% of a shard's
    CPU and 20% of the merge's was the collector's. The simulation keeps collecting, only
    less often, and collects fully at the end of the block (reference cycles do arise
    there; without that, a worker running block after block grew from 116 to 325 MiB);
    the merge's rows, tuples and strings form none, so it does not collect at all."""
    enabled, thresholds = gc.isenabled(), gc.get_threshold()
    if first_generation is None:
        gc.disable()
    else:
        gc.set_threshold(first_generation, thresholds[1], thresholds[2])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if enabled:
            gc.enable()
            if first_generation is not None:
                gc.collect()  # what the slower pace left: a worker runs block after block


def _spooler(simulation: BlockSimulation, sink: IO[bytes]
             ) -> Callable[[list[StoredEvent]], None]:
    """Each day's events as pickled ``(day ordinal, the day's events in all, rows)``
    records of at most ``SPOOL_RECORD_EVENTS`` rows, so the merge can take the shards a
    day at a time and, on a big day, a record at a time."""
    kinds: dict[str, tuple[str, str]] = {}

    def spool(events: list[StoredEvent]) -> None:
        if not events:
            return
        rows: list[LogRow] = []
        for e in events:
            kind = kinds.get(e.stream_id)
            if kind is None:
                info = simulation.store.stream_info(e.stream_id)
                assert info is not None
                kind = kinds[e.stream_id] = (info.category, info.customer_id)
            # A stored event's fields after its position, then the stream's kind: a
            # LogRow, a plain tuple (unpickled in half the time of a LoadRow).
            rows.append(e[1:] + kind)
        day = simulation.clock.today().toordinal()
        for start in range(0, len(rows), SPOOL_RECORD_EVENTS):
            pickle.dump((day, len(rows), rows[start:start + SPOOL_RECORD_EVENTS]), sink,
                        protocol=pickle.HIGHEST_PROTOCOL)
        simulation.counts["events"] = simulation.counts.get("events", 0) + len(rows)

    return spool


# ---- merging into the store -----------------------------------------------------------


def _read_records(path: Path) -> Iterator[tuple[int, int, list[LogRow]]]:
    with path.open("rb") as source:
        while True:
            try:
                record: tuple[int, int, list[LogRow]] = pickle.load(source)
            except EOFError:
                return
            yield record


class _Spool:
    """A shard's spool, read a record at a time: ``head`` is the next unread record."""

    def __init__(self, path: Path) -> None:
        self._records = _read_records(path)
        self.head = next(self._records, None)

    def rows_of(self, day: int) -> Iterator[LogRow]:
        """The shard's events of ``day``, in its order, read as they are taken."""
        while self.head is not None and self.head[0] == day:
            yield from self.head[2]
            self.head = next(self._records, None)

    def take_day(self, day: int, rows: list[LogRow]) -> None:
        """Appends the shard's events of ``day`` to ``rows``, all at once."""
        while self.head is not None and self.head[0] == day:
            rows += self.head[2]
            self.head = next(self._records, None)


def _merged_rows(spools: list[Path], in_memory: int = MERGE_DAY_IN_MEMORY
                 ) -> Iterator[LogRow]:
    """Every shard's events in business-time order; ties in shard order, then the
    shard's own order (so each command's events stay together).

    A day at a time. A shard's day is already in time order (the engine runs a day's
    actions sorted by their moment), so concatenating the shards' days in shard order
    and sorting stably by time gives exactly that order; a day of more than
    ``in_memory`` events in all (statement day: every account's statement at 23:59:59)
    is instead merged as it is read (``heapq.merge`` is stable too), holding a spool
    record of each shard, so the merge's memory does not grow with the busiest day."""
    shards = [_Spool(path) for path in spools]
    while True:
        heads = [(shard, shard.head) for shard in shards if shard.head is not None]
        if not heads:
            return
        day = min(head[0] for _, head in heads)
        today = [(shard, head[1]) for shard, head in heads if head[0] == day]
        if sum(events for _, events in today) <= in_memory:
            rows: list[LogRow] = []
            for shard, _ in today:
                shard.take_day(day, rows)
            rows.sort(key=_OCCURRED_AT)
            yield from rows
        else:
            yield from heapq.merge(*[shard.rows_of(day) for shard, _ in today],
                                   key=_OCCURRED_AT)


_OCCURRED_AT = itemgetter(6)  # a LogRow's occurred_at
_COMMAND_KEY = 8  # a LogRow's command_key


def _chunks(rows: Iterator[LogRow], size: int) -> Iterator[list[LogRow]]:
    """The rows in lists of at least ``size`` (but the last), each ending where a
    command does: a command's events go into one transaction."""
    carried: list[LogRow] = []
    while True:
        chunk = carried + list(islice(rows, size - len(carried)))
        if not chunk:
            return
        carried = []
        key = chunk[-1][_COMMAND_KEY]
        if key:
            for row in rows:
                if row[_COMMAND_KEY] != key:
                    carried = [row]
                    break
                chunk.append(row)
        yield chunk


def _digest(digest: Any, rows: list[LogRow]) -> None:
    """Adds the rows to the log's sha256: every field of every event up to its command
    key, fields split by \x1f and events by \x1e."""
    digest.update("".join([
        f"{stream}\x1f{seq}\x1f{event_id}\x1f{type_}\x1f{version}\x1f{data}\x1f{at}\x1f"
        f"{cause}\x1f{key}\x1e"
        for stream, seq, event_id, type_, version, data, at, cause, key, _, _ in rows
    ]).encode())


def _merge_into(store: EventStore, spools: list[Path], expected: int, report: Progress
                ) -> _Written:
    """Every shard's events in business-time order (``_merged_rows``) loaded into a
    shared store (PostgreSQL), about ``EVENTS_PER_TRANSACTION`` events (whole commands) a
    transaction. Returns the count and the sha256 of the log as written.

    The store is written from a second thread, so merging the next days overlaps writing
    these while the store waits on its server."""
    digest = hashlib.sha256()
    make_row = LoadRow._make
    with _Writer(store) as writer, _collecting_less(None):
        for rows in _chunks(_merged_rows(spools), EVENTS_PER_TRANSACTION):
            _digest(digest, rows)
            writer.load(list(map(make_row, rows)))
            report("write", writer.written, expected)
    _check_count(writer.written, expected)
    report("write", expected, expected)
    return _Written(expected, digest.hexdigest(), None)


def _check_count(written: int, expected: int) -> None:
    if written != expected:
        raise StoreError(f"merged {written} events of the {expected} the shards spooled")


class _Written(NamedTuple):
    events: int
    digest: str
    merge_peak_bytes: int | None  # of the merging process, when it had one of its own


def _write_fresh_file(path: Path, spools: list[Path], expected: int, report: Progress
                      ) -> _Written:
    """The log into a new SQLite file at ``path``, written whole or not at all.

    Two processes share the work, one core each: a merging process reads the spools,
    orders, hashes and numbers the events (``_sequence_log``) and hands over events rows
    ready to insert, while this one inserts them (half the work each, where one process
    doing both left the second core idle).

    The file is filled unjournalled under a temporary name (every page written once; see
    ``SQLiteEventStore(journal=False)``), synced, then renamed over ``path``; if anything
    fails the partial file is deleted, the merging process stopped, and ``path`` is left
    as it was."""
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        store = SQLiteEventStore(str(partial), journal=False)
        with store, store.fresh_load() as loader, _SequencedLog(spools) as log, \
                _collecting_less(None):
            for records in log.chunks():
                loader.write(records)
                report("write", loader.written, expected)
            loader.sequencer = log.done.sequencer
        _check_count(loader.written, expected)
        with partial.open("rb") as done:
            os.fsync(done.fileno())
        if path.exists():  # still empty? (it was before the simulation started)
            _require_empty(f"sqlite:///{path}")
        for leftover in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)  # an empty store's: never replay them onto ours
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return _Written(loader.written, log.done.digest, log.done.peak_bytes)


class _Done(NamedTuple):
    """The merging process's last message: the log's sha256, the sequencer that
    numbered it (its streams are the streams table), and the process's peak memory."""

    digest: str
    sequencer: LogSequencer
    peak_bytes: int


class _Failed(NamedTuple):
    """The merging process's last message when it failed."""

    error: BaseException


def _sequence_log(spools: list[Path], sink: Connection) -> None:
    """The merging half of ``_write_fresh_file``, in a process of its own: the shards'
    events in business-time order, hashed, numbered by a ``LogSequencer`` and sent as
    events rows, about ``EVENTS_PER_TRANSACTION`` (whole commands) a message; then
    ``_Done``, or ``_Failed`` with the error that stopped it."""
    try:
        with _collecting_less(None):
            digest, sequencer = hashlib.sha256(), LogSequencer()
            for rows in _chunks(_merged_rows(spools), EVENTS_PER_TRANSACTION):
                _digest(digest, rows)
                _send(sink, sequencer.records(rows))
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
            _send(sink, _Done(digest.hexdigest(), sequencer, peak))
    except BaseException as exc:
        with suppress(OSError):  # the writing process has gone: it knows why
            try:
                _send(sink, _Failed(exc))
            except pickle.PicklingError:
                _send(sink, _Failed(StoreError(f"{type(exc).__name__}: {exc}")))
    finally:
        sink.close()


def _send(sink: Connection, message: object) -> None:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, pickle.HIGHEST_PROTOCOL)
    # Without the memo: rows of distinct strings pickle about six times faster, and
    # nothing sent is recursive (shared objects are merely sent twice).
    pickler.fast = True
    pickler.dump(message)
    sink.send_bytes(buffer.getbuffer())


class _SequencedLog:
    """The writing end of ``_sequence_log``: starts the merging process, yields the
    chunks of events rows it sends, and keeps its ``_Done``; stops it on the way out."""

    def __init__(self, spools: list[Path]) -> None:
        context = get_context("spawn")  # see _simulate_blocks
        self._source, sink = context.Pipe(duplex=False)
        self._process = context.Process(target=_sequence_log, args=(spools, sink),
                                        name="lendguard-sim-merge", daemon=True)
        self._process.start()
        sink.close()  # ours: the merging process holds its own
        self._done: _Done | None = None

    def __enter__(self) -> _SequencedLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self._source.close()
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()

    def chunks(self) -> Iterator[list[EventRecord]]:
        while True:
            try:
                message = pickle.loads(self._source.recv_bytes())
            except (EOFError, OSError) as exc:  # gone between messages, or within one
                self._process.join(timeout=5)
                raise StoreError("the merging process ended before the log did "
                                 f"(exit code {self._process.exitcode})") from exc
            if isinstance(message, _Failed):
                raise message.error
            if isinstance(message, _Done):
                self._done = message
                return
            yield message

    @property
    def done(self) -> _Done:
        """The merging process's last word, once ``chunks`` has run out."""
        if self._done is None:
            raise StoreError("the merging process has not finished the log")
        return self._done


class _Writer:
    """``store.load`` on a thread of its own, a chunk or two behind the caller; the first
    failure stops it and is raised to the caller (at the next ``load`` or at the end),
    and nothing after the failed chunk is written."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.written = 0
        self._queue: queue.Queue[list[LoadRow] | None] = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="lendguard-sim-writer",
                                        daemon=True)

    def __enter__(self) -> _Writer:
        self._thread.start()
        return self

    def load(self, chunk: list[LoadRow]) -> None:
        self._raise()
        self._queue.put(chunk)

    def __exit__(self, *exc: object) -> None:
        self._queue.put(None)
        self._thread.join()
        if exc[0] is None:
            self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain the queue so the caller never blocks
            try:
                self.written += self.store.load(chunk)
            except BaseException as exc:  # raised to the caller, not lost in the thread
                self._error = exc


# ---- tables ---------------------------------------------------------------------------


def _write_tables(config: SimulationConfig, borrowers: int, seed: int,
                  results: list[BlockResult], out: Path) -> pl.DataFrame:
    outcomes = pl.DataFrame([row for r in results for row in r.outcomes],
                            schema_overrides={"ninety_dpd_on": pl.Date,
                                              "stopped_paying_on": pl.Date,
                                              "fraud_started_on": pl.Date,
                                              "closed_on": pl.Date, "observed_to": pl.Date})
    apps, truth = [], []
    for chunk in population.generate(config, borrowers, seed, population.BLOCK_SIZE):
        apps.append(population.applications(chunk))
        truth.append(population.ground_truth(chunk))
    decisions = outcomes.select("customer_id", "approved", "line_limit_fen", "loan_limit_fen")
    pl.concat(apps).join(decisions, on="customer_id", how="left", maintain_order="left") \
        .write_parquet(out / "applications.parquet")
    labels = outcomes.select("customer_id", "defaulted_12m", "ninety_dpd_on",
                             "stopped_paying_on", "fraud_started_on", "closed_on",
                             "observed_to")
    joined = pl.concat(truth).join(labels, on="customer_id", how="left",
                                   maintain_order="left").join(
        decisions.select("customer_id", "approved"), on="customer_id", how="left",
        maintain_order="left")
    joined.write_parquet(out / "labels.parquet")
    return joined


# ---- calibration figures --------------------------------------------------------------

BUCKETS = ("M0", "M1", "M2", "M3", "M3+")

# Where the default configuration's figures should land (docs/simulation.md explains
# each range); a test checks a mid-size run against them.
CALIBRATION_RANGES: dict[str, tuple[float, float]] = {
    "approval_rate": (0.80, 0.99),
    "default_rate_12m": (0.03, 0.10),
    "utilisation": (0.15, 0.45),
    "revolve_share": (0.30, 0.65),
    "fraud_share": (0.015, 0.045),
    "roll_M1_M2": (0.10, 0.40),
    "roll_M2_M3": (0.30, 0.70),
    "roll_M3_M3+": (0.45, 0.90),
}


def portfolio_figures(counts: dict[str, int], labels: pl.DataFrame, borrowers: int
                      ) -> dict[str, float]:
    """The figures docs/simulation.md calibrates against, from a run's counts and labels.

    - approval_rate: approved / applicants;
    - default_rate_12m: approved borrowers 90+ days past due within 12 months of applying
      (right-censored when the run is shorter than 13 months);
    - utilisation: mean share of the limit in use on statement days;
    - revolve_share: statements with something billed left unpaid after the due day;
    - fraud_share: approved borrowers whose fraud really started;
    - roll_M1_M2 …: share of accounts entering a bucket that roll on to the next.
    """
    approved = labels.filter(pl.col("approved"))
    n_approved = approved.height
    figures = {
        "approval_rate": n_approved / borrowers if borrowers else 0.0,
        "default_rate_12m": _share(int(approved["defaulted_12m"].sum()), n_approved),
        "utilisation": _share(counts.get("utilisation_bp_sum", 0),
                              counts.get("utilisation_samples", 0) * 10_000),
        "revolve_share": _share(counts.get("statements_revolved", 0),
                                counts.get("statements_due", 0)),
        "fraud_share": _share(int(approved["fraud_started_on"].is_not_null().sum()),
                              n_approved),
    }
    for earlier, later in pairwise(BUCKETS[1:]):
        entered = counts.get(f"roll:{_before(earlier)}->{earlier}", 0)
        figures[f"roll_{earlier}_{later}"] = _share(
            counts.get(f"roll:{earlier}->{later}", 0), entered)
    return {name: round(value, 4) for name, value in figures.items()}


def _before(bucket: str) -> str:
    return BUCKETS[BUCKETS.index(bucket) - 1]


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0
