"""Closing both products, and the conversation ``run_closure`` walks a borrower through
(the one behind ``lendguard close``): one code for both accounts, each closing on its
own, a blocked one never holding the other back; a stale verification or a lock-out
told as it is."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from rich.console import Console

from lendguard.clock import FixedClock
from lendguard.closing import CloseRequest, Outcome, run_closure
from lendguard.errors import ClosureBlocked
from lendguard.ledger.account import Status
from lendguard.ledger.events import (
    ClosureCodeIssued,
    ClosureRequested,
    CreditBalanceRefunded,
    RepaymentReceived,
)
from lendguard.money import Money
from lendguard.service import Ledger
from tests.closure.support import (
    CUSTOMER,
    LINE,
    LOAN,
    buy,
    kinds,
    last_code,
    open_line,
    open_loan,
    wrong,
)
from tests.conftest import BusinessDays, events_of


def closing(ledger: Ledger, request: CloseRequest) -> tuple[list[Outcome], str]:
    """Run the conversation without a terminal; the outcomes and what it printed."""
    out = io.StringIO()
    outcomes = run_closure(ledger, request, Console(file=out, width=200), interactive=False)
    return outcomes, " ".join(out.getvalue().split())


def stages(outcomes: list[Outcome]) -> dict[str, str]:
    return {o.account_id: o.stage for o in outcomes}


def test_one_code_closes_both_products(ledger: Ledger) -> None:
    open_line(ledger)
    open_loan(ledger)
    results = ledger.request_closures([LINE, LOAN], "close-both", key="both")
    assert [r.duplicate for r in results] == [False, False]
    [message] = ledger.notifier.messages(CUSTOMER)
    assert message.account_id == f"{LINE}, {LOAN}" and message.code in message.text
    # each account records its own request, with the same code (hashed, salted once)
    issued = [events_of(ledger.store, a, ClosureCodeIssued) for a in (LINE, LOAN)]
    assert [len(i) for i in issued] == [1, 1]
    assert issued[0][0].code_hash == issued[1][0].code_hash
    for account in (LINE, LOAN):
        [requested] = events_of(ledger.store, account, ClosureRequested)
        assert requested.request_id == "close-both"
        assert ledger.verify_closure_code(account, "close-both", message.code,
                                          key=f"verify-{account}").accepted
    ledger.confirm_closure(LOAN, "close-both", key="confirm-loan")
    assert ledger.state(LOAN).status is Status.CLOSED
    assert ledger.state(LINE).status is Status.ACTIVE  # closes on its own confirmation
    ledger.confirm_closure(LINE, "close-both", key="confirm-line")
    assert ledger.state(LINE).status is Status.CLOSED
    # asking again is a duplicate: no second message
    ledger.request_closures([LINE, LOAN], "close-both", key="both")
    assert len(ledger.notifier.messages(CUSTOMER)) == 1


def test_a_purchase_on_one_blocks_only_that_one(ledger: Ledger) -> None:
    open_line(ledger)
    open_loan(ledger)
    ledger.request_closures([LINE, LOAN], "close-both", key="both")
    for account in (LINE, LOAN):
        ledger.verify_closure_code(account, "close-both", last_code(ledger),
                                   key=f"verify-{account}")
    buy(ledger, "O-1", 999, settle=False)
    with pytest.raises(ClosureBlocked):
        ledger.confirm_closure(LINE, "close-both", key="confirm-line")
    ledger.confirm_closure(LOAN, "close-both", key="confirm-loan")
    assert (ledger.state(LINE).status, ledger.state(LOAN).status) == (Status.ACTIVE,
                                                                      Status.CLOSED)


def test_a_blocked_account_in_a_joint_request_leaves_no_undelivered_code(
        ledger: Ledger) -> None:
    open_line(ledger)
    open_loan(ledger)
    ledger.draw(LOAN, "L-1", Money(10_000), 3, "equal_principal", key="draw")
    with pytest.raises(ClosureBlocked):
        ledger.request_closures([LINE, LOAN], "close-both", key="both")
    delivered = ledger.notifier.messages(CUSTOMER) != []
    assert delivered or ledger.state(LINE).closure is None


def test_run_closure_closes_the_free_one_when_the_other_is_blocked(
        ledger: Ledger, days: BusinessDays) -> None:
    open_line(ledger)
    open_loan(ledger)
    ledger.draw(LOAN, "L-1", Money(200_000), 6, "interest_first", key="draw")
    days.go_to(date(2026, 1, 16))
    outcomes, printed = closing(ledger, CloseRequest(LINE, both=True, yes=True))
    assert stages(outcomes) == {LOAN: "blocked", LINE: "code sent"}
    # 2,000.00 for 15 days × 0.80 a day = 12.00 interest → 2,012.00 to pay it off today
    [loan] = next(o for o in outcomes if o.account_id == LOAN).blockers
    assert (loan.kind, loan.reference, loan.amount) == ("loan", "L-1", 201_200)
    assert "2,012.00" in printed and "code was sent" in printed
    [message] = ledger.notifier.messages(CUSTOMER)
    assert message.account_id == LINE
    outcomes, _ = closing(ledger, CloseRequest(LINE, both=True, code=message.code, yes=True))
    assert stages(outcomes) == {LOAN: "blocked", LINE: "closed"}
    assert ledger.state(LINE).status is Status.CLOSED
    assert ledger.state(LOAN).status is Status.ACTIVE
    # once the loan is repaid, closing "both" again closes the loan; the line stays closed
    ledger.pay_off(LOAN, "R-1", key="payoff")
    outcomes, _ = closing(ledger, CloseRequest(LOAN, both=True, yes=True))
    assert stages(outcomes) == {LINE: "already closed", LOAN: "code sent"}
    outcomes, _ = closing(ledger, CloseRequest(LOAN, both=True, code=last_code(ledger),
                                               yes=True))
    assert stages(outcomes) == {LINE: "already closed", LOAN: "closed"}
    assert all(o.closed for o in outcomes)


def test_run_closure_pays_off_both_and_closes_them(ledger: Ledger,
                                                   days: BusinessDays) -> None:
    open_line(ledger)
    open_loan(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", 40_000)
    buy(ledger, "O-2", 6_000)
    ledger.repay(LINE, "R-0", Money(46_000), key="early")
    ledger.refund(LINE, "O-2", Money(6_000), key="refund")  # 60.00 back as a credit balance
    ledger.draw(LOAN, "L-1", Money(500_000), 3, "equal_principal", key="draw")
    days.go_to(date(2026, 1, 9))
    buy(ledger, "O-3", 12_000)
    # line: O-3 unbilled 120.00 and the 60.00 credit balance; loan: 5,000.00 for 4 days
    # × 2.00 = 8.00 → 5,008.00
    outcomes, printed = closing(ledger, CloseRequest(LINE, both=True, pay_off=True, yes=True))
    assert stages(outcomes) == {LINE: "code sent", LOAN: "code sent"}
    assert "Paying off CL-1" in printed and "Paying off CA-1" in printed
    assert events_of(ledger.store, LINE, RepaymentReceived)[-1].amount == Money(12_000)
    assert events_of(ledger.store, LINE, CreditBalanceRefunded)[-1].amount == Money(6_000)
    assert events_of(ledger.store, LOAN, RepaymentReceived)[-1].amount == Money(500_800)
    [message] = ledger.notifier.messages(CUSTOMER)
    assert set(message.account_id.split(", ")) == {LINE, LOAN}
    outcomes, _ = closing(ledger, CloseRequest(LINE, both=True, code=message.code, yes=True))
    assert stages(outcomes) == {LINE: "closed", LOAN: "closed"}


def test_without_pay_off_nothing_is_paid(ledger: Ledger) -> None:
    open_line(ledger)
    buy(ledger, "O-1", 12_000)
    before = ledger.store.last_position()
    outcomes, _ = closing(ledger, CloseRequest(LINE, yes=True))
    assert stages(outcomes) == {LINE: "blocked"}
    assert kinds(outcomes[0].blockers) == ["unbilled"]
    assert ledger.store.last_position() == before


def test_pay_off_cannot_clear_a_pending_order(ledger: Ledger) -> None:
    open_line(ledger)
    buy(ledger, "O-1", 12_000)
    buy(ledger, "O-2", 3_000, settle=False)
    outcomes, _ = closing(ledger, CloseRequest(LINE, pay_off=True, yes=True))
    assert stages(outcomes) == {LINE: "blocked"}
    assert kinds(outcomes[0].blockers) == ["pending_order"]
    assert ledger.credit_line(LINE).unbilled_total() == 0  # the payable part was paid


def test_not_confirmed_without_yes(ledger: Ledger) -> None:
    open_line(ledger)
    closing(ledger, CloseRequest(LINE))
    outcomes, _ = closing(ledger, CloseRequest(LINE, code=last_code(ledger)))
    assert stages(outcomes) == {LINE: "not confirmed"}
    assert ledger.state(LINE).status is Status.ACTIVE


def test_a_stale_verification_leads_to_a_new_code(ledger: Ledger, clock: FixedClock) -> None:
    # Verified, not confirmed, and back 20 minutes later: the verification has lapsed
    # (15 minutes), so the conversation must send a new code rather than insist on it.
    open_line(ledger)
    closing(ledger, CloseRequest(LINE))
    first = last_code(ledger)
    outcomes, _ = closing(ledger, CloseRequest(LINE, code=first))
    assert stages(outcomes) == {LINE: "not confirmed"}
    clock.advance(timedelta(minutes=20))
    outcomes, _ = closing(ledger, CloseRequest(LINE, code=first, yes=True))
    assert stages(outcomes) == {LINE: "code sent"}
    assert len(ledger.notifier.messages(CUSTOMER)) == 2
    outcomes, _ = closing(ledger, CloseRequest(LINE, code=last_code(ledger), yes=True))
    assert stages(outcomes) == {LINE: "closed"}


def test_the_fifth_wrong_code_says_closure_is_locked(ledger: Ledger) -> None:
    open_line(ledger)
    closing(ledger, CloseRequest(LINE))
    bad = wrong(last_code(ledger))
    said = [closing(ledger, CloseRequest(LINE, code=bad, yes=True))[1] for _ in range(5)]
    assert "4 tries left" in said[0] and "1 tries left" in said[3]
    assert "tries left" not in said[4]
    assert "locked until 09:30" in said[4]
    outcomes, printed = closing(ledger, CloseRequest(LINE, yes=True))
    assert stages(outcomes) == {LINE: "blocked"}
    assert kinds(outcomes[0].blockers) == ["locked"] and "locked until 09:30" in printed
