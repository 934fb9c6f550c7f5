"""The one-time code: it expires after 5 minutes, works once, five wrong codes lock
closure for 30 minutes, and every attempt — right or wrong — is an event in the log.
A verified code authorises a confirmation for 15 minutes."""

from __future__ import annotations

from datetime import timedelta

from lendguard.clock import FixedClock
from lendguard.errors import ClosureBlocked, InvalidCommand
from lendguard.ledger.account import Status
from lendguard.ledger.events import (
    AccountClosed,
    ClosureCodeAccepted,
    ClosureCodeIssued,
    ClosureCodeRejected,
    ClosureLocked,
    ClosureRequested,
)
from lendguard.service import Ledger
from tests.closure.support import CUSTOMER, LINE, last_code, open_line, refused, wrong
from tests.conftest import events_of


def rejections(ledger: Ledger) -> list[tuple[str, int]]:
    return [(e.reason, e.failures)
            for e in events_of(ledger.store, LINE, ClosureCodeRejected)]


def test_the_code_is_sent_and_only_its_salted_hash_is_kept(ledger: Ledger) -> None:
    open_line(ledger)
    ledger.request_closure(LINE, "close-1", key="req")
    [message] = ledger.notifier.messages(CUSTOMER)
    assert message.kind == "closure_code" and message.account_id == LINE
    assert len(message.code) == 6 and message.code.isdigit()
    assert message.code in message.text and "5 分钟" in message.text
    [issued] = events_of(ledger.store, LINE, ClosureCodeIssued)
    assert issued.expires_at == "2026-01-01T09:05:00+08:00"
    assert all(message.code not in stored.data for stored in ledger.store.read_stream(LINE))


def test_a_code_expires_after_five_minutes(ledger: Ledger, clock: FixedClock) -> None:
    open_line(ledger)
    ledger.request_closure(LINE, "close-1", key="req-1")
    code = last_code(ledger)
    clock.advance(timedelta(minutes=6))
    check = ledger.verify_closure_code(LINE, "close-1", code, key="late")
    assert (check.accepted, check.reason, check.failures) == (False, "expired", 0)
    refused(ledger, lambda: ledger.confirm_closure(LINE, "close-1", key="confirm-1"),
            InvalidCommand)
    # a fresh request brings a fresh code; the old request's code is no longer asked for
    ledger.request_closure(LINE, "close-2", key="req-2")
    assert ledger.verify_closure_code(LINE, "close-1", code, key="old").reason == "no code"
    assert ledger.verify_closure_code(LINE, "close-2", last_code(ledger), key="new").accepted
    ledger.confirm_closure(LINE, "close-2", key="confirm-2")
    assert rejections(ledger) == [("expired", 0), ("no code", 0)]
    assert ledger.state(LINE).status is Status.CLOSED


def test_a_code_is_still_good_at_exactly_five_minutes(ledger: Ledger,
                                                      clock: FixedClock) -> None:
    open_line(ledger)
    ledger.request_closure(LINE, "close-1", key="req")
    clock.advance(timedelta(minutes=5))
    assert ledger.verify_closure_code(LINE, "close-1", last_code(ledger), key="v").accepted


def test_a_code_works_only_once(ledger: Ledger) -> None:
    open_line(ledger)
    ledger.request_closure(LINE, "close-1", key="req")
    code = last_code(ledger)
    assert ledger.verify_closure_code(LINE, "close-1", code, key="first").accepted
    again = ledger.verify_closure_code(LINE, "close-1", code, key="second")
    assert (again.accepted, again.reason) == (False, "used")
    assert len(events_of(ledger.store, LINE, ClosureCodeAccepted)) == 1
    assert rejections(ledger) == [("used", 0)]
    ledger.confirm_closure(LINE, "close-1", key="confirm")  # the first acceptance stands


def test_five_wrong_codes_lock_closure_for_thirty_minutes(ledger: Ledger,
                                                          clock: FixedClock) -> None:
    open_line(ledger)
    ledger.request_closure(LINE, "close-1", key="req")
    code = last_code(ledger)
    checks = [ledger.verify_closure_code(LINE, "close-1", wrong(code), key=f"wrong-{n}")
              for n in range(5)]
    assert [c.reason for c in checks] == ["wrong"] * 5
    assert [c.failures for c in checks[:4]] == [1, 2, 3, 4]
    assert checks[4].locked_until == "2026-01-01T09:30:00+08:00"  # 09:00 + 30 minutes
    [locked] = events_of(ledger.store, LINE, ClosureLocked)
    assert locked.until == "2026-01-01T09:30:00+08:00"
    # locked: even the right code is refused, and so is a new request
    check = ledger.verify_closure_code(LINE, "close-1", code, key="right-but-locked")
    assert (check.accepted, check.reason) == (False, "locked")
    refused(ledger, lambda: ledger.request_closure(LINE, "close-2", key="too-soon"),
            ClosureBlocked)
    clock.advance(timedelta(minutes=29))
    refused(ledger, lambda: ledger.request_closure(LINE, "close-2", key="still-too-soon"),
            ClosureBlocked)
    # the lock-out ended the old request: its code is dead for good
    clock.advance(timedelta(minutes=1))
    assert ledger.verify_closure_code(LINE, "close-1", code, key="after").reason == "no code"
    ledger.request_closure(LINE, "close-2", key="req-2")
    assert ledger.verify_closure_code(LINE, "close-2", last_code(ledger), key="new").accepted
    ledger.confirm_closure(LINE, "close-2", key="confirm")
    assert ledger.state(LINE).status is Status.CLOSED
    # every attempt is in the log: 5 wrong + locked + no code rejected, 1 accepted
    assert rejections(ledger) == [("wrong", 1), ("wrong", 2), ("wrong", 3), ("wrong", 4),
                                  ("wrong", 5), ("locked", 0), ("no code", 0)]
    assert len(events_of(ledger.store, LINE, ClosureCodeAccepted)) == 1
    assert len(events_of(ledger.store, LINE, ClosureRequested)) == 2


def test_a_right_code_resets_the_wrong_code_count(ledger: Ledger) -> None:
    open_line(ledger)
    ledger.request_closure(LINE, "close-1", key="req")
    code = last_code(ledger)
    for n in range(4):
        ledger.verify_closure_code(LINE, "close-1", wrong(code), key=f"wrong-{n}")
    assert ledger.verify_closure_code(LINE, "close-1", code, key="right").accepted
    assert ledger.state(LINE).code_failures == 0
    assert events_of(ledger.store, LINE, ClosureLocked) == []


def test_wrong_codes_count_across_requests(ledger: Ledger) -> None:
    # A new request does not wipe the slate: 3 wrong on one code and 2 on the next lock.
    open_line(ledger)
    ledger.request_closure(LINE, "close-1", key="req-1")
    for n in range(3):
        ledger.verify_closure_code(LINE, "close-1", wrong(last_code(ledger)), key=f"a{n}")
    ledger.request_closure(LINE, "close-2", key="req-2")
    for n in range(2):
        ledger.verify_closure_code(LINE, "close-2", wrong(last_code(ledger)), key=f"b{n}")
    assert len(events_of(ledger.store, LINE, ClosureLocked)) == 1


def test_an_expired_or_unknown_request_does_not_count_as_a_wrong_code(
        ledger: Ledger, clock: FixedClock) -> None:
    open_line(ledger)
    ledger.request_closure(LINE, "close-1", key="req")
    for n in range(5):
        ledger.verify_closure_code(LINE, "nope", "123456", key=f"unknown-{n}")
    clock.advance(timedelta(minutes=6))
    for n in range(5):
        ledger.verify_closure_code(LINE, "close-1", "123456", key=f"late-{n}")
    assert rejections(ledger) == [("no code", 0)] * 5 + [("expired", 0)] * 5
    assert events_of(ledger.store, LINE, ClosureLocked) == []


def test_a_verification_authorises_confirmation_for_fifteen_minutes(
        ledger: Ledger, clock: FixedClock) -> None:
    open_line(ledger)
    ledger.request_closure(LINE, "close-1", key="req-1")
    assert ledger.verify_closure_code(LINE, "close-1", last_code(ledger), key="v-1").accepted
    clock.advance(timedelta(minutes=15, seconds=1))
    refused(ledger, lambda: ledger.confirm_closure(LINE, "close-1", key="stale"),
            InvalidCommand)
    ledger.request_closure(LINE, "close-2", key="req-2")
    assert ledger.verify_closure_code(LINE, "close-2", last_code(ledger), key="v-2").accepted
    clock.advance(timedelta(minutes=15))
    ledger.confirm_closure(LINE, "close-2", key="in-time")
    assert ledger.state(LINE).status is Status.CLOSED


def test_confirmation_needs_a_verified_code_for_that_request(ledger: Ledger) -> None:
    open_line(ledger)
    refused(ledger, lambda: ledger.confirm_closure(LINE, "close-1", key="no-request"),
            InvalidCommand)
    ledger.request_closure(LINE, "close-1", key="req")
    refused(ledger, lambda: ledger.confirm_closure(LINE, "close-1", key="unverified"),
            InvalidCommand)
    ledger.verify_closure_code(LINE, "close-1", wrong(last_code(ledger)), key="wrong")
    refused(ledger, lambda: ledger.confirm_closure(LINE, "close-1", key="wrong-code"),
            InvalidCommand)
    ledger.verify_closure_code(LINE, "close-1", last_code(ledger), key="right")
    refused(ledger, lambda: ledger.confirm_closure(LINE, "close-9", key="other"),
            InvalidCommand)
    assert events_of(ledger.store, LINE, AccountClosed) == []
    ledger.confirm_closure(LINE, "close-1", key="confirm")
    [closed] = events_of(ledger.store, LINE, AccountClosed)
    assert (closed.request_id, closed.verification, closed.closed_by) == (
        "close-1", "hotp-code", "user:borrower")
