"""Amortisation schedules: who owes what, and when, for a loan or an instalment plan.

Three repayment methods for monthly loans (等额本息, 等额本金, 先息后本) and the BNPL fee
plan (分期手续费). Every amount is an ``int`` of fen and every rate a ``Decimal``; interest
is rounded half-up to the fen once per period, on that period's opening balance.

Everything here is a pure function of its arguments. Nothing here posts to the ledger,
reads a clock or knows about accounts: callers turn a ``Schedule`` into events.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext
from enum import StrEnum

from lendguard.errors import InvalidAmount, InvalidCommand
from lendguard.money import round_half_up, to_decimal_rate

MAX_PERIODS = 360
# Enough digits that (1 + r) ** 360 and balance × rate lose nothing at the fen before rounding.
_ANNUITY_PRECISION = 60


class RepaymentMethod(StrEnum):
    """How principal is spread over the periods of a loan."""

    EQUAL_INSTALMENT = "equal_instalment"  # 等额本息: level payment, interest falls over time
    EQUAL_PRINCIPAL = "equal_principal"  # 等额本金: level principal, payment falls over time
    INTEREST_FIRST = "interest_first"  # 先息后本: interest only, principal at maturity


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduledInstalment:
    """One period's amounts due.

    Attributes:
      number: 1-based position in the schedule.
      due_date: the day this instalment falls due.
      principal: fen of principal repaid in this period.
      interest: fen of interest charged on ``opening_balance`` for this period.
      fee: fen of instalment fee charged in this period (0 for interest-bearing loans).
      opening_balance: principal outstanding at the start of the period, in fen.
      closing_balance: principal outstanding after this instalment is paid, in fen.
    """

    number: int
    due_date: date
    principal: int
    interest: int
    fee: int = 0
    opening_balance: int
    closing_balance: int

    @property
    def total(self) -> int:
        """Fen the borrower pays for this instalment."""
        return self.principal + self.interest + self.fee


@dataclass(frozen=True, slots=True)
class Schedule:
    """A full repayment plan.

    Attributes:
      principal: the amount lent, in fen; the instalments' principal parts sum to it exactly.
      instalments: the periods in order, numbered from 1.
    """

    principal: int
    instalments: tuple[ScheduledInstalment, ...]

    @property
    def total_interest(self) -> int:
        return sum(instalment.interest for instalment in self.instalments)

    @property
    def total_fee(self) -> int:
        return sum(instalment.fee for instalment in self.instalments)

    @property
    def total_repayment(self) -> int:
        return sum(instalment.total for instalment in self.instalments)


def build_schedule(
    principal: int,
    periodic_rate: Decimal,
    periods: int,
    method: RepaymentMethod,
    start: date,
    *,
    first_due: date | None = None,
) -> Schedule:
    """The monthly schedule of a loan drawn on ``start``.

    Instalments fall due on ``start``'s day of the month in each following month, or on
    ``first_due`` and then on its day of the month; short months clamp to their last day
    without moving the anchor (Jan 31 -> Feb 28 -> Mar 31).

    Raises ``InvalidAmount`` for a bad principal or rate and ``InvalidCommand`` for a bad
    term, method or date.
    """
    _require_principal(principal)
    rate = _require_rate(periodic_rate, "periodic rate")
    _require_periods(periods)
    chosen = _require_method(method)
    due_dates = _due_dates(start, periods, first_due)
    principal_parts = _PRINCIPAL_RULES[chosen](principal, rate, periods)

    instalments: list[ScheduledInstalment] = []
    balance = principal
    for number, due_date in enumerate(due_dates, start=1):
        interest = period_interest(balance, rate)
        repaid = principal_parts(number, balance, interest)
        instalments.append(
            ScheduledInstalment(
                number=number,
                due_date=due_date,
                principal=repaid,
                interest=interest,
                opening_balance=balance,
                closing_balance=balance - repaid,
            )
        )
        balance -= repaid
    return Schedule(principal=principal, instalments=tuple(instalments))


def build_fee_plan(
    principal: int, periods: int, total_fee_rate: Decimal, start: date
) -> Schedule:
    """A BNPL instalment conversion: no interest, a flat fee spread over the periods.

    The fee is ``round_half_up(principal × total_fee_rate)``. Principal and fee are each
    split evenly; the remainder fen of each goes on the FIRST period so the customer
    clears the odd fen early. Instalments fall due monthly after ``start``.
    """
    _require_principal(principal)
    _require_periods(periods)
    fee_rate = _require_rate(total_fee_rate, "total fee rate")
    total_fee = round_half_up(principal * fee_rate)
    principal_parts = _split_front_loaded(principal, periods)
    fee_parts = _split_front_loaded(total_fee, periods)

    instalments: list[ScheduledInstalment] = []
    balance = principal
    due_dates = _due_dates(start, periods, None)
    for number, (due_date, repaid, fee) in enumerate(
        zip(due_dates, principal_parts, fee_parts, strict=True), start=1
    ):
        instalments.append(
            ScheduledInstalment(
                number=number,
                due_date=due_date,
                principal=repaid,
                interest=0,
                fee=fee,
                opening_balance=balance,
                closing_balance=balance - repaid,
            )
        )
        balance -= repaid
    return Schedule(principal=principal, instalments=tuple(instalments))


def annuity_payment(principal: int, periodic_rate: Decimal, periods: int) -> int:
    """The level 等额本息 payment ``P·r / (1 − (1 + r)^−n)``, rounded half-up to the fen."""
    if periodic_rate == 0:
        return round_half_up(Decimal(principal) / periods)
    with localcontext() as context:
        context.prec = _ANNUITY_PRECISION
        growth = (1 + periodic_rate) ** periods
        exact = Decimal(principal) * periodic_rate * growth / (growth - 1)
    return round_half_up(exact)


def period_interest(opening_balance: int, periodic_rate: Decimal) -> int:
    """One period's interest: opening balance × rate, rounded half-up to the fen."""
    with localcontext() as context:
        context.prec = _ANNUITY_PRECISION
        exact = Decimal(opening_balance) * periodic_rate
    return round_half_up(exact)


# A principal rule sees (number, opening balance, interest) and says how much principal
# that period repays; it is built once per schedule from (principal, rate, periods).
_PrincipalPart = Callable[[int, int, int], int]


def _equal_instalment(principal: int, rate: Decimal, periods: int) -> _PrincipalPart:
    payment = annuity_payment(principal, rate, periods)

    def part(number: int, balance: int, interest: int) -> int:
        if number == periods:
            return balance
        # The rounded payment drifts from the exact annuity; on very long, high-rate loans
        # the drift can clear the balance early, and a period never repays more than is owed.
        return min(payment - interest, balance)

    return part


def _equal_principal(principal: int, rate: Decimal, periods: int) -> _PrincipalPart:
    level = principal // periods

    def part(number: int, balance: int, interest: int) -> int:
        return balance if number == periods else level

    return part


def _interest_first(principal: int, rate: Decimal, periods: int) -> _PrincipalPart:
    def part(number: int, balance: int, interest: int) -> int:
        return balance if number == periods else 0

    return part


_PRINCIPAL_RULES: dict[RepaymentMethod, Callable[[int, Decimal, int], _PrincipalPart]] = {
    RepaymentMethod.EQUAL_INSTALMENT: _equal_instalment,
    RepaymentMethod.EQUAL_PRINCIPAL: _equal_principal,
    RepaymentMethod.INTEREST_FIRST: _interest_first,
}


def _split_front_loaded(amount: int, periods: int) -> list[int]:
    level, remainder = divmod(amount, periods)
    return [level + remainder] + [level] * (periods - 1)


def _due_dates(start: date, periods: int, first_due: date | None) -> list[date]:
    if not isinstance(start, date):
        raise InvalidCommand(f"start must be a date, got {start!r}")
    if first_due is None:
        return [add_months(start, months) for months in range(1, periods + 1)]
    if not isinstance(first_due, date):
        raise InvalidCommand(f"first due date must be a date, got {first_due!r}")
    if first_due <= start:
        raise InvalidCommand(f"first due date {first_due} must be after the start {start}")
    return [add_months(first_due, months) for months in range(periods)]


def add_months(anchor: date, months: int) -> date:
    """``anchor`` moved ``months`` calendar months on, clamped to the end of a short month."""
    month_index = anchor.month - 1 + months
    year, month = anchor.year + month_index // 12, month_index % 12 + 1
    last_day = calendar.monthrange(year, month)[1]
    return date(year, month, min(anchor.day, last_day))


def _require_principal(principal: object) -> None:
    if isinstance(principal, bool) or not isinstance(principal, int):
        raise InvalidAmount(f"principal must be an integer number of fen, got {principal!r}")
    if principal <= 0:
        raise InvalidAmount(f"principal must be positive, got {principal} fen")


def _require_rate(rate: object, what: str) -> Decimal:
    if isinstance(rate, float):
        raise InvalidAmount(f"{what} must be a Decimal, never a float: {rate!r}")
    decimal_rate = to_decimal_rate(rate, what)
    if decimal_rate < 0:
        raise InvalidAmount(f"{what} must not be negative, got {decimal_rate}")
    return decimal_rate


def _require_periods(periods: object) -> None:
    if isinstance(periods, bool) or not isinstance(periods, int):
        raise InvalidCommand(f"number of periods must be an integer, got {periods!r}")
    if not 1 <= periods <= MAX_PERIODS:
        raise InvalidCommand(f"number of periods must be 1..{MAX_PERIODS}, got {periods}")


def _require_method(method: object) -> RepaymentMethod:
    if isinstance(method, str):
        try:
            return RepaymentMethod(method)
        except ValueError:
            pass
    known = ", ".join(member.value for member in RepaymentMethod)
    raise InvalidCommand(f"unknown repayment method {method!r}; expected one of {known}")
