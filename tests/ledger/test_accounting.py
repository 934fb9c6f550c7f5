"""Double-entry accounting derived from events.

Every event maps to zero or more journal lines (debits positive, credits negative) that
sum to zero; the journal rebuilt from the log must net to zero overall and, account by
account, agree with the receivables each account's state holds. The expected lines below
are written out from the chart of accounts:

  1000 cash, 1200 credit-line principal, 1205 purchases pending settlement,
  1210 cash-loan principal, 1300 interest, 1310 fees, 1320 penalty interest receivable,
  2100 merchant settlement payable, 2200 customer credit balances, 4100 interest income,
  4200 instalment fee income, 4300 penalty income, 4400 recoveries, 5100 credit losses.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console

from lendguard.events import Event, registered_types
from lendguard.ledger.accounting import (
    CHART,
    Journal,
    JournalEntry,
    Posting,
    build_journal,
    journal_entry,
    postings_for,
)
from lendguard.ledger.events import (
    AccountClosed,
    AccountFrozen,
    AccountUnfrozen,
    AccountWrittenOff,
    Allocation,
    CashLoanAccountOpened,
    ClosureCodeAccepted,
    ClosureCodeIssued,
    ClosureCodeRejected,
    ClosureLocked,
    ClosureRequested,
    CreditBalanceApplied,
    CreditBalanceRefunded,
    CreditLineOpened,
    DelinquencyChanged,
    DisputeOpened,
    DisputeResolved,
    InstalmentFellDue,
    InstalmentPlanCreated,
    InterestCharged,
    LimitChanged,
    LoanDrawn,
    LoanPrepaid,
    PenaltyInterestCharged,
    PurchaseMade,
    PurchaseRefunded,
    PurchaseSettled,
    RepaymentFailed,
    RepaymentInitiated,
    RepaymentReceived,
    StatementIssued,
)
from lendguard.ledger.schedule import RepaymentMethod
from lendguard.ledger.terms import CashLoanTerms, CreditLineTerms
from lendguard.money import Money
from lendguard.replay import ReplayReport
from lendguard.service import Ledger
from lendguard.store.base import EventStore
from tests.conftest import BusinessDays, books_of

M = Money.of
D = date(2026, 2, 1)
CL, CA = "credit_line", "cash_loan"


def _statement(fees: str) -> StatementIssued:
    return StatementIssued("S2026-02", D, date(2026, 2, 10), M("1000"), M("400"), M(fees),
                           M("509.20"), M("0"), (), ("O-1",), ("P-1",))


def _repayment(allocations: tuple[Allocation, ...], amount: str, to_credit: str = "0",
               recovered: str = "0") -> RepaymentReceived:
    return RepaymentReceived("R-1", M(amount), allocations, M(to_credit), M(recovered), D)


def _refund(stage: str, amount: str, to_credit: str) -> PurchaseRefunded:
    return PurchaseRefunded("O-1", M(amount), stage, "S2026-02" if stage == "billed" else "",
                            "P-1" if stage == "plan" else "", M("0"), (), M(to_credit), D)


def P(*lines: tuple[str, int]) -> list[Posting]:
    return [Posting(account, fen) for account, fen in lines]


EXAMPLES: list[tuple[str, Event, str, list[Posting]]] = [
    ("purchase: pending, owed to the merchant",
     PurchaseMade("O-1", M("500"), "JD.com", "electronics", "app", "t", D), CL,
     P(("1205", 50_000), ("2100", -50_000))),
    ("settlement: receivable from the borrower, merchant paid",
     PurchaseSettled("O-1", M("500"), D), CL,
     P(("1200", 50_000), ("1205", -50_000), ("2100", 50_000), ("1000", -50_000))),
    ("refund while pending: nothing to pay the merchant",
     _refund("pending", "200", "0"), CL, P(("2100", 20_000), ("1205", -20_000))),
    ("refund of an unbilled purchase: the merchant pays back",
     _refund("unbilled", "300", "0"), CL, P(("1000", 30_000), ("1200", -30_000))),
    ("refund of a billed purchase, half of it already repaid",
     _refund("billed", "600", "300"), CL,
     P(("1000", 30_000), ("1200", -30_000), ("1000", 30_000), ("2200", -30_000))),
    ("refund of a converted purchase",
     _refund("plan", "500", "0"), CL, P(("1000", 50_000), ("1200", -50_000))),
    ("statement: the instalment fee becomes income",
     _statement("9.20"), CL, P(("1310", 920), ("4200", -920))),
    ("statement without fees moves nothing", _statement("0"), CL, []),
    ("penalty interest", PenaltyInterestCharged("S2026-02", M("29.61"), M("3290.22"),
                                                Decimal("0.0005"), D, date(2026, 3, 1)), CL,
     P(("1320", 2_961), ("4300", -2_961))),
    ("loan interest", InterestCharged("L-1", M("124"), M("10000"), Decimal("0.0004"),
                                      date(2026, 1, 1), D), CA,
     P(("1300", 12_400), ("4100", -12_400))),
    ("drawdown", LoanDrawn("L-1", M("10000"), 3, RepaymentMethod.INTEREST_FIRST,
                           Decimal("0.0004"), M("0"), (D,), (1_000_000,), Decimal("0.144"),
                           date(2026, 1, 1)), CA,
     P(("1210", 1_000_000), ("1000", -1_000_000))),
    ("credit-line repayment: penalty, fee, principal and an overpayment",
     _repayment((Allocation("S2026-02", "penalty", M("5")),
                 Allocation("S2026-02", "fee", M("9.20")),
                 Allocation("S2026-02", "principal", M("1000"))), "1200", to_credit="185.80"),
     CL, P(("1000", 120_000), ("1200", -100_000), ("1310", -920), ("1320", -500),
           ("2200", -18_580))),
    ("loan repayment: interest, principal and a prepayment",
     _repayment((Allocation("L-1#1", "interest", M("124")),
                 Allocation("L-1#prepay", "principal", M("3000"))), "3124"),
     CA, P(("1000", 312_400), ("1210", -300_000), ("1300", -12_400))),
    ("money after write-off is a recovery",
     _repayment((), "300", recovered="300"), CL, P(("1000", 30_000), ("4400", -30_000))),
    ("credit balance paid back", CreditBalanceRefunded(M("200"), D), CL,
     P(("2200", 20_000), ("1000", -20_000))),
    # A credit balance of 150.00 applied to what fell due: the liability to the borrower
    # shrinks by what the receivables do, and no cash moves.
    ("credit balance applied",
     CreditBalanceApplied(M("150"), (Allocation("S2026-02", "penalty", M("10")),
                                     Allocation("S2026-02", "principal", M("140"))), D), CL,
     P(("2200", 15_000), ("1200", -14_000), ("1320", -1_000))),
    ("credit-line write-off",
     AccountWrittenOff(M("1000"), M("0"), M("9.20"), M("90"), 181, D), CL,
     P(("5100", 100_000), ("1200", -100_000), ("5100", 920), ("1310", -920),
       ("5100", 9_000), ("1320", -9_000))),
    ("cash-loan write-off",
     AccountWrittenOff(M("10000"), M("360"), M("0"), M("726"), 181, D), CA,
     P(("5100", 1_000_000), ("1210", -1_000_000), ("5100", 36_000), ("1300", -36_000),
       ("5100", 72_600), ("1320", -72_600))),
]

NO_MONEY_EFFECT: list[Event] = [
    CreditLineOpened("C-1", M("10000"), CreditLineTerms(), D),
    CashLoanAccountOpened("C-1", M("50000"), CashLoanTerms(), D),
    LimitChanged(M("10000"), M("5000"), "review", D),
    AccountFrozen("fraud", D),
    AccountUnfrozen("cleared", D),
    AccountClosed("asked", D),
    # The closure conversation, repayments in flight and disputes move no money: only the
    # repayment that arrives (RepaymentReceived) and a refund do.
    ClosureRequested("Q-1", "user:c", "2026-03-02T10:00:00+08:00", D),
    ClosureCodeIssued("Q-1", "hash", "salt", "outbox", "2026-03-02T10:00:00+08:00",
                      "2026-03-02T10:05:00+08:00"),
    ClosureCodeAccepted("Q-1", "2026-03-02T10:01:00+08:00"),
    ClosureCodeRejected("Q-1", "wrong", 1, "2026-03-02T10:01:00+08:00"),
    ClosureLocked("Q-1", "2026-03-02T10:31:00+08:00", "2026-03-02T10:01:00+08:00"),
    RepaymentInitiated("R-9", M("100"), "bank_transfer", D),
    RepaymentFailed("R-9", "insufficient funds", D),
    DisputeOpened("DS-1", "O-1", "not received", D),
    DisputeResolved("DS-1", "refunded", D),
    DelinquencyChanged("M0", "M1", 1, D),
    # Conversion moves principal between parts of 1200; fees are income when billed.
    InstalmentPlanCreated("P-1", "order:O-1", M("1200"), 3, Decimal("0.023"),
                          (40_000,) * 3, (920,) * 3, Decimal("0.1369"), D),
    # Principal falling due stays in 1210; its interest was booked when charged.
    InstalmentFellDue("L-1", 1, D, M("3333.33"), M("120")),
    LoanPrepaid("L-1", "R-1", M("3000"), "shorter_term", M("1737.36"), (D,), (1,), D),
]


@pytest.mark.parametrize(("event", "category", "expected"),
                         [e[1:] for e in EXAMPLES], ids=[e[0] for e in EXAMPLES])
def test_each_event_posts_balanced_lines(event: Event, category: str,
                                         expected: list[Posting]) -> None:
    lines = postings_for(event, category)
    assert lines == expected
    assert sum(line.amount for line in lines) == 0
    assert all(line.account in CHART for line in lines)


@pytest.mark.parametrize("event", NO_MONEY_EFFECT, ids=lambda e: type(e).__name__)
def test_events_that_move_no_money_post_nothing(event: Event) -> None:
    assert postings_for(event, CL) == postings_for(event, CA) == []
    assert journal_entry("X", 1, event, CL) is None


def test_every_ledger_event_type_has_an_accounting_decision() -> None:
    # A new event type must be added to EXAMPLES or NO_MONEY_EFFECT, deliberately.
    covered = {type(e[1]).type_name for e in EXAMPLES} | {
        type(e).type_name for e in NO_MONEY_EFFECT}
    ledger_types = {name for name, cls in registered_types().items()
                    if cls.__module__ == "lendguard.ledger.events"}
    assert ledger_types <= covered


def test_an_unbalanced_entry_is_caught() -> None:
    journal = build_journal([JournalEntry("CL-1", 1, D, "Broken",
                                          (Posting("1000", 100), Posting("1200", -99)))])
    assert not journal.is_balanced()
    assert [e.event_type for e in journal.unbalanced] == ["Broken"]


def test_trial_balance_of_a_small_book(ledger: Ledger, days: BusinessDays,
                                       books: Callable[[], ReplayReport]) -> None:
    # Credit line: 1,000.00 bought and settled 5 Jan (merchant paid), repaid 10 Feb.
    # Cash loan: 10,000.00 drawn 1 Jan interest first; 124.00 interest (31 days) charged
    # on 1 Feb and paid the same day.
    # Cash: −1,000.00 − 10,000.00 + 124.00 + 1,000.00 = −9,876.00 (a credit);
    # loan principal 10,000.00 (a debit); interest income 124.00 (a credit).
    ledger.open_credit_line("CL-1", "C-1", M("10000"), key="open-line")
    ledger.open_cash_loan("CA-1", "C-1", M("50000"), key="open-loan")
    ledger.draw("CA-1", "L-1", M("10000"), 3, "interest_first", key="draw")
    days.go_to(date(2026, 1, 5))
    ledger.purchase("CL-1", "O-1", M("1000"), "JD.com", "electronics", "app", key="buy")
    ledger.settle("CL-1", "O-1", key="settle")
    days.go_to(date(2026, 2, 1))
    ledger.repay("CA-1", "R-1", M("124"), key="R-1")
    days.go_to(date(2026, 2, 10))
    ledger.repay("CL-1", "R-2", M("1000"), key="R-2")
    journal = books().journal
    rows = {r.account: (r.debit, r.credit) for r in journal.trial_balance()
            if r.debit or r.credit}
    assert rows == {"1000": (0, 987_600), "1210": (1_000_000, 0), "4100": (0, 12_400)}
    assert sum(d for d, _ in rows.values()) == sum(c for _, c in rows.values())


def test_a_year_of_both_products_balances(tmp_path: Path) -> None:
    # The scripted demo year: purchases, a refund, a minimum payment, penalty, a purchase
    # conversion, a loan with an early partial and a full repayment, a missed month and a
    # customer-level repayment. Rebuilt from the log, the books net to zero and every
    # account's receivables match its state.
    from lendguard.demo import run_demo
    from lendguard.store import open_store

    report = run_demo(str(tmp_path / "demo.db"), Console(file=io.StringIO()))
    assert report.problems == []
    journal = report.journal
    assert journal.is_balanced()
    assert sum(journal.totals.values()) == 0
    rows = journal.trial_balance()
    assert sum(r.debit for r in rows) == sum(r.credit for r in rows) > 0
    store: EventStore = open_store(f"sqlite:///{tmp_path / 'demo.db'}")
    try:
        again = books_of(store)
        assert dict(again.journal.totals) == dict(journal.totals)
    finally:
        store.close()


def test_journal_stream_balances_mirror_the_states(
        ledger: Ledger, days: BusinessDays, store: EventStore,
        books: Callable[[], ReplayReport]) -> None:
    # A pending order, an unbilled one with a partial refund, a billed statement paid
    # over, and an instalment plan: each receivable in the journal equals the state's.
    ledger.open_credit_line("CL-1", "C-1", M("10000"), key="open-line")
    days.go_to(date(2026, 1, 5))
    for order, amount in (("O-1", "1000"), ("O-2", "1200")):
        ledger.purchase("CL-1", order, M(amount), "JD.com", "electronics", "app",
                        key=f"buy-{order}")
        ledger.settle("CL-1", order, key=f"settle-{order}")
    ledger.convert_purchase("CL-1", "O-2", 3, "P-1", key="convert")
    days.go_to(date(2026, 2, 5))
    ledger.repay("CL-1", "R-1", M("1500"), key="R-1")
    ledger.purchase("CL-1", "O-3", M("300"), "Hema", "grocery", "pos", key="buy-O-3")
    ledger.purchase("CL-1", "O-4", M("80"), "Hema", "grocery", "pos", key="buy-O-4")
    ledger.settle("CL-1", "O-4", key="settle-O-4")
    ledger.refund("CL-1", "O-4", M("30"), key="refund-O-4")
    report = books()
    state = report.states["CL-1"]
    # Pending 300.00; principal: 50.00 unbilled + 800.00 of plan; the statement
    # (1,000.00 + 400.00 + 9.20) is overpaid by 1,500.00 − 1,409.20 = 90.80.
    assert state.balances() == {"1205": 30_000, "1200": 85_000, "1310": 0, "1320": 0,
                                "2200": 9_080}
    journal: Journal = report.journal
    assert journal.stream_balance("CL-1", "1205") == 30_000
    assert journal.stream_balance("CL-1", "1200") == 85_000
    assert journal.stream_balance("CL-1", "2200") == -9_080
    assert journal.stream_balance("CL-1", "4200") == -920
