"""APR disclosure by IRR: the published fee-plan figures, and irr against numpy-financial."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy_financial as npf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.errors import InvalidAmount, InvalidCommand
from lendguard.ledger.apr import (
    apr_of_cashflows,
    apr_of_fee_plan,
    apr_of_schedule,
    check_apr_cap,
    irr,
)
from lendguard.ledger.schedule import RepaymentMethod, build_fee_plan, build_schedule

PERCENT_PLACES = Decimal("0.0001")


# --- disclosure examples ------------------------------------------------------------------

def test_twelve_month_plan_with_7_5_percent_fee_discloses_13_57_percent() -> None:
    # 7.5% over 12 months "looks like" 0.625% a month, but the fee is charged on the full
    # amount while the balance falls: monthly IRR 1.1306% × 12 = 13.57% a year.
    apr = apr_of_fee_plan(12, Decimal("0.075"))
    assert apr.quantize(PERCENT_PLACES) == Decimal("0.1357")


def test_three_month_plan_with_2_5_percent_fee_discloses_14_94_percent() -> None:
    apr = apr_of_fee_plan(3, Decimal("0.025"))
    assert apr.quantize(PERCENT_PLACES) == Decimal("0.1494")


def test_apr_is_monthly_irr_times_twelve_not_compounded() -> None:
    # 10000 fen now, 10100 fen in a month: IRR 1% a month -> 12%, not 1.01^12 − 1 = 12.68%.
    assert apr_of_cashflows([10_000, -10_100]) == Decimal("0.120000")
    assert apr_of_cashflows([10_000, -10_100], periods_per_year=4) == Decimal("0.040000")


@pytest.mark.parametrize("periods", [1, 3, 6, 12, 24])
def test_a_zero_fee_plan_has_zero_apr(periods: int) -> None:
    assert apr_of_fee_plan(periods, Decimal(0)) == 0


def test_fineract_schedule_apr_is_close_to_the_nominal_12_percent() -> None:
    # Rounding the level payment down to 1725 (and the last 1728) keeps the IRR at 12% to
    # within a few hundredths of a percentage point.
    schedule = build_schedule(
        10_000, Decimal("0.01"), 6, RepaymentMethod.EQUAL_INSTALMENT, date(2024, 1, 1)
    )
    assert abs(apr_of_schedule(schedule) - Decimal("0.12")) < Decimal("0.0005")


@settings(max_examples=300, deadline=None)
@given(
    principal=st.integers(min_value=100_000, max_value=10**9),
    rate=st.integers(min_value=0, max_value=30_000).map(lambda micro: Decimal(micro) / 10**6),
    periods=st.integers(min_value=1, max_value=360),
)
def test_equal_instalment_apr_is_twelve_times_the_monthly_rate(
    principal: int, rate: Decimal, periods: int
) -> None:
    schedule = build_schedule(
        principal, rate, periods, RepaymentMethod.EQUAL_INSTALMENT, date(2024, 1, 1)
    )
    # Balances obey b_k = b_{k−1}·(1+r) + e_k − payment_k exactly, where e_k (|e_k| ≤ ½) is
    # the interest rounding. So at rate r the flows' NPV is Σ e_k·v^k (v = 1/(1+r)): the
    # rounded payment and the last period's catch-up are themselves priced at r. Dividing by
    # the NPV's slope Σ b_{k−1}·v^k moves the monthly IRR by at most ½·n / Σ b_{k−1}
    # (balances and discount factors both fall, so Chebyshev's sum inequality applies).
    # Times 12 for the APR, times 2 for the linearisation, plus the 6-place rounding.
    balance_periods = sum(i.opening_balance for i in schedule.instalments)
    tolerance = Decimal(12 * periods) / balance_periods + Decimal("0.000001")
    assert abs(apr_of_schedule(schedule) - 12 * rate) <= tolerance


# --- irr ----------------------------------------------------------------------------------

def test_irr_of_exact_rates() -> None:
    assert irr([-100, 110]) == Decimal("0.1")
    assert irr([-1000, 0, 1210]) == Decimal("0.1")
    assert irr([100, -50, -50]) == 0
    assert irr([-100, 39, 59, 55, 20]) == Decimal("0.280948421160")  # numpy-financial's doc
    assert irr([-100, 0, 0, 74]) == Decimal("-0.095495830349")


def test_irr_returns_twelve_decimal_places() -> None:
    assert irr([-100, 39, 59, 55, 20]).as_tuple().exponent == -12


def test_irr_accepts_either_sign_convention() -> None:
    borrower_view = [1_000_000, -90_000, -90_000, -90_000, -800_000]
    lender_view = [-flow for flow in borrower_view]
    assert irr(borrower_view) == irr(lender_view)


def test_irr_picks_the_root_nearest_zero_like_numpy_financial() -> None:
    # -100 + 230/(1+r) − 132/(1+r)^2 = 0 has roots r = 10% and r = 20%.
    assert irr([-100, 230, -132]) == Decimal("0.1")
    # 50 − 105/(1+r) + 54/(1+r)^2: roots −10% and +20%; 50 − 95/(1+r) + 42/(1+r)^2: −30%, +20%.
    assert irr([50, -105, 54]) == Decimal("-0.1")
    assert irr([50, -95, 42]) == Decimal("0.2")
    for flows in ([-100, 230, -132], [50, -105, 54], [50, -95, 42]):
        assert abs(float(irr(flows)) - npf.irr(flows)) < 1e-12


@pytest.mark.parametrize("flows", [[100, 50], [-100, -1], [0, 0, 0], [5], []])
def test_irr_without_a_sign_change_is_refused(flows: list[int]) -> None:
    with pytest.raises(InvalidCommand, match="change sign"):
        irr(flows)


def test_irr_without_a_real_root_is_refused() -> None:
    # -100 + 300v − 300v² has a negative discriminant: no rate at all.
    with pytest.raises(InvalidCommand, match="no internal rate"):
        irr([-100, 300, -300])


@pytest.mark.parametrize("flows", [[-100.0, 110], [-100, Decimal(110)], [True, -2]])
def test_irr_refuses_non_integer_flows(flows: list[object]) -> None:
    with pytest.raises(InvalidAmount, match="integer"):
        irr(flows)  # type: ignore[arg-type]


@pytest.mark.parametrize("periods_per_year", [0, -12, True, 12.0])
def test_apr_refuses_a_bad_year(periods_per_year: object) -> None:
    with pytest.raises(InvalidCommand, match="periods per year"):
        apr_of_cashflows([10_000, -10_100], periods_per_year)  # type: ignore[arg-type]


@st.composite
def loan_cashflows(draw: st.DrawFn) -> list[int]:
    """A borrower's flows: an amount received, then repayments (some may be skipped)."""
    principal = draw(st.integers(min_value=1_000, max_value=10**9))
    periods = draw(st.integers(min_value=1, max_value=60))
    # Payments between 0.2× and 3× the straight-line share: IRRs from about −90% to +200%.
    share = principal // periods + 1
    payments = draw(st.lists(st.integers(min_value=0, max_value=3 * share),
                             min_size=periods, max_size=periods))
    payments[-1] = max(payments[-1], share // 5 + 1)
    return [principal] + [-payment for payment in payments]


@settings(max_examples=300, deadline=None)
@given(flows=loan_cashflows())
def test_irr_agrees_with_numpy_financial(flows: list[int]) -> None:
    ours = irr(flows)
    theirs = npf.irr(flows)
    # np.roots on a degree-60 polynomial is good to ~1e-12 near the root; 1e-9 leaves room.
    assert abs(float(ours) - theirs) <= 1e-9 * max(1.0, abs(theirs))
    assert irr([-flow for flow in flows]) == ours


@settings(max_examples=300, deadline=None)
@given(flows=loan_cashflows())
def test_irr_zeroes_the_net_present_value(flows: list[int]) -> None:
    rate = irr(flows)
    if rate <= Decimal("-0.9"):
        return  # discount factors explode near -100%; numpy's agreement covers these
    growth = 1 + rate
    npv = sum((Decimal(flow) / growth**t for t, flow in enumerate(flows)), Decimal(0))
    # |NPV(r + Δ)| ≤ |Δ|·max|NPV'| and |NPV'| ≤ Σ t·|flow_t| / min(1, 1+r)^(t+1); the rate
    # is off the true root by at most the 12-place quantization, 5e-13 (2e-12 for slack).
    weighted_flows = Decimal(sum(t * abs(flow) for t, flow in enumerate(flows)))
    slope_bound: Decimal = weighted_flows / min(Decimal(1), growth) ** len(flows)
    assert abs(npv) <= Decimal("2e-12") * slope_bound


def test_fee_plan_apr_uses_the_fee_plan_schedule() -> None:
    plan = build_fee_plan(1_000_000, 12, Decimal("0.075"), date(2000, 1, 1))
    assert apr_of_schedule(plan) == apr_of_fee_plan(12, Decimal("0.075"))


# --- cap check ----------------------------------------------------------------------------

def test_apr_within_the_cap_has_no_problems() -> None:
    assert check_apr_cap(Decimal("0.1357"), Decimal("0.24"), "12-month plan") == []
    assert check_apr_cap(Decimal("0.24"), Decimal("0.24"), "at the cap") == []


def test_apr_over_the_cap_is_reported_with_what_and_both_rates() -> None:
    problems = check_apr_cap(Decimal("0.2745"), Decimal("0.24"), "cash loan 12m")
    assert problems == ["cash loan 12m: APR 27.45% exceeds the cap of 24.00%"]


def test_cap_check_reports_every_problem() -> None:
    problems = check_apr_cap(0.3, "0.24", "bad config")  # type: ignore[arg-type]
    assert len(problems) == 2
    assert all(problem.startswith("bad config: ") for problem in problems)
    assert check_apr_cap(Decimal("-0.01"), Decimal("-0.02"), "negative") == [
        "negative: APR cap -2.00% must not be negative",
        "negative: APR -1.00% must not be negative",
        "negative: APR -1.00% exceeds the cap of -2.00%",
    ]
