"""Property test: random borrowers, merchants and clocks against the closure workflow.

Whatever happens, in any order — purchases, settlements, refunds, repayments (direct,
in flight, paid off), drawdowns, disputes, freezes, days passing with close of business,
minutes passing, closure requests, right and wrong codes, confirmations:

- an account whose status is closed owes nothing and holds nothing: every balance is
  zero, no instalment plan runs, no order is pending, no repayment is in flight, no loan
  is active, no dispute is open;
- every command on a closed account fails (``AccountNotActive`` for every command that
  could change it) and writes nothing;
- a refused command writes nothing; the log replays and its books balance.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from lendguard.clock import DEFAULT_TZ, FixedClock
from lendguard.errors import AccountNotActive, LendguardError
from lendguard.ledger.account import Status
from lendguard.ledger.cash_loan import CashLoanState
from lendguard.ledger.credit_line import CreditLineState
from lendguard.money import Money
from lendguard.notify import CodeSource
from lendguard.replay import replay
from lendguard.service import Ledger
from lendguard.store import open_store
from tests.closure.support import wrong

LINE, LOAN, CUSTOMER = "CL-P", "CA-P", "C-P"
ACCOUNTS = st.sampled_from([LINE, LOAN])
amounts = st.integers(min_value=1, max_value=200_000)

# Commands that could change an account: on a closed one each must say AccountNotActive.
# (The rest — receiving or failing a repayment, refunding a credit balance, resolving a
# dispute — have nothing to act on once it is closed; they must still write nothing.)
MUST_SAY_NOT_ACTIVE = {
    "purchase", "settle", "refund", "convert_purchase", "draw", "prepay", "repay",
    "change_limit", "freeze", "unfreeze", "initiate_repayment", "open_dispute",
    "request_closure", "verify_closure_code",
}


class ClosureMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = open_store("sqlite:///:memory:")
        self.clock = FixedClock(datetime(2026, 1, 1, 9, tzinfo=DEFAULT_TZ))
        self.ledger = Ledger(self.store, self.clock, actor="user:prop",
                             codes=CodeSource(seed=1))
        self.ledger.open_credit_line(LINE, CUSTOMER, Money(1_000_000), key="open-line")
        self.ledger.open_cash_loan(LOAN, CUSTOMER, Money(5_000_000), key="open-loan")
        self.counter = 0
        self.orders: list[str] = []
        self.loans: list[str] = []
        self.in_flight: dict[str, list[str]] = {LINE: [], LOAN: []}
        self.disputes: list[str] = []
        self.requests: dict[str, tuple[str, str]] = {}  # account -> (request id, code)

    # ---- helpers -----------------------------------------------------------------------

    def _id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def _closed(self, account: str) -> bool:
        return self.ledger.state(account).status is Status.CLOSED

    def _run(self, account: str, command: str, *args: Any, **kwargs: Any) -> Any:
        """Run a command on ``account``. Refused: nothing written. On a closed account:
        always refused, with ``AccountNotActive`` whenever the command could change it."""
        was_closed = self._closed(account)
        before = self.store.last_position()
        method: Callable[..., Any] = getattr(self.ledger, command)
        try:
            result = method(*args, key=self._id("k"), **kwargs)
        except LendguardError as error:
            assert self.store.last_position() == before, f"refused {command} wrote events"
            if was_closed and command in MUST_SAY_NOT_ACTIVE:
                assert isinstance(error, AccountNotActive), (command, error)
            return None
        assert self.store.last_position() == before or not was_closed, (
            f"{command} wrote to closed {account}")
        if was_closed and command in MUST_SAY_NOT_ACTIVE:
            raise AssertionError(f"{command} on closed {account} was not refused")
        return result

    # ---- business ----------------------------------------------------------------------

    @rule(amount=amounts, settle=st.booleans())
    def purchase(self, amount: int, settle: bool) -> None:
        order = self._id("O")
        if self._run(LINE, "purchase", LINE, order, Money(amount), "m", "retail", "app"):
            self.orders.append(order)
            if settle:
                self._run(LINE, "settle", LINE, order)

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def settle(self, data: st.DataObject) -> None:
        self._run(LINE, "settle", LINE, data.draw(st.sampled_from(self.orders)))

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), amount=amounts)
    def refund(self, data: st.DataObject, amount: int) -> None:
        self._run(LINE, "refund", LINE, data.draw(st.sampled_from(self.orders)), Money(amount))

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), periods=st.sampled_from([3, 6]))
    def convert_purchase(self, data: st.DataObject, periods: int) -> None:
        self._run(LINE, "convert_purchase", LINE, data.draw(st.sampled_from(self.orders)),
                  periods, self._id("P"))

    @rule(amount=st.integers(1, 1_000_000), term=st.sampled_from([3, 6]),
          method=st.sampled_from(["equal_instalment", "equal_principal", "interest_first"]))
    def draw(self, amount: int, term: int, method: str) -> None:
        loan = self._id("L")
        if self._run(LOAN, "draw", LOAN, loan, Money(amount), term, method):
            self.loans.append(loan)

    @precondition(lambda self: self.loans)
    @rule(data=st.data(), amount=st.one_of(st.none(), amounts))
    def prepay(self, data: st.DataObject, amount: int | None) -> None:
        self._run(LOAN, "prepay", LOAN, data.draw(st.sampled_from(self.loans)), self._id("R"),
                  None if amount is None else Money(amount))

    @rule(account=ACCOUNTS, amount=amounts)
    def repay(self, account: str, amount: int) -> None:
        self._run(account, "repay", account, self._id("R"), Money(amount))

    @rule(account=ACCOUNTS)
    def pay_off(self, account: str) -> None:
        self._run(account, "pay_off", account, self._id("R"))

    @rule(account=ACCOUNTS, amount=amounts)
    def initiate_repayment(self, account: str, amount: int) -> None:
        repayment = self._id("R")
        if self._run(account, "initiate_repayment", account, repayment, Money(amount)):
            self.in_flight[account].append(repayment)

    @rule(account=ACCOUNTS, received=st.booleans())
    def repayment_lands(self, account: str, received: bool) -> None:
        if not self.in_flight[account]:
            return
        repayment = self.in_flight[account].pop(0)
        if received:
            self._run(account, "receive_repayment", account, repayment)
        else:
            self._run(account, "fail_repayment", account, repayment, "returned")

    @rule(account=ACCOUNTS)
    def refund_credit_balance(self, account: str) -> None:
        self._run(account, "refund_credit_balance", account)

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def dispute(self, data: st.DataObject) -> None:
        dispute = self._id("D")
        if self._run(LINE, "open_dispute", LINE, dispute, data.draw(st.sampled_from(self.orders)),
                     "not received"):
            self.disputes.append(dispute)

    @precondition(lambda self: self.disputes)
    @rule()
    def resolve_dispute(self) -> None:
        self._run(LINE, "resolve_dispute", LINE, self.disputes.pop(0), "resolved")

    @rule(account=ACCOUNTS, freeze=st.booleans())
    def freeze_or_unfreeze(self, account: str, freeze: bool) -> None:
        self._run(account, "freeze" if freeze else "unfreeze", account, "review")

    @rule(account=ACCOUNTS, extra=st.integers(-100_000, 100_000))
    def change_limit(self, account: str, extra: int) -> None:
        limit = max(0, self.ledger.state(account).limit + extra)
        self._run(account, "change_limit", account, Money(limit), "review")

    # ---- time --------------------------------------------------------------------------

    @rule(days=st.integers(1, 20))
    def pass_days(self, days: int) -> None:
        for _ in range(days):
            self.ledger.close_of_business(self.clock.today())
            self.clock.set(datetime.combine(self.clock.today() + timedelta(days=1), time(9),
                                            DEFAULT_TZ))

    @rule(minutes=st.sampled_from([1, 4, 6, 16, 31]))
    def pass_minutes(self, minutes: int) -> None:
        later = self.clock.now() + timedelta(minutes=minutes)
        if later.date() == self.clock.today():  # days pass only with close of business
            self.clock.advance(timedelta(minutes=minutes))

    # ---- closure -----------------------------------------------------------------------

    @rule(account=ACCOUNTS)
    def request_closure(self, account: str) -> None:
        request = self._id("close-")
        if self._run(account, "request_closure", account, request):
            messages = self.ledger.notifier.messages(CUSTOMER)
            self.requests[account] = (request, messages[-1].code)

    @rule()
    def request_both(self) -> None:
        request = self._id("close-")
        try:
            self.ledger.request_closures([LINE, LOAN], request, key=self._id("k"))
        except LendguardError:
            return
        code = self.ledger.notifier.messages(CUSTOMER)[-1].code
        self.requests[LINE] = self.requests[LOAN] = (request, code)

    @precondition(lambda self: self.requests)
    @rule(data=st.data(), right=st.booleans())
    def verify(self, data: st.DataObject, right: bool) -> None:
        account = data.draw(st.sampled_from(sorted(self.requests)))
        request, code = self.requests[account]
        self._run(account, "verify_closure_code", account, request,
                  code if right else wrong(code))

    @precondition(lambda self: self.requests)
    @rule(data=st.data())
    def confirm(self, data: st.DataObject) -> None:
        account = data.draw(st.sampled_from(sorted(self.requests)))
        if self._run(account, "confirm_closure", account, self.requests[account][0]):
            event(f"{account} closed")

    # Two rules, not one with an account argument: closing is then drawn often enough
    # that most runs go on to throw commands at a closed account.
    @rule()
    def tidy_up_and_close_the_line(self) -> None:
        self._tidy_up_and_close(LINE)

    @rule()
    def tidy_up_and_close_the_loans(self) -> None:
        self._tidy_up_and_close(LOAN)

    def _tidy_up_and_close(self, account: str) -> None:
        """What a borrower set on closing does: clear what can be cleared, then close."""
        if isinstance(self.ledger.state(account), CreditLineState):
            line = self.ledger.credit_line(account)
            for order in [o for o in line.orders.values()
                          if o.stage == "pending" and o.billable > 0]:
                self._run(account, "refund", account, order.order_id, Money(order.billable))
            for dispute in list(line.disputes):
                self._run(account, "resolve_dispute", account, dispute, "withdrawn")
        for repayment in list(self.ledger.state(account).in_flight):
            self._run(account, "fail_repayment", account, repayment, "cancelled")
        self._run(account, "unfreeze", account, "cleared")
        self._run(account, "pay_off", account, self._id("R"))
        if self.ledger.state(account).credit_balance > 0:
            self._run(account, "refund_credit_balance", account)
        self.request_closure(account)
        if account in self.requests:
            request, code = self.requests[account]
            self._run(account, "verify_closure_code", account, request, code)
            if self._run(account, "confirm_closure", account, request):
                event(f"{account} closed")

    # ---- invariants --------------------------------------------------------------------

    @invariant()
    def a_closed_account_owes_and_holds_nothing(self) -> None:
        for account in (LINE, LOAN):
            state = self.ledger.state(account)
            if state.status is not Status.CLOSED:
                continue
            assert all(fen == 0 for fen in state.balances().values()), state.balances()
            assert state.in_flight == {} and state.credit_balance == 0
            if isinstance(state, CreditLineState):
                assert state.running_plans() == []
                assert not [o for o in state.orders.values()
                            if o.stage == "pending" and o.billable > 0]
                assert state.disputes == {}
            else:
                assert isinstance(state, CashLoanState)
                assert state.active_loans() == []
            assert state.closed is not None and state.closed.verification == "hotp-code"

    @invariant()
    def the_log_replays_and_balances(self) -> None:
        report = replay(self.store, verify=True, keep_states=True)
        assert report.ok, report.problems
        for account in (LINE, LOAN):
            assert report.states[account].status is self.ledger.state(account).status
            assert report.states[account].balances() == self.ledger.state(account).balances()

    def teardown(self) -> None:
        self.store.close()


ClosureMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
test_closure_state_machine = ClosureMachine.TestCase
