"""Two processes racing drawdowns on one account never exceed the limit together.

Each process runs its own ``Ledger`` on the same store (the same SQLite file, or the same
PostgreSQL schema) and draws loans until the limit says no. Optimistic concurrency makes
the loser of every race reload and decide again, so the sum drawn is at most the limit and
every successful drawdown is in the log exactly once.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from datetime import datetime
from pathlib import Path

import pytest

from lendguard.clock import DEFAULT_TZ, FixedClock
from lendguard.errors import ConcurrencyConflict, InsufficientLimit
from lendguard.money import Money
from lendguard.replay import replay
from lendguard.service import Ledger
from tests.store.conftest import ADAPTERS, StoreSpec, fresh_store_spec

LIMIT = 1_000_000  # 10,000.00
DRAW = 3_000  # 30.00: 333 fit between the two processes, the 334th must fail


def _ledger(spec: StoreSpec) -> Ledger:
    return Ledger(spec.open(), FixedClock(datetime(2026, 5, 1, 12, tzinfo=DEFAULT_TZ)))


def _draw_until_refused(spec: StoreSpec, worker: int, start: mp.synchronize.Barrier) -> int:
    ledger = _ledger(spec)
    start.wait()
    drawn = 0
    for n in range(LIMIT // DRAW + 1):
        while True:
            try:
                ledger.draw("CA", f"W{worker}-{n}", Money(DRAW), 3, "equal_instalment",
                            key=f"draw-{worker}-{n}")
            except ConcurrencyConflict:
                continue  # a client retries with the same idempotency key
            except InsufficientLimit:
                ledger.store.close()
                return drawn
            break
        drawn += 1
        # A real client does something between commands; without a pause SQLite's busy
        # handler lets the process holding the lock keep it, and no race is exercised.
        time.sleep(0.001)
    ledger.store.close()
    return drawn


@pytest.mark.slow
@pytest.mark.parametrize("kind", ADAPTERS)
def test_racing_drawdowns_never_exceed_the_limit(kind: str, tmp_path: Path) -> None:
    with fresh_store_spec(kind, tmp_path) as spec:
        setup = _ledger(spec)
        setup.open_cash_loan("CA", "C1", Money(LIMIT), key="open")
        context = mp.get_context("spawn")
        with context.Manager() as manager:
            barrier = manager.Barrier(2)
            with context.Pool(2) as pool:
                counts = pool.starmap(_draw_until_refused,
                                      [(spec, 0, barrier), (spec, 1, barrier)])
        state = setup.cash_loan("CA")
        assert sum(counts) == LIMIT // DRAW == len(state.loans)
        assert state.occupied() <= LIMIT
        assert all(count > 0 for count in counts), f"no real race happened: {counts}"
        report = replay(setup.store)
        assert report.ok, report.problems
        setup.store.close()
