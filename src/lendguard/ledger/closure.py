"""Closing an account safely: every blocker named, a one-time code, an explicit
confirmation, and a re-check in the same decision that closes.

The flow, for either product:

1. ``blockers(state, on)`` lists *everything* that stands between the borrower and a
   closed account, each with what to do, the exact amount and the date. It backs the CLI,
   the Python API and (later) the REST API alike.
2. ``decide_request`` records ``ClosureRequested`` and ``ClosureCodeIssued`` (a salted hash
   of a one-time code; the code itself goes out through the notification port) — only if
   nothing blocks and the account is not locked out.
3. ``decide_verify`` checks a code: right, wrong, expired, already used, or locked out.
   Every attempt is an event; the fifth wrong code locks closure for 30 minutes.
4. ``decide_confirm`` closes, re-checking every blocker against the state it appends to,
   so a purchase, drawdown or refund that slipped in after the code was sent makes the
   closure fail with that blocker named. Nothing is ever half-closed.

Pure: codes are generated and delivered by the service; here they are only compared.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from lendguard.errors import AccountNotActive, ClosureBlocked, InvalidCommand
from lendguard.events import Event
from lendguard.ledger import cash_loan, credit_line
from lendguard.ledger.account import AccountState, Status
from lendguard.ledger.cash_loan import CashLoanState
from lendguard.ledger.credit_line import CreditLineState
from lendguard.ledger.events import (
    AccountClosed,
    ClosureCodeAccepted,
    ClosureCodeIssued,
    ClosureCodeRejected,
    ClosureLocked,
    ClosureRequested,
)
from lendguard.money import format_fen

CODE_VALIDITY = timedelta(minutes=5)
MAX_WRONG_CODES = 5
LOCK_OUT = timedelta(minutes=30)
# A verified code authorises a confirmation for this long; then verify again.
CONFIRMATION_WINDOW = timedelta(minutes=15)
VERIFICATION_METHOD = "hotp-code"


@dataclass(frozen=True, slots=True)
class Blocker:
    """One thing that stands between the borrower and a closed account.

    Attributes:
      kind: stable code (``statement_balance``, ``unbilled``, ``instalment_plan``,
        ``pending_order``, ``repayment_in_flight``, ``credit_balance``, ``dispute``,
        ``loan``, ``frozen``, ``written_off``, ``locked``).
      account_id: the account it is on.
      reference: the statement, order, plan, loan, repayment or dispute concerned.
      amount: fen involved (0 when no money is).
      by: the date it matters by (a due date, today for a payoff), if any.
      what, what_zh: what it is, in English and Chinese.
      action, action_zh: what to do about it.
      payable: the borrower can clear it by paying ``amount`` now.
    """

    kind: str
    account_id: str
    reference: str
    amount: int
    by: date | None
    what: str
    what_zh: str
    action: str
    action_zh: str
    payable: bool = False


def _y(fen: int) -> str:
    return format_fen(fen)


def blockers(state: AccountState, on: date, now: datetime | None = None) -> list[Blocker]:
    """Every blocker of closing ``state`` on ``on`` (empty: it can be closed)."""
    found = _status_blockers(state, now)
    if isinstance(state, CreditLineState):
        found += _credit_line_blockers(state, on)
    elif isinstance(state, CashLoanState):
        found += _cash_loan_blockers(state, on)
    found += _shared_blockers(state, on)
    return found


def _status_blockers(state: AccountState, now: datetime | None) -> list[Blocker]:
    a = state.account_id
    found: list[Blocker] = []
    if state.status is Status.FROZEN:
        found.append(Blocker("frozen", a, "", 0, None, "the account is frozen",
                             "账户已冻结", "contact the lender to lift the freeze",
                             "联系放贷机构解除冻结"))
    unrecovered = state.written_off - state.recovered
    if state.status is Status.WRITTEN_OFF and unrecovered > 0:
        found.append(Blocker("written_off", a, "", unrecovered, None,
                             f"{_y(unrecovered)} was written off and is with collections",
                             f"已核销欠款 {_y(unrecovered)}，已转入催收",
                             f"settle the {_y(unrecovered)} with collections first",
                             f"先与催收部门结清 {_y(unrecovered)}"))
    if now is not None and state.locked_until is not None and now < state.locked_until:
        until = state.locked_until.strftime("%H:%M")
        found.append(Blocker("locked", a, "", 0, None,
                             f"too many wrong codes: closure is locked until {until}",
                             f"验证码错误次数过多，{until} 前不能注销",
                             "wait and request a new code", "稍后重新获取验证码"))
    return found


def _credit_line_blockers(state: CreditLineState, on: date) -> list[Blocker]:
    a = state.account_id
    found: list[Blocker] = []
    due = credit_line.amount_due(state, on)
    if due > 0:
        oldest = min((s.due_date for s in state.statements.values() if s.outstanding > 0),
                     default=None)
        found.append(Blocker(
            "statement_balance", a, "", due, oldest,
            f"{_y(due)} is owed on statements (penalty interest to {on} included)",
            f"账单未还 {_y(due)}（含截至 {on} 的逾期利息）",
            f"repay {_y(due)}", f"还款 {_y(due)}", payable=True))
    unbilled = state.unbilled_total()
    if unbilled > 0:
        found.append(Blocker(
            "unbilled", a, "", unbilled, on,
            f"{_y(unbilled)} of purchases are not billed yet",
            f"未出账消费 {_y(unbilled)}",
            f"repay {_y(unbilled)} now instead of waiting for the statement",
            f"提前还款 {_y(unbilled)}", payable=True))
    for plan in state.running_plans():
        payoff = plan.unbilled_principal
        found.append(Blocker(
            "instalment_plan", a, plan.plan_id, payoff, on,
            f"instalment plan {plan.plan_id} has {len(plan.principal_left)} period(s) to go",
            f"分期 {plan.plan_id} 还有 {len(plan.principal_left)} 期未还",
            f"pay it off today: {_y(payoff)}, no further fees",
            f"今日一次性结清 {_y(payoff)}，剩余手续费不再收取", payable=payoff > 0))
    for order in state.open_orders.values():
        if order.stage == "pending" and order.billable > 0:
            found.append(Blocker(
                "pending_order", a, order.order_id, order.billable, None,
                f"order {order.order_id} at {order.merchant} ({_y(order.billable)}) is pending",
                f"订单 {order.order_id}（{order.merchant}，{_y(order.billable)}）待结算",
                "wait for the merchant to settle it, or have it refunded",
                "等待商户结算或申请退款"))
    for dispute in state.disputes.values():
        found.append(Blocker(
            "dispute", a, dispute.dispute_id, 0, None,
            f"dispute {dispute.dispute_id} on order {dispute.order_id} is open",
            f"订单 {dispute.order_id} 的争议 {dispute.dispute_id} 尚未解决",
            "wait for the dispute to be resolved", "等待争议处理完毕"))
    return found


def _cash_loan_blockers(state: CashLoanState, on: date) -> list[Blocker]:
    found: list[Blocker] = []
    for loan in state.active_loans():
        payoff = cash_loan.payoff_quote(state, loan.loan_id, on)
        found.append(Blocker(
            "loan", state.account_id, loan.loan_id, payoff, on,
            f"loan {loan.loan_id} is outstanding",
            f"借款 {loan.loan_id} 未还清",
            f"repay it in full today: {_y(payoff)} (interest for the days used only)",
            f"今日全部还清 {_y(payoff)}（利息按实际天数计算）", payable=True))
    return found


def _shared_blockers(state: AccountState, on: date) -> list[Blocker]:
    a = state.account_id
    found = [Blocker(
        "repayment_in_flight", a, repayment_id, fen, None,
        f"repayment {repayment_id} of {_y(fen)} is still in flight",
        f"还款 {repayment_id}（{_y(fen)}）处理中",
        "wait until it is received or has failed", "等待到账或失败")
        for repayment_id, fen in state.in_flight.items()]
    if state.credit_balance > 0:
        found.append(Blocker(
            "credit_balance", a, "", state.credit_balance, on,
            f"{_y(state.credit_balance)} of overpayment is held for you",
            f"溢缴款 {_y(state.credit_balance)} 待退回",
            f"have the {_y(state.credit_balance)} refunded to you",
            f"申请退回 {_y(state.credit_balance)}"))
    return found


# ---- decisions -------------------------------------------------------------------------


def code_hash(code: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


def _require_closable(state: AccountState, on: date, now: datetime) -> None:
    if state.status is Status.CLOSED:
        raise AccountNotActive(f"account {state.account_id} is already closed")
    found = blockers(state, on, now)
    if found:
        raise ClosureBlocked(state.account_id, found)


def decide_request(state: AccountState, request_id: str, requested_by: str, code: str,
                   salt: str, channel: str, now: datetime) -> list[Event]:
    """Start a closure: only when nothing blocks it. ``code`` is the one-time code the
    service generated and will deliver; only its salted hash is recorded."""
    if not request_id:
        raise InvalidCommand("a closure request needs an id")
    _require_closable(state, now.date(), now)
    return [
        ClosureRequested(request_id, requested_by, now.isoformat(), now.date()),
        ClosureCodeIssued(request_id, code_hash(code, salt), salt, channel, now.isoformat(),
                          (now + CODE_VALIDITY).isoformat()),
    ]


def decide_verify(state: AccountState, request_id: str, code: str,
                  now: datetime) -> list[Event]:
    """Check a code. Always returns the attempt as events (accepted, or rejected with the
    reason, plus a lock-out on the fifth wrong code); never raises for a wrong code.
    A closed account takes nothing new, not even a code check."""
    if state.status is Status.CLOSED:
        raise AccountNotActive(f"account {state.account_id} is already closed")
    at = now.isoformat()
    closure = state.closure
    failures = state.code_failures
    if state.locked_until is not None and now < state.locked_until:
        return [ClosureCodeRejected(request_id, "locked", failures, at)]
    if closure is None or closure.request_id != request_id or not closure.code_hash:
        return [ClosureCodeRejected(request_id, "no code", failures, at)]
    if closure.accepted_at is not None:
        return [ClosureCodeRejected(request_id, "used", failures, at)]
    if closure.expires_at is not None and now > closure.expires_at:
        return [ClosureCodeRejected(request_id, "expired", failures, at)]
    if hmac.compare_digest(code_hash(code, closure.salt), closure.code_hash):
        return [ClosureCodeAccepted(request_id, at)]
    failures += 1
    rejected: list[Event] = [ClosureCodeRejected(request_id, "wrong", failures, at)]
    if failures >= MAX_WRONG_CODES:
        rejected.append(ClosureLocked(request_id, (now + LOCK_OUT).isoformat(), at))
    return rejected


def decide_confirm(state: AccountState, request_id: str, reason: str, closed_by: str,
                   now: datetime) -> list[Event]:
    """Close, if the code for this request was accepted recently and nothing blocks now.

    Closing an account that is already closed is not an error: it changes nothing.
    """
    if state.status is Status.CLOSED:
        return []
    closure = state.closure
    if closure is None or closure.request_id != request_id or closure.accepted_at is None:
        raise InvalidCommand(f"closure {request_id} has no verified code; verify one first")
    if now - closure.accepted_at > CONFIRMATION_WINDOW:
        raise InvalidCommand(f"the verification of closure {request_id} is older than "
                             f"{int(CONFIRMATION_WINDOW.total_seconds() // 60)} minutes; "
                             "request a new code")
    _require_closable(state, now.date(), now)
    return [AccountClosed(reason or "customer request", now.date(), request_id,
                          VERIFICATION_METHOD, closed_by, now.isoformat())]
