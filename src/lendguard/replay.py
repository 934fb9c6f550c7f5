"""Rebuild every account from the log and check the books.

``replay`` reads the whole log in global order, folds each stream into a fresh state,
derives the journal from the same events, and checks that (1) every stream's sequence
numbers are contiguous, (2) every journal entry balances and the trial balance nets to
zero, and (3) every account's receivables and credit balance in its state equal the same
account's balances in the journal. Anything else is a defect worth stopping for.

Every check but the trial balance concerns one stream, and a stream's events depend on
nothing outside it, so the streams can be shared out between processes: with
``workers=N`` each of N processes (this one and N - 1 forked ones) opens its own
connection, reads only its share of the streams (filtered in the database), folds and
checks them, and hands back its journal, problems and counts, never its account states
(pickling states back cost more than folding them). The journals merge exactly (integer
sums) and the trial balance is checked on the merged one. Problems are listed in the same
order however the streams were shared: by kind, then by stream, then in log order.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from lendguard.events import PayloadDecoder, payload_decoder
from lendguard.ledger.account import AccountState
from lendguard.ledger.accounting import Journal
from lendguard.service import new_state
from lendguard.store.base import EventRow, EventStore, StreamInfo

# Liability accounts hold credits: the journal's net debit is minus the state's figure.
_LIABILITIES = {"2200"}
Progress = Callable[[int], None]


@dataclass
class ReplayReport:
    """The outcome of a replay.

    Attributes:
      streams, events: how many were read.
      seconds: wall time of the replay.
      journal: the journal rebuilt from the log.
      states: every account's rebuilt state (only when asked for with ``keep_states``).
      problems: every mismatch found (empty when the books are right).
      workers: how many processes folded the log.
    """

    streams: int = 0
    events: int = 0
    seconds: float = 0.0
    journal: Journal = field(default_factory=Journal)
    states: dict[str, AccountState] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    workers: int = 1

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def replay(store: EventStore, verify: bool = True, progress: Progress | None = None, *,
           workers: int = 1, keep_states: bool = False) -> ReplayReport:
    """Fold every stream from the log; with ``verify``, check it as the module says.

    ``progress`` is called with the number of events read as pages of the log are folded.
    ``workers``: processes to share the streams between (see the module docstring); one
    process is used when the store cannot be opened from another (``EventStore.opener``)
    or there are fewer streams than workers. ``keep_states``: keep every account's
    rebuilt state in the report; states stay in the process that folded them, so this
    needs ``workers=1``.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if keep_states and workers > 1:
        raise ValueError("keep_states needs workers=1: states stay where they were folded")
    started = time.perf_counter()
    # The end of the log first, then the streams: every stream with an event up to that
    # end is listed, and every process reads to the same end.
    through = store.last_position()
    streams = store.streams()
    opener = store.opener() if workers > 1 else None
    shares = _share_out(streams, workers) if opener is not None else []
    if len(shares) > 1 and opener is not None:
        parts = _fold_in_processes(store, opener, shares, through, verify, progress)
    else:
        rows = store.read_all_rows(through_position=through)
        parts = [_fold_share(rows, _categories(streams), verify, progress, keep_states)]
    report = _merge(parts, verify)
    report.seconds = time.perf_counter() - started
    return report


def default_workers() -> int:
    """The CPUs not already busy: those this process may run on less the 1-minute load
    average, at least one and at most four.

    Two processes do 15-25% more work in all than one (each scans the whole log in the
    database to find its share), so they only win when a second CPU is free; on a
    machine whose CPUs are taken by other work they lose (measured in
    ``docs/benchmarks.md``). At most four: each one more adds that scan again.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    try:
        busy = int(os.getloadavg()[0])
    except OSError:  # no load average on this platform
        busy = 0
    return max(1, min(cpus - busy, 4))


@dataclass
class _Share:
    """What one process folded: its counts, journal, problems (and states, if kept).

    ``sequence_problems`` and ``mismatches`` are (stream id, problem) in log order.
    """

    events: int = 0
    streams: int = 0
    journal: Journal = field(default_factory=Journal)
    states: dict[str, AccountState] = field(default_factory=dict)
    sequence_problems: list[tuple[str, str]] = field(default_factory=list)
    mismatches: list[tuple[str, str]] = field(default_factory=list)


def _categories(streams: Iterable[StreamInfo]) -> dict[str, str]:
    return {info.stream_id: info.category for info in streams}


def _share_out(streams: Sequence[StreamInfo], workers: int) -> list[list[StreamInfo]]:
    """The streams in up to ``workers`` shares of about as many events each (largest
    stream first, each to the lightest share so far); deterministic."""
    count = min(workers, len(streams))
    shares: list[list[StreamInfo]] = [[] for _ in range(count)]
    loads = [0] * count
    for info in sorted(streams, key=lambda s: (-s.version, s.stream_id)):
        lightest = loads.index(min(loads))
        shares[lightest].append(info)
        loads[lightest] += info.version
    return [share for share in shares if share]


def _fold_share(pages: Iterable[Sequence[EventRow]], categories: Mapping[str, str],
                verify: bool, progress: Progress | None, keep_states: bool) -> _Share:
    """Fold (and with ``verify`` check) every stream of ``pages``."""
    share = _Share()
    fold = _fold_and_verify if verify else _fold
    decoders = _Decoders()
    with _no_cycle_collection():
        for page in pages:
            fold(page, categories, decoders, share)
            share.events += len(page)
            if progress is not None:
                progress(len(page))
    share.streams = len(share.states)
    if verify:
        share.mismatches = _mismatches(share.states, share.journal)
    if not keep_states:
        share.states = {}
    return share


def _merge(shares: Sequence[_Share], verify: bool) -> ReplayReport:
    report = ReplayReport(workers=len(shares))
    if len(shares) == 1:
        report.journal, report.states = shares[0].journal, shares[0].states
    for share in shares:
        report.events += share.events
        report.streams += share.streams
        if len(shares) > 1:
            report.journal.merge(share.journal)
    if verify:
        report.problems = _problems(shares, report.journal)
    return report


def _problems(shares: Sequence[_Share], journal: Journal) -> list[str]:
    """Every problem, by kind, then by stream (sorts are stable: log order within one)."""
    def by_stream(found: Iterable[tuple[str, str]]) -> list[str]:
        return [problem for _, problem in sorted(found, key=lambda found: found[0])]

    problems = by_stream(p for share in shares for p in share.sequence_problems)
    problems += [f"unbalanced entry: {e.stream_id} #{e.seq} {e.event_type}"
                 for e in sorted(journal.unbalanced, key=lambda e: (e.stream_id, e.seq))]
    if sum(journal.totals.values()) != 0:
        problems.append(f"trial balance is off by {sum(journal.totals.values())} fen")
    problems += by_stream(p for share in shares for p in share.mismatches)
    return problems


# -- several processes -------------------------------------------------------------------


def _fold_in_processes(store: EventStore, opener: Callable[[], EventStore],
                       shares: Sequence[Sequence[StreamInfo]], through: int, verify: bool,
                       progress: Progress | None) -> list[_Share]:
    """The first share folded here, on ``store``; each other one in a process of its own,
    on its own connection. Each child counts the events it has folded in its own slot of
    a shared array (one writer per slot, so no lock), which this process adds to its own
    count whenever it reports progress."""
    context = _process_context()
    folded = context.Array("q", len(shares) - 1, lock=False)
    children: list[tuple[Any, Connection]] = []
    reported = 0

    def report(count: int) -> None:
        nonlocal reported
        if progress is not None:
            seen = count + sum(folded)
            progress(seen - reported)
            reported = seen

    try:
        for slot, streams in enumerate(shares[1:]):
            receiver, sender = context.Pipe(duplex=False)
            child = context.Process(
                target=_child, daemon=True,
                args=(opener, [s.stream_id for s in streams], _categories(streams), through,
                      verify, folded, slot, sender))
            child.start()
            sender.close()  # so a child that dies makes ``recv`` fail rather than wait
            children.append((child, receiver))
        own = 0

        def count_own(events: int) -> None:
            nonlocal own
            own += events
            report(own)

        rows = store.read_all_rows(stream_ids=[s.stream_id for s in shares[0]],
                                   through_position=through)
        parts = [_fold_share(rows, _categories(shares[0]), verify, count_own, False)]
        parts += [_receive(child, receiver) for child, receiver in children]
    finally:
        for child, receiver in children:
            receiver.close()
            child.join(timeout=10)
            if child.is_alive():
                child.terminate()
    report(parts[0].events)
    return parts


def _process_context() -> Any:
    """Forked processes where the platform has them: a fork starts in milliseconds with
    the codec and the domain already imported, where a fresh interpreter takes half a
    second to import them. The child never touches the parent's connection (it opens its
    own and ends with ``os._exit``), and the parent keeps its own open throughout, which
    is what SQLite's locking needs of a process that inherited an open database."""
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _child(opener: Callable[[], EventStore], stream_ids: list[str],
           categories: dict[str, str], through: int, verify: bool, folded: Any, slot: int,
           sender: Connection) -> None:
    """A child process: fold its share on its own connection and send back the result
    (an exception as its formatted traceback)."""
    try:
        with opener() as store:
            rows = store.read_all_rows(stream_ids=stream_ids, through_position=through)
            count = 0

            def count_folded(events: int) -> None:
                nonlocal count
                count += events
                folded[slot] = count

            result: object = _fold_share(rows, categories, verify, count_folded, False)
    except BaseException:  # anything at all goes back to the parent
        result = _ChildFailed(traceback.format_exc())
    sender.send(result)
    sender.close()


@dataclass(frozen=True)
class _ChildFailed:
    traceback: str


class ReplayFailed(RuntimeError):
    """A replay process failed; the message holds its traceback."""


def _receive(child: Any, receiver: Connection) -> _Share:
    try:
        result = receiver.recv()
    except EOFError:
        child.join(timeout=10)
        raise ReplayFailed(f"a replay process ended without a result "
                           f"(exit code {child.exitcode})") from None
    if isinstance(result, _ChildFailed):
        raise ReplayFailed(f"a replay process failed:\n{result.traceback}")
    if not isinstance(result, _Share):
        raise ReplayFailed(f"a replay process sent {type(result).__name__}")
    return result


# -- folding -----------------------------------------------------------------------------


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Cyclic garbage collection paused while the log is folded.

    A replay allocates millions of objects (events, amounts, account states) and makes no
    reference cycles, but every few hundred allocations the collector runs, and its older
    generations rescan everything the process holds: about 5% of a replay, more in a big
    process. Collection resumes (if it was on) when the fold ends, however it ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Decoders(dict[str, tuple[int, PayloadDecoder]]):
    """Payload decoders by type name, for the schema version met last: replay looks one
    up per event, and a string key is cheaper than a (name, version) pair."""

    def decoder(self, type_name: str, version: int) -> PayloadDecoder:
        decoder = payload_decoder(type_name, version, for_folding=True)
        self[type_name] = (version, decoder)
        return decoder


def _fold(page: Sequence[EventRow], categories: Mapping[str, str], decoders: _Decoders,
          share: _Share) -> None:
    """The hot loop of a replay: decode each event and fold it into its stream's state."""
    states = share.states
    for _, stream_id, seq, type_name, version, data in page:
        state = states.get(stream_id)
        if state is None:
            state = states[stream_id] = new_state(stream_id, categories[stream_id])
        known = decoders.get(type_name)
        decode = known[1] if known is not None and known[0] == version \
            else decoders.decoder(type_name, version)
        state.apply(decode(data))
        state.version = seq


def _fold_and_verify(page: Sequence[EventRow], categories: Mapping[str, str],
                     decoders: _Decoders, share: _Share) -> None:
    """``_fold``, checking sequence numbers and posting the journal as it goes."""
    states = share.states
    journal = share.journal
    for _, stream_id, seq, type_name, version, data in page:
        state = states.get(stream_id)
        if state is None:
            state = states[stream_id] = new_state(stream_id, categories[stream_id])
        if seq != state.version + 1:
            share.sequence_problems.append(
                (stream_id, f"{stream_id}: event {seq} follows {state.version}"))
        known = decoders.get(type_name)
        decode = known[1] if known is not None and known[0] == version \
            else decoders.decoder(type_name, version)
        event = decode(data)
        state.apply(event)
        state.version = seq
        journal.post_event(stream_id, seq, event, categories[stream_id])


def _mismatches(states: Mapping[str, AccountState], journal: Journal) -> list[tuple[str, str]]:
    """Every account balance whose state and journal disagree, as (stream id, problem)."""
    found = []
    for stream_id, state in states.items():
        for account, fen in state.balances().items():
            booked = journal.stream_balance(stream_id, account)
            if account in _LIABILITIES:
                booked = -booked
            if booked != fen:
                found.append((stream_id, f"{stream_id}: account {account} is {fen} fen in "
                                         f"state, {booked} in the journal"))
    return found
