"""Rebuild every account from the log and check the books.

``replay`` reads the whole log in global order, folds each stream into a fresh state,
derives the journal from the same events, and checks that (1) every stream's sequence
numbers are contiguous, (2) every journal entry balances and the trial balance nets to
zero, and (3) every account's receivables and credit balance in its state equal the same
account's balances in the journal. Anything else is a defect worth stopping for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lendguard.events import decode_event
from lendguard.ledger.account import AccountState
from lendguard.ledger.accounting import Journal
from lendguard.service import new_state
from lendguard.store.base import EventStore

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
    """Fold every stream from the log; with ``verify``, check it as the module says."""
    report = ReplayReport()
    started = time.perf_counter()
    categories = {info.stream_id: info.category for info in store.streams()}
    states = report.states
    journal = report.journal
    for stored in store.read_all():
        state = states.get(stored.stream_id)
        if state is None:
            state = new_state(stored.stream_id, categories[stored.stream_id])
            states[stored.stream_id] = state
        if verify and stored.seq != state.version + 1:
            report.problems.append(
                f"{stored.stream_id}: event {stored.seq} follows {state.version}")
        event = decode_event(stored.type, stored.version, stored.data)
        state.apply(event)
        state.version = stored.seq
        if verify:
            journal.post_event(stored.stream_id, stored.seq, event,
                               categories[stored.stream_id])
        report.events += 1
        if progress is not None and report.events % 10_000 == 0:
            progress(10_000)
    if progress is not None:
        progress(report.events % 10_000)
    report.streams = len(states)
    if verify:
        report.problems += _check_books(states, journal)
    report.seconds = time.perf_counter() - started
    return report


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
