"""Rebuild every account from the log and check the books.

``replay`` reads the whole log in global order, folds each stream into a fresh state,
derives the journal from the same events, and checks that (1) every stream's sequence
numbers are contiguous, (2) every journal entry balances and the trial balance nets to
zero, and (3) every account's receivables and credit balance in its state equal the same
account's balances in the journal. Anything else is a defect worth stopping for.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from lendguard.events import PayloadDecoder, payload_decoder
from lendguard.ledger.account import AccountState
from lendguard.ledger.accounting import Journal
from lendguard.service import new_state
from lendguard.store.base import EventRow, EventStore

# Liability accounts hold credits: the journal's net debit is minus the state's figure.
_LIABILITIES = {"2200"}


@dataclass
class ReplayReport:
    """The outcome of a replay.

    Attributes:
      streams, events: how many were read.
      seconds: wall time of the replay.
      journal: the journal rebuilt from the log.
      states: every account's rebuilt state.
      problems: every mismatch found (empty when the books are right).
    """

    streams: int = 0
    events: int = 0
    seconds: float = 0.0
    journal: Journal = field(default_factory=Journal)
    states: dict[str, AccountState] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def replay(store: EventStore, verify: bool = True,
           progress: Callable[[int], None] | None = None) -> ReplayReport:
    """Fold every stream from the log; with ``verify``, check it as the module says.

    ``progress`` is called with the number of events read after every page of the log.
    """
    report = ReplayReport()
    started = time.perf_counter()
    categories = {info.stream_id: info.category for info in store.streams()}
    fold = _fold_and_verify if verify else _fold
    decoders = _Decoders()
    with _no_cycle_collection():
        for page in store.read_all_rows():
            fold(page, categories, decoders, report)
            report.events += len(page)
            if progress is not None:
                progress(len(page))
    report.streams = len(report.states)
    if verify:
        report.problems += _check_books(report.states, report.journal)
    report.seconds = time.perf_counter() - started
    return report


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
        decoder = payload_decoder(type_name, version)
        self[type_name] = (version, decoder)
        return decoder


def _fold(page: Sequence[EventRow], categories: Mapping[str, str], decoders: _Decoders,
          report: ReplayReport) -> None:
    """The hot loop of a replay: decode each event and fold it into its stream's state."""
    states = report.states
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
                     decoders: _Decoders, report: ReplayReport) -> None:
    """``_fold``, checking sequence numbers and posting the journal as it goes."""
    states = report.states
    journal = report.journal
    for _, stream_id, seq, type_name, version, data in page:
        state = states.get(stream_id)
        if state is None:
            state = states[stream_id] = new_state(stream_id, categories[stream_id])
        if seq != state.version + 1:
            report.problems.append(f"{stream_id}: event {seq} follows {state.version}")
        known = decoders.get(type_name)
        decode = known[1] if known is not None and known[0] == version \
            else decoders.decoder(type_name, version)
        event = decode(data)
        state.apply(event)
        state.version = seq
        journal.post_event(stream_id, seq, event, categories[stream_id])


def _check_books(states: dict[str, AccountState], journal: Journal) -> list[str]:
    problems = [f"unbalanced entry: {e.stream_id} #{e.seq} {e.event_type}"
                for e in journal.unbalanced]
    if sum(journal.totals.values()) != 0:
        problems.append(f"trial balance is off by {sum(journal.totals.values())} fen")
    for stream_id, state in states.items():
        for account, fen in state.balances().items():
            booked = journal.stream_balance(stream_id, account)
            if account in _LIABILITIES:
                booked = -booked
            if booked != fen:
                problems.append(f"{stream_id}: account {account} is {fen} fen in state, "
                                f"{booked} in the journal")
    return problems
