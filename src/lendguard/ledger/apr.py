"""Annualised rate disclosure (年化利率) by the internal-rate-of-return method.

The disclosed APR is the periodic IRR of the borrower's cash flows times the number of
periods in a year (for monthly plans: monthly IRR × 12, not compounded), as Chinese
consumer-credit disclosure rules require. Fees count as cost of credit exactly like
interest, which is why a "0.6% per month" fee plan discloses as roughly 13% a year.

Cash flows are integer fen, one per equal period; due-date day counts are ignored.
Rates come back as ``Decimal`` fractions (``Decimal("0.135741")`` is 13.5741%). The root
finding runs in binary floating point internally; nothing here posts or reads a clock.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from lendguard.errors import InvalidAmount, InvalidCommand
from lendguard.ledger.schedule import Schedule, build_fee_plan

IRR_PLACES = Decimal("1e-12")
APR_PLACES = Decimal("1e-6")
# A large notional so per-period rounding of principal and fee does not move the APR.
NOTIONAL_PRINCIPAL = 1_000_000
_NOTIONAL_START = date(2000, 1, 1)

# Growth factors (1 + r) scanned for a sign change of the NPV: 1e-9 .. 1e9, i.e. rates from
# just above −100% to 10^9 per period, in steps of about 5%, plus r = 0 exactly.
_GRID_STEPS_PER_DECADE = 48
_GRID_DECADES = 9
_MAX_REFINEMENTS = 200
_GRID_POINTS = range(_GRID_STEPS_PER_DECADE * _GRID_DECADES + 1)
_GROWTH_BELOW = tuple(10.0 ** (-k / _GRID_STEPS_PER_DECADE) for k in _GRID_POINTS)
_GROWTH_ABOVE = tuple(10.0 ** (k / _GRID_STEPS_PER_DECADE) for k in _GRID_POINTS)


def irr(cashflows: Sequence[int]) -> Decimal:
    """The periodic internal rate of return of equally spaced integer cash flows.

    The rate ``r > -1`` solves ``sum(flow_t / (1 + r) ** t) = 0``. The equation does not
    change when every sign flips, so either convention is accepted: ``flows[0]`` positive
    (the borrower receives the loan) and later flows negative (repayments), or the lender's
    view with the signs reversed. When several rates solve it, the one closest to 0 is
    returned, as ``numpy_financial.irr`` does. Quantized to 12 decimal places.

    Raises ``InvalidAmount`` for non-integer flows and ``InvalidCommand`` when the flows
    never change sign or no rate in range solves the equation.
    """
    flows = _require_flows(cashflows)
    if sum(flows) == 0:
        return Decimal(0).quantize(IRR_PLACES)
    roots = [
        _refine_root(flows, *bracket)
        for grid in _grids_to_search(flows)
        if (bracket := _nearest_bracket(flows, grid)) is not None
    ]
    if not roots:
        raise InvalidCommand(
            f"no internal rate of return between -100% and 10^{_GRID_DECADES} per period "
            f"for cash flows {flows!r}"
        )
    growth = min(roots, key=lambda root: abs(root - 1.0))
    return Decimal(repr(growth - 1.0)).quantize(IRR_PLACES, rounding=ROUND_HALF_UP)


def apr_of_cashflows(flows: Sequence[int], periods_per_year: int = 12) -> Decimal:
    """Periodic IRR × periods per year, as a fraction rounded half-up to 6 places."""
    if isinstance(periods_per_year, bool) or not isinstance(periods_per_year, int):
        raise InvalidCommand(f"periods per year must be an integer, got {periods_per_year!r}")
    if periods_per_year <= 0:
        raise InvalidCommand(f"periods per year must be positive, got {periods_per_year}")
    annual = irr(flows) * periods_per_year
    return annual.quantize(APR_PLACES, rounding=ROUND_HALF_UP)


def apr_of_schedule(schedule: Schedule) -> Decimal:
    """APR of a monthly schedule: the principal received, then each instalment paid."""
    flows = [schedule.principal] + [-instalment.total for instalment in schedule.instalments]
    return apr_of_cashflows(flows, periods_per_year=12)


def apr_of_fee_plan(periods: int, total_fee_rate: Decimal) -> Decimal:
    """APR of a BNPL fee plan, priced on a notional principal so rounding does not distort."""
    plan = build_fee_plan(NOTIONAL_PRINCIPAL, periods, total_fee_rate, _NOTIONAL_START)
    return apr_of_schedule(plan)


def check_apr_cap(apr: Decimal, cap: Decimal, what: str) -> list[str]:
    """Every problem with ``apr`` against ``cap`` (both fractions); empty when it is within."""
    problems: list[str] = []
    for name, value in (("APR", apr), ("APR cap", cap)):
        if not isinstance(value, Decimal) or not value.is_finite():
            problems.append(f"{what}: {name} must be a finite Decimal, got {value!r}")
    if problems:
        return problems
    if cap < 0:
        problems.append(f"{what}: APR cap {_percent(cap)} must not be negative")
    if apr < 0:
        problems.append(f"{what}: APR {_percent(apr)} must not be negative")
    if apr > cap:
        problems.append(f"{what}: APR {_percent(apr)} exceeds the cap of {_percent(cap)}")
    return problems


def _percent(fraction: Decimal) -> str:
    return f"{(fraction * 100).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}%"


def _require_flows(cashflows: Sequence[int]) -> list[int]:
    flows = list(cashflows)
    for position, flow in enumerate(flows):
        if isinstance(flow, bool) or not isinstance(flow, int):
            raise InvalidAmount(f"cash flow {position} must be an integer of fen, got {flow!r}")
    if not (any(flow > 0 for flow in flows) and any(flow < 0 for flow in flows)):
        raise InvalidCommand(f"cash flows must change sign to have a rate of return: {flows!r}")
    return flows


def _npv_sign(flows: Sequence[int], growth: float) -> int:
    # Below growth 1 the discount factors overflow, so multiply through by growth ** T
    # (positive, same sign) and evaluate the polynomial in growth instead.
    value = _scaled_npv(flows, growth)[0]
    return (value > 0) - (value < 0)


def _scaled_npv(flows: Sequence[int], growth: float) -> tuple[float, float]:
    """NPV (times a positive factor) and its derivative in ``growth``, by Horner's rule."""
    if growth < 1.0:
        # sum flow_t * g ** (T - t): Horner from flows[0] upwards.
        value, slope = 0.0, 0.0
        for flow in flows:
            slope = slope * growth + value
            value = value * growth + flow
        return value, slope
    # sum flow_t * v ** t with v = 1 / g; d/dg = d/dv * (-v ** 2).
    discount = 1.0 / growth
    value, slope = 0.0, 0.0
    for flow in reversed(flows):
        slope = slope * discount + value
        value = value * discount + flow
    return value, -slope * discount * discount


def _grids_to_search(flows: Sequence[int]) -> list[tuple[float, ...]]:
    """Which sides of r = 0 may hold the root nearest to it.

    With one sign change (every ordinary loan) Descartes' rule allows exactly one root, and
    its side follows from the NPV at r = 0 against its limit ``flows[0]`` as r grows, so
    only that side is walked. Otherwise both are.
    """
    signs = [flow > 0 for flow in flows if flow != 0]
    sign_changes = sum(1 for before, after in itertools.pairwise(signs) if before != after)
    if sign_changes != 1:
        return [_GROWTH_BELOW, _GROWTH_ABOVE]
    root_above_zero = (sum(flows) > 0) != signs[0]
    return [_GROWTH_ABOVE if root_above_zero else _GROWTH_BELOW]


def _nearest_bracket(flows: Sequence[int], grid: Sequence[float]) -> tuple[float, float] | None:
    """The first pair of grid points, walking away from growth 1, across which NPV changes sign.

    ``grid`` starts at growth 1 (r = 0), whose NPV is known not to be zero, so walking out
    and stopping at the first change finds the root nearest to r = 0 on that side cheaply.
    """
    previous, previous_sign = grid[0], _npv_sign(flows, grid[0])
    for growth in grid[1:]:
        sign = _npv_sign(flows, growth)
        if sign == 0:
            return (growth, growth)
        if sign != previous_sign:
            return (min(previous, growth), max(previous, growth))
        previous = growth
    return None


def _refine_root(flows: Sequence[int], low: float, high: float) -> float:
    """Safeguarded Newton in growth ``1 + r``: bisect whenever Newton leaves the bracket.

    Both bracket ends stay on one side of growth 1 (1 is a grid point), so one scaling of
    the NPV is used throughout and the root is the same for it.
    """
    low_sign = _npv_sign(flows, low)
    guess = (low + high) / 2
    for _ in range(_MAX_REFINEMENTS):
        if high - low <= 4 * math.ulp(high):
            return (low + high) / 2
        value, slope = _scaled_npv(flows, guess)
        if value == 0:
            return guess
        if (value > 0) == (low_sign > 0):
            low = guess
        else:
            high = guess
        newton = guess - value / slope if slope != 0 else math.nan
        if not low < newton < high:
            guess = (low + high) / 2
        elif abs(newton - guess) <= 2 * math.ulp(guess):
            return newton
        else:
            guess = newton
    return guess
