"""The repayment waterfall: penalties → fees → interest → principal, oldest item first.

``AllocationOrder.DUE_DATE_FIRST`` (the default) finishes the oldest item before the next
one; ``AllocationOrder.COMPONENT_FIRST`` pays every item's penalty (oldest first), then
every fee, then interest, then principal. A customer-level repayment
(``Ledger.repay_customer``) runs one waterfall over the credit line and the cash loan
together, oldest due first; what is left prepays unbilled purchases and then becomes a
credit balance on the credit line.
"""

from __future__ import annotations

import random
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from lendguard.ledger.allocation import COMPONENTS, Owed, allocate
from lendguard.ledger.events import RepaymentReceived
from lendguard.ledger.terms import AllocationOrder, CashLoanTerms
from lendguard.money import Money
from lendguard.service import CommandResult, Ledger
from tests.conftest import BusinessDays

M = Money.of
DUE = AllocationOrder.DUE_DATE_FIRST
COMPONENT = AllocationOrder.COMPONENT_FIRST

# What a borrower owes on 20 Mar: a loan instalment due 1 Feb, the February statement
# due 10 Feb (with penalty), and the March statement due 10 Mar (with an instalment fee).
OWED = [
    Owed("S2026-03", date(2026, 3, 10), "principal", 40_000),
    Owed("S2026-03", date(2026, 3, 10), "fee", 920),
    Owed("S2026-02", date(2026, 2, 10), "principal", 10_000),
    Owed("S2026-02", date(2026, 2, 10), "penalty", 500),
    Owed("L-1#1", date(2026, 2, 1), "principal", 77_575),
    Owed("L-1#1", date(2026, 2, 1), "interest", 12_400),
]


def test_due_date_first_finishes_the_oldest_item_before_the_next() -> None:
    # 1,000.00: L-1#1 (due 1 Feb) interest 124.00 then principal 775.75 = 899.75;
    # the 100.25 left goes to S2026-02: penalty 5.00 first, then 95.25 of principal.
    slices, leftover = allocate(100_000, OWED, DUE)
    assert slices == [("L-1#1", "interest", 12_400), ("L-1#1", "principal", 77_575),
                      ("S2026-02", "penalty", 500), ("S2026-02", "principal", 9_525)]
    assert leftover == 0


def test_component_first_pays_every_penalty_then_fees_then_interest_then_principal() -> None:
    # 200.00: penalty 5.00 (S2026-02), fee 9.20 (S2026-03), interest 124.00 (L-1#1),
    # then 61.80 of principal, oldest first (L-1#1).
    slices, leftover = allocate(20_000, OWED, COMPONENT)
    assert slices == [("S2026-02", "penalty", 500), ("S2026-03", "fee", 920),
                      ("L-1#1", "interest", 12_400), ("L-1#1", "principal", 6_180)]
    assert leftover == 0


def test_more_than_is_owed_leaves_a_leftover() -> None:
    # Everything owed: 124.00 + 775.75 + 5.00 + 100.00 + 9.20 + 400.00 = 1,413.95.
    total = sum(o.amount for o in OWED)
    assert total == 141_395
    for order in AllocationOrder:
        slices, leftover = allocate(150_000, OWED, order)
        assert sum(f for _, _, f in slices) == total
        assert leftover == 150_000 - 141_395


def test_the_order_owed_items_are_listed_in_does_not_matter() -> None:
    shuffled = list(OWED)
    random.Random(7).shuffle(shuffled)
    for order in AllocationOrder:
        assert allocate(100_000, shuffled, order) == allocate(100_000, OWED, order)


def test_nothing_owed_or_nothing_paid() -> None:
    assert allocate(5_000, [], DUE) == ([], 5_000)
    assert allocate(0, OWED, DUE) == ([], 0)
    assert allocate(100, [Owed("S", date(2026, 2, 10), "fee", 0)], DUE) == ([], 100)


owed_entries = st.lists(
    st.builds(Owed, st.sampled_from(["S2026-02", "S2026-03", "L-1#1", "L-1#2"]),
              st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 12, 31)),
              st.sampled_from(COMPONENTS), st.integers(min_value=1, max_value=10**7)),
    max_size=12)


@given(st.integers(min_value=0, max_value=10**8), owed_entries,
       st.sampled_from(list(AllocationOrder)))
def test_every_fen_is_accounted_for_and_nothing_is_overpaid(
        amount: int, owed: list[Owed], order: AllocationOrder) -> None:
    slices, leftover = allocate(amount, owed, order)
    assert sum(f for _, _, f in slices) + leftover == amount
    assert leftover == max(0, amount - sum(o.amount for o in owed))
    assert all(f > 0 for _, _, f in slices)
    paid: dict[tuple[str, str], int] = {}
    for item, component, fen in slices:
        paid[(item, component)] = paid.get((item, component), 0) + fen
    for key, fen in paid.items():
        assert fen <= sum(o.amount for o in owed if (o.item, o.component) == key)


# ---- through the ledger --------------------------------------------------------------------

ACCOUNT = "CA-1"


def two_missed_instalments(ledger: Ledger, days: BusinessDays,
                           terms: CashLoanTerms | None = None) -> None:
    # Equal principal, 10,000.00 over 3 months drawn 1 Apr; nothing paid.
    #  #1 due 1 May: principal 3,333.33, interest 10,000.00 × 0.04% × 30 = 120.00.
    #  #2 due 1 Jun: principal 3,333.33, interest 6,666.67 × 0.04% × 31 = 82.666708 → 82.67.
    # Paying on 11 Jun first posts penalty (0.06% a day on overdue principal):
    #  #1: 3,333.33 × 0.06% × 41 days (2 May – 11 Jun) = 81.999918 → 82.00;
    #  #2: 3,333.33 × 0.06% × 10 days (2–11 Jun) = 19.99998 → 20.00.
    days.go_to(date(2026, 4, 1))
    ledger.open_cash_loan(ACCOUNT, "C-1", M("50000"), terms, key="open")
    ledger.draw(ACCOUNT, "L-1", M("10000"), 3, "equal_principal", key="draw")
    days.go_to(date(2026, 6, 11))


def allocations_of(result: CommandResult) -> list[tuple[str, str, int]]:
    (received,) = result.of_type(RepaymentReceived)
    assert isinstance(received, RepaymentReceived)
    return [(a.item, a.component, a.amount.fen) for a in received.allocations]


def test_a_loan_repayment_clears_the_oldest_instalment_first(
        ledger: Ledger, days: BusinessDays) -> None:
    # 3,600.00: #1 penalty 82.00, interest 120.00, principal 3,333.33 (3,535.33 in all);
    # the 64.67 left: #2 penalty 20.00, then 44.67 of its interest.
    two_missed_instalments(ledger, days)
    result = ledger.repay(ACCOUNT, "R-1", M("3600"), key="R-1")
    assert allocations_of(result) == [
        ("L-1#1", "penalty", 8_200), ("L-1#1", "interest", 12_000),
        ("L-1#1", "principal", 333_333),
        ("L-1#2", "penalty", 2_000), ("L-1#2", "interest", 4_467)]
    # Instalment 1 is cleared: days past due now count from 1 Jun.
    assert ledger.cash_loan(ACCOUNT).days_past_due(days.today) == 10


def test_component_first_pays_all_penalties_and_interest_before_any_principal(
        ledger: Ledger, days: BusinessDays) -> None:
    # The same 3,600.00 under COMPONENT_FIRST: penalties 82.00 + 20.00, interest
    # 120.00 + 82.67, then 3,600.00 − 304.67 = 3,295.33 of #1's principal.
    two_missed_instalments(ledger, days, CashLoanTerms(allocation=COMPONENT))
    result = ledger.repay(ACCOUNT, "R-1", M("3600"), key="R-1")
    assert allocations_of(result) == [
        ("L-1#1", "penalty", 8_200), ("L-1#2", "penalty", 2_000),
        ("L-1#1", "interest", 12_000), ("L-1#2", "interest", 8_267),
        ("L-1#1", "principal", 329_533)]
    # 38.00 of instalment 1's principal is still unpaid: past due since 1 May.
    assert ledger.cash_loan(ACCOUNT).days_past_due(days.today) == 41


def test_one_customer_payment_is_spread_oldest_due_first_across_both_products(
        ledger: Ledger, days: BusinessDays) -> None:
    # C-1 has a cash loan (10,000.00 interest first, drawn 1 Jan: 124.00 of interest due
    # 1 Feb) and a credit line (1,000.00 bought 5 Jan: statement due 10 Feb).
    ledger.open_credit_line("CL-1", "C-1", M("10000"), key="open-line")
    ledger.open_cash_loan("CA-1", "C-1", M("50000"), key="open-loan")
    ledger.draw("CA-1", "L-1", M("10000"), 3, "interest_first", key="draw")
    days.go_to(date(2026, 1, 5))
    ledger.purchase("CL-1", "O-1", M("1000"), "JD.com", "electronics", "app", key="buy-1")
    ledger.settle("CL-1", "O-1", key="settle-1")
    days.go_to(date(2026, 2, 3))
    ledger.purchase("CL-1", "O-2", M("200"), "Hema", "grocery", "pos", key="buy-2")
    ledger.settle("CL-1", "O-2", key="settle-2")

    # 500.00 on 5 Feb: the loan's 124.00 (due 1 Feb) first, then 376.00 of the
    # statement (due 10 Feb) — which is more than its 100.00 minimum.
    days.go_to(date(2026, 2, 5))
    first = ledger.repay_customer("C-1", "R-1", M("500"), key="R-1")
    assert {s: [(a.item, a.component, a.amount.fen) for e in evs
                if isinstance(e, RepaymentReceived) for a in e.allocations]
            for s, evs in first.events.items()} == {
        "CA-1": [("L-1#1", "interest", 12_400)],
        "CL-1": [("S2026-02", "principal", 37_600)]}

    # 1,000.00 on 6 Feb: the statement's last 624.00; the 376.00 left prepays the
    # unbilled 200.00 of O-2 and 176.00 becomes a credit balance on the line.
    days.go_to(date(2026, 2, 6))
    second = ledger.repay_customer("C-1", "R-2", M("1000"), key="R-2")
    assert list(second.events) == ["CL-1"]
    (received,) = second.of_type(RepaymentReceived)
    assert isinstance(received, RepaymentReceived)
    assert [(a.item, a.component, a.amount.fen) for a in received.allocations] == [
        ("S2026-02", "principal", 62_400), ("unbilled:O-2", "principal", 20_000)]
    assert received.to_credit_balance == M("176")
    line = ledger.credit_line("CL-1")
    assert (line.statement_balance(), line.unbilled_total(), line.credit_balance) == (
        0, 0, 17_600)
    days.go_to(date(2026, 2, 12))
    assert ledger.credit_line("CL-1").bucket == ledger.cash_loan("CA-1").bucket == "M0"
