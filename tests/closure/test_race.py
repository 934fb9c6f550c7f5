"""The race between a verified closure and new business.

A purchase, drawdown or refund that lands after the code was verified makes the
confirmation fail with that blocker named, and nothing is half-closed: the re-check and
the ``AccountClosed`` event are one atomic append against the state they were decided on.

The two-process race runs on SQLite and PostgreSQL: one process confirms the closure while
the other buys and refunds in a loop. Either the closure was blocked, or the account
closed and every purchase after it was refused; never a closed account with a pending
order or any balance. The log replays and verifies in both cases.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path

import pytest

from lendguard.clock import DEFAULT_TZ, FixedClock
from lendguard.errors import AccountNotActive, ClosureBlocked, ConcurrencyConflict
from lendguard.ledger.account import Status
from lendguard.ledger.events import AccountClosed, PurchaseMade, PurchaseRefunded
from lendguard.money import Money
from lendguard.notify import CodeSource
from lendguard.replay import replay
from lendguard.service import Ledger
from tests.closure.support import (
    LINE,
    LOAN,
    buy,
    kinds,
    last_code,
    named,
    open_line,
    open_loan,
    refused,
)
from tests.conftest import events_of
from tests.store.conftest import ADAPTERS, StoreSpec, fresh_store_spec


def verified(ledger: Ledger, account: str, request_id: str = "close-1") -> None:
    ledger.request_closure(account, request_id, key=f"req-{account}")
    assert ledger.verify_closure_code(account, request_id, last_code(ledger),
                                      key=f"verify-{account}").accepted


def test_a_purchase_after_verification_blocks_the_confirmation(ledger: Ledger) -> None:
    open_line(ledger)
    verified(ledger, LINE)
    buy(ledger, "O-9", 12_345, settle=False)
    raised = refused(ledger, lambda: ledger.confirm_closure(LINE, "close-1", key="confirm"),
                     ClosureBlocked)
    assert isinstance(raised.value, ClosureBlocked)
    assert [(b.kind, b.reference, b.amount) for b in named(raised.value)] == [
        ("pending_order", "O-9", 12_345)]
    assert "O-9" in str(raised.value)
    line = ledger.credit_line(LINE)
    assert (line.status, line.closed) == (Status.ACTIVE, None)
    assert events_of(ledger.store, LINE, AccountClosed) == []
    # still an ordinary open account: it takes purchases; once the order is refunded, the
    # verification (within its 15 minutes) still confirms
    buy(ledger, "O-10", 100, settle=False)
    ledger.refund(LINE, "O-9", Money(12_345), key="refund-9")
    ledger.refund(LINE, "O-10", Money(100), key="refund-10")
    ledger.confirm_closure(LINE, "close-1", key="confirm-again")
    assert ledger.state(LINE).status is Status.CLOSED


def test_a_drawdown_after_verification_blocks_the_confirmation(ledger: Ledger) -> None:
    open_loan(ledger)
    verified(ledger, LOAN)
    ledger.draw(LOAN, "L-9", Money(100_000), 3, "equal_instalment", key="draw")
    raised = refused(ledger, lambda: ledger.confirm_closure(LOAN, "close-1", key="confirm"),
                     ClosureBlocked)
    assert isinstance(raised.value, ClosureBlocked)
    # drawn today: the payoff is the principal alone, no day of interest yet
    assert [(b.kind, b.reference, b.amount) for b in named(raised.value)] == [
        ("loan", "L-9", 100_000)]
    assert ledger.state(LOAN).status is Status.ACTIVE


def test_a_refund_after_verification_blocks_the_confirmation(ledger: Ledger) -> None:
    open_line(ledger)
    buy(ledger, "O-1", 5_000)
    ledger.repay(LINE, "R-1", Money(5_000), key="repay")
    verified(ledger, LINE)
    ledger.refund(LINE, "O-1", Money(5_000), key="refund")  # repaid already: 50.00 credit
    raised = refused(ledger, lambda: ledger.confirm_closure(LINE, "close-1", key="confirm"),
                     ClosureBlocked)
    assert isinstance(raised.value, ClosureBlocked)
    assert [(b.kind, b.amount) for b in named(raised.value)] == [("credit_balance", 5_000)]
    ledger.refund_credit_balance(LINE, key="give-back")
    ledger.confirm_closure(LINE, "close-1", key="confirm-again")
    assert ledger.state(LINE).balances()["2200"] == 0


def test_a_freeze_after_verification_blocks_the_confirmation(ledger: Ledger) -> None:
    open_line(ledger)
    verified(ledger, LINE)
    ledger.freeze(LINE, "fraud check", key="freeze")
    raised = refused(ledger, lambda: ledger.confirm_closure(LINE, "close-1", key="confirm"),
                     ClosureBlocked)
    assert isinstance(raised.value, ClosureBlocked)
    assert [getattr(b, "kind", "") for b in named(raised.value)] == ["frozen"]


# ---- two processes ---------------------------------------------------------------------

WHEN = datetime(2026, 5, 1, 12, tzinfo=DEFAULT_TZ)
PURCHASES = 120


def _ledger(spec: StoreSpec) -> Ledger:
    return Ledger(spec.open(), FixedClock(WHEN), actor="user:race",
                  codes=CodeSource(seed=7))


def _confirm(spec: StoreSpec, request_id: str, start: mp.synchronize.Barrier,
             delay: float) -> str:
    ledger = _ledger(spec)
    start.wait()
    time.sleep(delay)  # let the buyer get going, so the confirmation lands mid-stream
    try:
        ledger.confirm_closure(LINE, request_id, key="confirm")
    except ClosureBlocked as blocked:
        outcome = "blocked:" + ",".join(kinds(named(blocked)))
    else:
        outcome = "closed"
    ledger.store.close()
    return outcome


def _retrying(call: Callable[[], object]) -> None:
    while True:
        try:
            call()
        except ConcurrencyConflict:
            continue  # a client retries with the same idempotency key
        return


def _buy_in_a_loop(spec: StoreSpec, start: mp.synchronize.Barrier) -> list[str]:
    """Buy 1.00 and refund it in full, again and again; what happened to each purchase."""
    ledger = _ledger(spec)
    start.wait()
    outcomes: list[str] = []
    for n in range(PURCHASES):
        order = f"O-{n}"
        try:
            _retrying(partial(ledger.purchase, LINE, order, Money(100), "shop", "retail",
                              "app", key=f"buy-{order}"))
        except AccountNotActive:
            outcomes.append("refused")
            continue
        time.sleep(0.001)
        # A pending order blocks closure, so the account cannot have closed under it.
        _retrying(partial(ledger.refund, LINE, order, Money(100), key=f"refund-{order}"))
        outcomes.append("bought")
        time.sleep(0.001)
    ledger.store.close()
    return outcomes


@pytest.mark.slow
@pytest.mark.parametrize("kind", ADAPTERS)
@pytest.mark.parametrize("delay", [0.02, 0.08])
def test_confirming_while_purchases_stream_in(kind: str, delay: float,
                                              tmp_path: Path) -> None:
    with fresh_store_spec(kind, tmp_path) as spec:
        setup = _ledger(spec)
        setup.open_credit_line(LINE, "C-1", Money(1_000_000), key="open")
        setup.request_closure(LINE, "close-1", key="req")
        code = setup.notifier.messages("C-1")[-1].code
        assert setup.verify_closure_code(LINE, "close-1", code, key="verify").accepted
        context = mp.get_context("spawn")
        with context.Manager() as manager:
            barrier = manager.Barrier(2)
            with context.Pool(2) as pool:
                closing = pool.apply_async(_confirm, (spec, "close-1", barrier, delay))
                buying = pool.apply_async(_buy_in_a_loop, (spec, barrier))
                outcome, purchases = closing.get(timeout=120), buying.get(timeout=120)
        line = setup.credit_line(LINE)
        made = events_of(setup.store, LINE, PurchaseMade)
        assert len(made) == purchases.count("bought")
        assert len(events_of(setup.store, LINE, PurchaseRefunded)) == len(made)
        if outcome == "closed":
            assert line.status is Status.CLOSED
            # nothing at all after the closing event: every later purchase was refused
            stream = [s.type for s in setup.store.read_stream(LINE)]
            assert stream[-1] == "AccountClosed"
            first_refused = purchases.index("refused")
            assert purchases[first_refused:] == ["refused"] * (PURCHASES - first_refused)
            assert all(v == 0 for v in line.balances().values())
            assert line.pending_total() == 0 and setup.closure_blockers(LINE) == []
        else:
            assert outcome == "blocked:pending_order", outcome
            assert line.status is Status.ACTIVE
            assert events_of(setup.store, LINE, AccountClosed) == []
            assert purchases == ["bought"] * PURCHASES
        assert kinds(setup.closure_blockers(LINE)) == []
        report = replay(setup.store, keep_states=True)
        assert report.ok, report.problems
        assert report.states[LINE].status is line.status
        setup.store.close()
