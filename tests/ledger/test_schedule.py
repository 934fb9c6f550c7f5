"""Amortisation schedules against published examples, worked examples and numpy-financial.

numpy-financial is the oracle for the exact (unrounded) annuity; our schedules round to
the fen every period, so the oracle comparisons carry tolerances derived below.
"""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

import numpy as np
import numpy_financial as npf
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lendguard.errors import InvalidAmount, InvalidCommand
from lendguard.ledger.schedule import (
    RepaymentMethod,
    Schedule,
    ScheduledInstalment,
    annuity_payment,
    build_fee_plan,
    build_schedule,
)
from lendguard.money import round_half_up

START = date(2024, 1, 15)

principals = st.integers(min_value=100, max_value=10**9)  # 1 yuan .. 10 million yuan
# Monthly rates 0 .. 3% (36% a year, the legal ceiling) with six decimal places.
monthly_rates = st.integers(min_value=0, max_value=30_000).map(lambda micro: Decimal(micro) / 10**6)
terms = st.integers(min_value=1, max_value=360)
methods = st.sampled_from(list(RepaymentMethod))


def _amounts(schedule: Schedule) -> list[tuple[int, int, int, int]]:
    return [(i.principal, i.interest, i.opening_balance, i.closing_balance)
            for i in schedule.instalments]


def _cleared_early(schedule: Schedule, payment: int) -> bool:
    """True when rounding drift paid the loan off before the last period (see below)."""
    return any(i.total != payment for i in schedule.instalments[:-1])


# --- published and worked examples -------------------------------------------------------

def test_fineract_equal_instalment_example() -> None:
    # Apache Fineract: 100.00 at 12% a year (1% a month) over 6 months, equal instalments.
    # Level payment 10000 × 0.01 / (1 − 1.01^−6) = 1725.48 -> 1725 fen.
    schedule = build_schedule(
        10_000, Decimal("0.01"), 6, RepaymentMethod.EQUAL_INSTALMENT, date(2024, 1, 1)
    )
    assert [i.total for i in schedule.instalments] == [1725, 1725, 1725, 1725, 1725, 1728]
    assert [i.interest for i in schedule.instalments] == [100, 84, 67, 51, 34, 17]
    assert [i.principal for i in schedule.instalments] == [1625, 1641, 1658, 1674, 1691, 1711]
    assert [i.closing_balance for i in schedule.instalments] == [8375, 6734, 5076, 3402, 1711, 0]
    assert schedule.total_interest == 353
    assert schedule.total_fee == 0
    assert schedule.total_repayment == 10_353
    assert annuity_payment(10_000, Decimal("0.01"), 6) == 1725


def test_equal_principal_worked_example() -> None:
    # 等额本金: 1000.00 yuan at 1.5% a month over 3 months.
    # Principal 100000 // 3 = 33333 a month, the remainder 1 fen in the last: 33334.
    # Interest 100000 × 0.015 = 1500; 66667 × 0.015 = 1000.005 -> 1000;
    #          33334 × 0.015 = 500.01 -> 500.
    # Payments 34833, 34333, 33834; total interest 3000.
    schedule = build_schedule(
        100_000, Decimal("0.015"), 3, RepaymentMethod.EQUAL_PRINCIPAL, START
    )
    assert _amounts(schedule) == [
        (33_333, 1500, 100_000, 66_667),
        (33_333, 1000, 66_667, 33_334),
        (33_334, 500, 33_334, 0),
    ]
    assert [i.total for i in schedule.instalments] == [34_833, 34_333, 33_834]
    assert schedule.total_interest == 3000


def test_interest_first_worked_example() -> None:
    # 先息后本: 1000.00 yuan at 1.5% a month over 3 months.
    # Interest 100000 × 0.015 = 1500 every month on the untouched balance;
    # the whole 100000 of principal comes with the last: 101500.
    schedule = build_schedule(
        100_000, Decimal("0.015"), 3, RepaymentMethod.INTEREST_FIRST, START
    )
    assert _amounts(schedule) == [
        (0, 1500, 100_000, 100_000),
        (0, 1500, 100_000, 100_000),
        (100_000, 1500, 100_000, 0),
    ]
    assert [i.total for i in schedule.instalments] == [1500, 1500, 101_500]
    assert schedule.total_interest == 4500


def test_fee_plan_worked_example() -> None:
    # 100.00 yuan in 3 instalments with a 2.5% total fee: fee 10000 × 0.025 = 250.
    # Principal 10000 // 3 = 3333 remainder 1, fee 250 // 3 = 83 remainder 1;
    # both remainders go on the FIRST instalment: 3334 + 84 = 3418, then 3333 + 83 = 3416.
    plan = build_fee_plan(10_000, 3, Decimal("0.025"), START)
    assert [(i.principal, i.interest, i.fee) for i in plan.instalments] == [
        (3334, 0, 84), (3333, 0, 83), (3333, 0, 83),
    ]
    assert [i.total for i in plan.instalments] == [3418, 3416, 3416]
    assert [i.closing_balance for i in plan.instalments] == [6666, 3333, 0]
    assert plan.total_fee == 250
    assert plan.total_interest == 0
    assert plan.total_repayment == 10_250
    assert [i.due_date for i in plan.instalments] == [
        date(2024, 2, 15), date(2024, 3, 15), date(2024, 4, 15),
    ]


def test_fee_is_rounded_half_up() -> None:
    # 333 × 0.015 = 4.995 -> 5 fen.
    assert build_fee_plan(333, 1, Decimal("0.015"), START).total_fee == 5


def test_zero_rate_equal_instalment() -> None:
    # 1000 fen over 3 months at 0%: 1000 / 3 = 333.33 -> 333, the last pays the 334 left.
    schedule = build_schedule(1000, Decimal(0), 3, RepaymentMethod.EQUAL_INSTALMENT, START)
    assert [i.total for i in schedule.instalments] == [333, 333, 334]
    assert schedule.total_interest == 0


def test_instalment_total_and_numbering() -> None:
    instalment = ScheduledInstalment(
        number=1, due_date=START, principal=100, interest=7, fee=3,
        opening_balance=100, closing_balance=0,
    )
    assert instalment.total == 110
    schedule = build_schedule(5000, Decimal("0.02"), 4, RepaymentMethod.EQUAL_PRINCIPAL, START)
    assert [i.number for i in schedule.instalments] == [1, 2, 3, 4]


def test_method_accepts_its_string_value() -> None:
    by_enum = build_schedule(5000, Decimal("0.02"), 4, RepaymentMethod.EQUAL_PRINCIPAL, START)
    by_value = build_schedule(5000, Decimal("0.02"), 4, "equal_principal", START)  # type: ignore[arg-type]
    assert by_enum == by_value


# --- due dates ----------------------------------------------------------------------------

def _due_dates(start: date, periods: int, first_due: date | None = None) -> list[date]:
    schedule = build_schedule(
        12_000, Decimal("0.01"), periods, RepaymentMethod.EQUAL_PRINCIPAL, start,
        first_due=first_due,
    )
    return [i.due_date for i in schedule.instalments]


def test_month_end_clamps_per_month_and_keeps_the_anchor_day() -> None:
    assert _due_dates(date(2024, 1, 31), 4) == [
        date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 30), date(2024, 5, 31),
    ]
    assert _due_dates(date(2023, 1, 31), 2) == [date(2023, 2, 28), date(2023, 3, 31)]


def test_due_dates_roll_over_the_year() -> None:
    assert _due_dates(date(2024, 11, 30), 3) == [
        date(2024, 12, 30), date(2025, 1, 30), date(2025, 2, 28),
    ]


def test_first_due_date_anchors_the_rest() -> None:
    assert _due_dates(date(2024, 1, 10), 3, first_due=date(2024, 3, 31)) == [
        date(2024, 3, 31), date(2024, 4, 30), date(2024, 5, 31),
    ]


def test_first_due_date_must_follow_the_start() -> None:
    with pytest.raises(InvalidCommand, match="after the start"):
        _due_dates(date(2024, 1, 10), 3, first_due=date(2024, 1, 10))


# --- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("principal", [0, -1, True, 100.0, Decimal(100), "100"])
def test_bad_principal_is_refused(principal: object) -> None:
    with pytest.raises(InvalidAmount, match="principal"):
        build_schedule(principal, Decimal("0.01"), 3,  # type: ignore[arg-type]
                       RepaymentMethod.EQUAL_INSTALMENT, START)
    with pytest.raises(InvalidAmount, match="principal"):
        build_fee_plan(principal, 3, Decimal("0.01"), START)  # type: ignore[arg-type]


@pytest.mark.parametrize("rate", [0.01, Decimal("-0.001"), "NaN", None, True])
def test_bad_rate_is_refused(rate: object) -> None:
    with pytest.raises(InvalidAmount, match="rate"):
        build_schedule(1000, rate, 3, RepaymentMethod.EQUAL_INSTALMENT,  # type: ignore[arg-type]
                       START)
    with pytest.raises(InvalidAmount, match="rate"):
        build_fee_plan(1000, 3, rate, START)  # type: ignore[arg-type]


@pytest.mark.parametrize("periods", [0, -3, 361, True, 3.0])
def test_bad_term_is_refused(periods: object) -> None:
    with pytest.raises(InvalidCommand, match="periods"):
        build_schedule(1000, Decimal("0.01"), periods,  # type: ignore[arg-type]
                       RepaymentMethod.EQUAL_INSTALMENT, START)
    with pytest.raises(InvalidCommand, match="periods"):
        build_fee_plan(1000, periods, Decimal("0.01"), START)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["balloon", None, 1])
def test_unknown_method_is_refused(method: object) -> None:
    with pytest.raises(InvalidCommand, match="repayment method"):
        build_schedule(1000, Decimal("0.01"), 3, method, START)  # type: ignore[arg-type]


def test_start_must_be_a_date() -> None:
    with pytest.raises(InvalidCommand, match="start"):
        build_schedule(1000, Decimal("0.01"), 3, RepaymentMethod.EQUAL_INSTALMENT,
                       "2024-01-01")  # type: ignore[arg-type]


# --- properties for every method ----------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(principal=principals, rate=monthly_rates, periods=terms, method=methods)
def test_principal_is_repaid_exactly_and_balances_chain(
    principal: int, rate: Decimal, periods: int, method: RepaymentMethod
) -> None:
    schedule = build_schedule(principal, rate, periods, method, START)
    instalments = schedule.instalments
    assert len(instalments) == periods
    assert sum(i.principal for i in instalments) == principal
    assert instalments[0].opening_balance == principal
    assert instalments[-1].closing_balance == 0
    for earlier, later in itertools.pairwise(instalments):
        assert earlier.closing_balance == later.opening_balance
        assert earlier.due_date < later.due_date
    for i in instalments:
        assert i.principal >= 0
        assert i.closing_balance == i.opening_balance - i.principal
        assert i.interest == round_half_up(i.opening_balance * rate)
        assert i.fee == 0


@settings(max_examples=300, deadline=None)
@given(principal=principals, rate=monthly_rates, periods=terms)
def test_equal_principal_parts_are_level_with_the_remainder_last(
    principal: int, rate: Decimal, periods: int
) -> None:
    schedule = build_schedule(principal, rate, periods, RepaymentMethod.EQUAL_PRINCIPAL, START)
    parts = [i.principal for i in schedule.instalments]
    assert parts[:-1] == [principal // periods] * (periods - 1)
    assert parts[-1] == principal // periods + principal % periods
    assert max(parts) - min(parts) <= principal % periods


@settings(max_examples=300, deadline=None)
@given(principal=principals, rate=monthly_rates, periods=terms)
def test_interest_first_pays_all_principal_at_the_end(
    principal: int, rate: Decimal, periods: int
) -> None:
    schedule = build_schedule(principal, rate, periods, RepaymentMethod.INTEREST_FIRST, START)
    assert [i.principal for i in schedule.instalments] == [0] * (periods - 1) + [principal]
    level_interest = round_half_up(principal * rate)
    assert [i.interest for i in schedule.instalments] == [level_interest] * periods


@settings(max_examples=300, deadline=None)
@given(principal=principals, periods=terms,
       fee_rate=st.integers(min_value=0, max_value=300_000).map(lambda x: Decimal(x) / 10**6))
def test_fee_plan_front_loads_the_remainders(
    principal: int, periods: int, fee_rate: Decimal
) -> None:
    plan = build_fee_plan(principal, periods, fee_rate, START)
    fee = round_half_up(principal * fee_rate)
    principal_parts = [i.principal for i in plan.instalments]
    fee_parts = [i.fee for i in plan.instalments]
    assert principal_parts[1:] == [principal // periods] * (periods - 1)
    assert principal_parts[0] == principal // periods + principal % periods
    assert fee_parts[1:] == [fee // periods] * (periods - 1)
    assert fee_parts[0] == fee // periods + fee % periods
    assert plan.total_fee == fee
    assert plan.total_interest == 0
    assert plan.total_repayment == principal + fee
    assert plan.instalments[-1].closing_balance == 0


# --- equal instalment against numpy-financial ---------------------------------------------
#
# Level payment. npf.pmt gives the exact annuity A as a float. Ours is A rounded half-up,
# computed in 60-digit Decimal. Float noise (~1e-13 relative after (1+r)^360) can only
# change the rounded result when A's fraction lies within that noise of .5, so only there
# do we accept either neighbour (a 1-fen difference); everywhere else the fen must match.
#
# Per period. Write a = our rounded payment, δ = a − A (|δ| ≤ ½), e_k = our interest
# rounding in period k (|e_k| ≤ ½) and d_k = our balance − the exact balance. Then
#     d_k = d_{k−1}·(1+r) + e_k − δ,   d_0 = 0,
# so |d_{k−1}| ≤ (½ + |δ|)·((1+r)^{k−1} − 1)/r, and
#     |interest_k − ipmt_k|  = |r·d_{k−1} + e_k| ≤ ½ + (½ + |δ|)·((1+r)^{k−1} − 1)
#     |principal_k − ppmt_k| = |δ − r·d_{k−1} − e_k| ≤ (½ + |δ|)·(1+r)^{k−1}.
# That is "within 1 fen" compounded at the loan rate: exactly 1 fen in period 1, and close
# to 1 fen for short or cheap loans, but on a 30-year loan at 3% a month the drift grows
# to tens of yuan, so a flat 1-fen tolerance would be false for the spec'd algorithm.
# The last period repays our remaining balance, which is off by d_{n−1}: at most
# (½ + |δ|)·((1+r)^{n−1} − 1)/r, which is below n fen when r = 0.
# Extreme loans can drift far enough that the balance clears before the last period;
# those are checked separately (test_drift_that_clears_the_loan_early_...).

FLOAT_SLACK_FEN = 1e-6


def _float_slack(principal: int, rate: Decimal) -> float:
    # numpy-financial works in float: ~1e-12 relative error on amounts up to 1e9 fen, plus
    # the cancellation in its ((1+r)^n − 1)/r, which loses about log10(1/r) digits.
    relative = 1e-12 if rate == 0 else 1e-12 + 1e-15 / float(rate)
    return FLOAT_SLACK_FEN + relative * principal


@settings(max_examples=300, deadline=None)
@given(principal=principals, rate=monthly_rates, periods=terms)
def test_level_payment_is_the_rounded_annuity(
    principal: int, rate: Decimal, periods: int
) -> None:
    with np.errstate(divide="ignore", invalid="ignore"):  # npf divides by r even at r = 0
        exact = float(-npf.pmt(float(rate), periods, principal))
    ours = annuity_payment(principal, rate, periods)
    distance_from_half = abs((exact % 1.0) - 0.5)
    if distance_from_half < _float_slack(principal, rate):
        assert abs(ours - exact) <= 0.5 + _float_slack(principal, rate)
    else:
        assert ours == round_half_up(Decimal(repr(exact)))
    schedule = build_schedule(principal, rate, periods, RepaymentMethod.EQUAL_INSTALMENT, START)
    if not _cleared_early(schedule, ours):
        assert all(i.total == ours for i in schedule.instalments[:-1])


@settings(max_examples=300, deadline=None)
@given(principal=principals, rate=monthly_rates, periods=terms)
def test_equal_instalment_periods_track_ipmt_and_ppmt(
    principal: int, rate: Decimal, periods: int
) -> None:
    schedule = build_schedule(principal, rate, periods, RepaymentMethod.EQUAL_INSTALMENT, START)
    payment = annuity_payment(principal, rate, periods)
    assume(not _cleared_early(schedule, payment))
    r = float(rate)
    numbers = np.arange(1, periods + 1)
    with np.errstate(divide="ignore", invalid="ignore"):  # npf divides by r even at r = 0
        exact_payment = float(-npf.pmt(r, periods, principal))
        exact_interest = -npf.ipmt(r, numbers, periods, principal)
        exact_principal = -npf.ppmt(r, numbers, periods, principal)

    error_per_period = 0.5 + abs(payment - exact_payment)  # ½ + |δ|
    compounding = (1.0 + r) ** (numbers - 1)  # (1+r)^{k−1}
    interest_bound = 0.5 + error_per_period * (compounding - 1.0) + _float_slack(principal, rate)
    principal_bound = error_per_period * compounding + _float_slack(principal, rate)

    interest = np.array([i.interest for i in schedule.instalments])
    repaid = np.array([i.principal for i in schedule.instalments])
    interest_error = np.abs(interest - exact_interest)
    principal_error = np.abs(repaid - exact_principal)
    assert np.all(interest_error <= interest_bound)
    assert np.all(principal_error[:-1] <= principal_bound[:-1])
    # Period 1 is the plain "within 1 fen" case: nothing has compounded yet.
    assert interest_error[0] <= 0.5 + _float_slack(principal, rate)
    if periods > 1:
        assert principal_error[0] <= 1.0 + _float_slack(principal, rate)

    k = periods - 1
    accumulated = k if r == 0 else ((1.0 + r) ** k - 1.0) / r
    last_bound = error_per_period * accumulated + _float_slack(principal, rate)
    assert principal_error[-1] <= last_bound
    if r == 0:
        assert principal_error[-1] <= periods


def test_drift_that_clears_the_loan_early_still_repays_exactly() -> None:
    # 61,505.97 yuan at 2.742% a month over 359 months: the annuity 168,659.59… fen rounds
    # UP to 168,660, and 0.41 fen a month compounded at 2.742% over 357 months overpays
    # ~ 0.41 × (1.02742^357 − 1) / 0.02742 ≈ 234,000 fen, more than the last instalment.
    # The balance clears in period 358; period 359 is then owed nothing.
    schedule = build_schedule(
        6_150_597, Decimal("0.027420"), 359, RepaymentMethod.EQUAL_INSTALMENT, START
    )
    last_three = schedule.instalments[-3:]
    assert [i.total for i in last_three] == [168_660, 84_873, 0]
    assert [i.closing_balance for i in last_three] == [82_608, 0, 0]
    assert sum(i.principal for i in schedule.instalments) == 6_150_597
    assert all(i.principal >= 0 for i in schedule.instalments)
