"""Behaviour samples read from the event log at an as-of date, and the behaviour models
trained and scored on them (issue #5, items 1 and 8).

``behaviour_sample(store, as_of, window_months)`` reads the log once, in position order,
up to the position that was last when it started (pages of ``read_all``, so a log of any
size streams through), decodes only the events the fold needs
(``BehaviourFold.needs``: everything dated up to the as-of date; after it, only the
delinquency moves and write-offs dated within the window) and hands every event to
``lendguard.risk.behaviour.BehaviourFold``. An event's business date is the date of its
``occurred_at`` (the rule of ``Ledger.history``).

The as-of date must lie within the log's business dates, and with a window so must the
window's end: ``AsOfOutOfRange`` otherwise. It is checked before reading, against the
first and the last event appended (the ledger and the simulator append in business-time
order), and again after, against the earliest and latest dates read. Nothing is written
by a check that fails.

``train_from_log``, ``score_from_log`` and ``features_from_log`` are what ``lendguard
train --from-db``, ``lendguard score --from-db`` and ``lendguard features`` call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from itertools import takewhile
from pathlib import Path

import polars as pl

from lendguard.errors import AsOfOutOfRange, InvalidCommand, TooFewBads, UnknownColumn
from lendguard.events import PayloadDecoder, payload_decoder
from lendguard.ledger.schedule import add_months
from lendguard.risk.artefact import Artefact
from lendguard.risk.behaviour import (
    BEHAVIOUR_FEATURES,
    TARGET,
    AsOf,
    BehaviourFold,
    BehaviourSample,
)
from lendguard.risk.features import MIN_CLASS_ROWS
from lendguard.risk.scorecard import ScorecardOptions
from lendguard.risk.training import TrainingRun, score_table, train_models, write_table
from lendguard.store.base import EventStore, StoredEvent

Progress = Callable[[int], None]
PAGE = 10_000


def log_span(store: EventStore) -> tuple[date, date] | None:
    """The business dates of the first and the last event appended (None: no events)."""
    last = store.last_position()
    if last == 0:
        return None
    first_event = next(iter(store.read_all(0, 1)))
    last_event = next(iter(store.read_all(last - 1, 1)))
    return _day(first_event.occurred_at), _day(last_event.occurred_at)


def check_as_of(as_of: AsOf, first: date | None, last: date | None) -> None:
    """Refuse an as-of date, or a window, that the log's business dates do not cover."""
    if first is None or last is None:
        raise AsOfOutOfRange("the event store holds no events")
    if as_of.day < first:
        raise AsOfOutOfRange(f"as-of date {as_of.day} is before the log's first event "
                             f"({first})")
    if as_of.day > last:
        raise AsOfOutOfRange(f"as-of date {as_of.day} is after the log's last event ({last})")
    if as_of.window_end is not None and as_of.window_end > last:
        latest = add_months(last, -as_of.window_months)
        raise AsOfOutOfRange(
            f"the {as_of.window_months}-month performance window after {as_of.day} ends on "
            f"{as_of.window_end}, after the log's last event ({last}): choose an as-of date "
            f"on or before {latest}, or a shorter window")


def behaviour_sample(store: EventStore, as_of: date, window_months: int = 0,
                     progress: Progress | None = None) -> BehaviourSample:
    """Every customer's behaviour features at ``as_of`` (and, with a window, the target);
    see the module docstring. ``progress`` is called with the number of events read."""
    dates = AsOf.of(as_of, window_months)
    through = store.last_position()
    span = log_span(store)
    check_as_of(dates, *(span or (None, None)))
    accounts = {info.stream_id: (info.category, info.customer_id)
                for info in store.streams()}
    log = takewhile(lambda stored: stored.position <= through, store.read_all(0, PAGE))
    sample = fold_log(log, accounts, dates, progress)
    check_as_of(dates, sample.first_day, sample.last_day)
    return sample


def fold_log(log: Iterable[StoredEvent], accounts: Mapping[str, tuple[str, str]],
             as_of: AsOf, progress: Progress | None = None) -> BehaviourSample:
    """Fold ``log`` (stored events in log order) into the sample at ``as_of``; an event
    is decoded only if the fold needs it. ``accounts``: each stream's kind and customer."""
    fold = BehaviourFold(as_of, accounts)
    days: dict[str, date] = {}
    decoders: dict[tuple[str, int], PayloadDecoder] = {}
    read = 0
    for stored in log:
        text = stored.occurred_at[:10]
        day = days.get(text)
        if day is None:
            day = days[text] = date.fromisoformat(text)
        event = None
        if fold.needs(day, stored.type):
            key = (stored.type, stored.version)
            decode = decoders.get(key)
            if decode is None:
                decode = decoders[key] = payload_decoder(*key, for_folding=True)
            event = decode(stored.data)
        fold.apply(stored.stream_id, day, event)
        read += 1
        if progress is not None and read % PAGE == 0:
            progress(PAGE)
    if progress is not None:
        progress(read % PAGE)
    return fold.sample()


def features_from_log(store: EventStore, as_of: date, out: Path, window_months: int = 0,
                      progress: Progress | None = None) -> BehaviourSample:
    """Write the feature frame (with the target when there is a window) to ``out``."""
    _require_table_path(out)
    sample = behaviour_sample(store, as_of, window_months, progress)
    write_table(sample.frame, out)
    return sample


def train_from_log(store: EventStore, as_of: date, window_months: int, target: str,
                   out: Path, model: str, source: str, *, cv_folds: int = 0,
                   features_out: Path | None = None, reading: Progress | None = None,
                   training: Callable[[str], None] | None = None,
                   scorecard_options: ScorecardOptions | None = None
                   ) -> tuple[BehaviourSample, TrainingRun]:
    """Build the behaviour sample at ``as_of`` with a ``window_months`` window and train
    on it; with ``features_out``, also write the whole feature frame there (only once
    the model is trained: a failed run writes nothing)."""
    if target != TARGET:
        raise UnknownColumn(target, [TARGET])
    if window_months < 1:
        raise InvalidCommand("training needs a performance window of at least one month")
    if features_out is not None:
        _require_table_path(features_out)
    sample = behaviour_sample(store, as_of, window_months, reading)
    frame = sample.training_frame()
    counts = {1: sample.bads, 0: frame.height - sample.bads}
    if min(counts.values()) < MIN_CLASS_ROWS:
        raise TooFewBads(TARGET, counts, MIN_CLASS_ROWS,
                         f"as of {as_of} with a {window_months}-month window")
    run = train_models(frame, TARGET, out, model, source, BEHAVIOUR_FEATURES, cv_folds,
                       training, scorecard_options=scorecard_options)
    if features_out is not None:
        write_table(sample.frame, features_out)
    return sample, run


def score_from_log(artefact: Artefact, store: EventStore, as_of: date, reasons: int = 0,
                   progress: Progress | None = None, language: str = "en") -> pl.DataFrame:
    """Every customer's behaviour features at ``as_of``, scored by ``artefact``."""
    sample = behaviour_sample(store, as_of, 0, progress)
    return score_table(artefact, sample.frame, reasons, language)


def _day(occurred_at: str) -> date:
    return date.fromisoformat(occurred_at[:10])


def _require_table_path(path: Path) -> None:
    if path.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise InvalidCommand(f"{path}: output files must be .csv or .parquet")

