"""Property tests: random command sequences against the whole ledger.

Whatever the borrower, the merchant and the clock do, in any order:
- the journal derived from the log balances, and every account's balances in its state
  equal its balances in the journal (``replay`` verifies both);
- replaying the log reproduces every balance the live service holds;
- the limit in use never exceeds the limit (limits only go up in this machine);
- a rejected command appends nothing;
- a repeated idempotency key has one effect; the same key with another payload is refused.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from lendguard.clock import DEFAULT_TZ, FixedClock
from lendguard.errors import IdempotencyConflict, LendguardError
from lendguard.ledger.cash_loan import CashLoanState
from lendguard.ledger.credit_line import CreditLineState
from lendguard.money import Money
from lendguard.replay import replay
from lendguard.service import CommandResult, Ledger
from lendguard.store import open_store

LINE, LOAN, CUSTOMER = "CL-P", "CA-P", "C-P"
amounts = st.integers(min_value=1, max_value=600_000)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = open_store("sqlite:///:memory:")
        self.clock = FixedClock(datetime(2026, 1, 1, 9, tzinfo=DEFAULT_TZ))
        self.ledger = Ledger(self.store, self.clock)
        self.ledger.open_credit_line(LINE, CUSTOMER, Money(1_000_000), key="open-line")
        self.ledger.open_cash_loan(LOAN, CUSTOMER, Money(2_000_000), key="open-loan")
        self.counter = 0
        self.orders: list[str] = []
        self.loans: list[str] = []
        self.sent: list[tuple[str, object]] = []

    # ---- helpers -----------------------------------------------------------------------

    def _key(self) -> str:
        self.counter += 1
        return f"k{self.counter}"

    def _run(self, command: str, *args: object, **kwargs: object) -> CommandResult | None:
        """Run a command; a typed error must leave the log untouched."""
        before = self.store.last_position()
        try:
            result: CommandResult = getattr(self.ledger, command)(*args, **kwargs)
        except LendguardError:
            assert self.store.last_position() == before, f"rejected {command} wrote events"
            return None
        self.sent.append((command, (args, kwargs)))
        return result

    # ---- rules -------------------------------------------------------------------------

    @rule(amount=amounts, hour=st.integers(0, 23))
    def purchase(self, amount: int, hour: int) -> None:
        order = f"O{self.counter}"
        if self._run("purchase", LINE, order, Money(amount), "m", "retail", "app",
                     key=self._key()):
            self.orders.append(order)

    @rule(delta=st.integers(-1, 1), loan=st.booleans())
    def up_to_the_limit(self, delta: int, loan: bool) -> None:
        """Spend exactly the available limit, one fen less, or one fen more."""
        if loan:
            fen = self.ledger.cash_loan(LOAN).available_limit() + delta
            if fen > 0 and self._run("draw", LOAN, f"L{self.counter}", Money(fen), 3,
                                     "equal_principal", key=self._key()):
                self.loans.append(f"L{self.counter - 1}")
        else:
            fen = self.ledger.credit_line(LINE).available_limit() + delta
            order = f"O{self.counter}"
            if fen > 0 and self._run("purchase", LINE, order, Money(fen), "m", "retail", "app",
                                     key=self._key()):
                self.orders.append(order)

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def settle(self, data: st.DataObject) -> None:
        self._run("settle", LINE, data.draw(st.sampled_from(self.orders)), key=self._key())

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), amount=amounts)
    def refund(self, data: st.DataObject, amount: int) -> None:
        self._run("refund", LINE, data.draw(st.sampled_from(self.orders)), Money(amount),
                  key=self._key())

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), periods=st.sampled_from([3, 6, 9, 12]))
    def convert_purchase(self, data: st.DataObject, periods: int) -> None:
        self._run("convert_purchase", LINE, data.draw(st.sampled_from(self.orders)), periods,
                  f"P{self.counter}", key=self._key())

    @rule(periods=st.sampled_from([3, 6, 9, 12]))
    def convert_statement(self, periods: int) -> None:
        state = self.ledger.credit_line(LINE)
        if state.statements:
            last = list(state.statements)[-1]
            self._run("convert_statement", LINE, last, periods, f"P{self.counter}",
                      key=self._key())

    @rule(amount=amounts)
    def repay_line(self, amount: int) -> None:
        self._run("repay", LINE, f"R{self.counter}", Money(amount), key=self._key())

    @rule(amount=amounts)
    def repay_customer(self, amount: int) -> None:
        self._run("repay_customer", CUSTOMER, f"R{self.counter}", Money(amount),
                  key=self._key())

    @rule(amount=amounts, term=st.sampled_from([3, 6, 12]),
          method=st.sampled_from(["equal_instalment", "equal_principal", "interest_first"]))
    def draw(self, amount: int, term: int, method: str) -> None:
        loan = f"L{self.counter}"
        if self._run("draw", LOAN, loan, Money(amount), term, method, key=self._key()):
            self.loans.append(loan)

    @precondition(lambda self: self.loans)
    @rule(data=st.data(), amount=st.one_of(st.none(), amounts),
          mode=st.sampled_from(["shorter_term", "smaller_instalment"]))
    def prepay(self, data: st.DataObject, amount: int | None, mode: str) -> None:
        self._run("prepay", LOAN, data.draw(st.sampled_from(self.loans)), f"R{self.counter}",
                  None if amount is None else Money(amount), mode, key=self._key())

    @rule(extra=st.integers(0, 500_000))
    def raise_limit(self, extra: int) -> None:
        state = self.ledger.credit_line(LINE)
        self._run("change_limit", LINE, Money(state.limit + extra), "review", key=self._key())

    @rule()
    def freeze_and_unfreeze(self) -> None:
        self._run("freeze", LINE, "suspicious", key=self._key())
        self._run("purchase", LINE, "O-frozen", Money(100), "m", "retail", "app",
                  key=self._key())
        self._run("unfreeze", LINE, "cleared", key=self._key())

    @rule(days=st.integers(1, 45))
    def pass_days(self, days: int) -> None:
        for _ in range(days):
            self.clock.advance(timedelta(days=1))
            day = self.clock.today()
            self.ledger.close_of_business(day)
            before = self.store.last_position()
            self.ledger.close_of_business(day)
            assert self.store.last_position() == before, "close of business is not idempotent"

    @rule(amount=amounts)
    def repeated_key(self, amount: int) -> None:
        key = self._key()
        first = self._run("repay", LINE, f"R{self.counter}", Money(amount), key=key)
        if first is None:
            return
        before = self.store.last_position()
        again = self.ledger.repay(LINE, f"R{self.counter - 0}", Money(amount), key=key)
        assert again.duplicate and again.positions == first.positions
        assert self.store.last_position() == before
        try:
            self.ledger.repay(LINE, "other", Money(amount + 1), key=key)
        except IdempotencyConflict:
            pass
        else:
            raise AssertionError("same key, other payload was accepted")
        assert self.store.last_position() == before

    # ---- invariants --------------------------------------------------------------------

    @invariant()
    def limit_is_never_exceeded(self) -> None:
        line = self.ledger.credit_line(LINE)
        loans = self.ledger.cash_loan(LOAN)
        assert line.occupied() <= line.limit
        assert loans.occupied() <= loans.limit
        # occupied() sums in one pass what the four parts give
        assert line.occupied() == (line.pending_total() + line.unbilled_total()
                                   + line.billed_principal() + line.plan_principal())
        assert line.available_limit() >= 0 and loans.available_limit() >= 0

    @invariant()
    def books_balance_and_replay_reproduces_state(self) -> None:
        report = replay(self.store, verify=True, keep_states=True)
        assert report.ok, report.problems
        for account in (LINE, LOAN):
            live = self.ledger.state(account)
            rebuilt = report.states[account]
            assert live.balances() == rebuilt.balances()
            assert live.version == rebuilt.version
            assert (live.status, live.bucket) == (rebuilt.status, rebuilt.bucket)
        line = report.states[LINE]
        assert isinstance(line, CreditLineState)
        assert isinstance(report.states[LOAN], CashLoanState)
        assert line.available_limit() == self.ledger.credit_line(LINE).available_limit()

    def teardown(self) -> None:
        self.store.close()


LedgerMachine.TestCase.settings = settings(
    max_examples=40, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
test_ledger_state_machine = pytest.mark.slow(LedgerMachine.TestCase)
