"""Product terms: the contract an account is opened under, stored in its opening event.

Terms are frozen dataclasses so that an account replays under the terms it was opened
with, whatever the product configuration says today. ``validate_*`` return *every*
problem at once (an empty list means the terms are acceptable); ``require_valid`` turns
problems into one ``InvalidConfiguration``. Pricing that a borrower sees is checked
against the APR cap here, at configuration time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from lendguard.errors import InvalidConfiguration
from lendguard.ledger.apr import apr_of_fee_plan, apr_of_schedule, check_apr_cap
from lendguard.ledger.schedule import RepaymentMethod, build_schedule

DEFAULT_APR_CAP = Decimal("0.24")


class AllocationOrder(StrEnum):
    """How a repayment is spread over what is owed.

    ``DUE_DATE_FIRST``: oldest item first; within an item penalty → fee → interest →
    principal (Fineract's default "penalties, fees, interest, principal order").
    ``COMPONENT_FIRST``: all penalties (oldest first), then all fees, interest, principal.
    """

    DUE_DATE_FIRST = "due_date_first"
    COMPONENT_FIRST = "component_first"


@dataclass(frozen=True, slots=True)
class InstalmentOption:
    """A BNPL instalment offer: ``periods`` months at ``total_fee_rate`` of principal."""

    periods: int
    total_fee_rate: Decimal


@dataclass(frozen=True, slots=True)
class CreditLineTerms:
    """Terms of a revolving credit line (花呗).

    Attributes:
      statement_day: day of month the statement is issued (1–28).
      due_day: day of month payment is due (1–28), in the month of the statement.
      minimum_payment_rate: share of new revolving principal in the minimum payment.
      penalty_daily_rate: interest a day on what is unpaid after the due day.
      instalment_options: the offered instalment plans and their total fee rates.
      allocation: how repayments are allocated.
      write_off_days: days past due at which the account is written off.
      apr_cap: the highest APR a borrower may be offered.
    """

    statement_day: int = 1
    due_day: int = 10
    minimum_payment_rate: Decimal = Decimal("0.10")
    penalty_daily_rate: Decimal = Decimal("0.0005")
    instalment_options: tuple[InstalmentOption, ...] = (
        InstalmentOption(3, Decimal("0.023")),
        InstalmentOption(6, Decimal("0.045")),
        InstalmentOption(9, Decimal("0.065")),
        InstalmentOption(12, Decimal("0.075")),
    )
    allocation: AllocationOrder = AllocationOrder.DUE_DATE_FIRST
    write_off_days: int = 180
    apr_cap: Decimal = DEFAULT_APR_CAP

    def fee_rate_for(self, periods: int) -> Decimal | None:
        for option in self.instalment_options:
            if option.periods == periods:
                return option.total_fee_rate
        return None


@dataclass(frozen=True, slots=True)
class CashLoanTerms:
    """Terms of an instalment cash loan (借呗).

    Attributes:
      daily_rate: interest a day on outstanding principal (0.015%–0.06% by risk grade).
      terms_months: the loan terms offered.
      methods: the repayment methods offered.
      penalty_multiplier: overdue principal accrues ``daily_rate × penalty_multiplier``.
      allocation, write_off_days, apr_cap: as for the credit line.
    """

    daily_rate: Decimal = Decimal("0.0004")
    terms_months: tuple[int, ...] = (3, 6, 12)
    methods: tuple[RepaymentMethod, ...] = (
        RepaymentMethod.EQUAL_INSTALMENT,
        RepaymentMethod.EQUAL_PRINCIPAL,
        RepaymentMethod.INTEREST_FIRST,
    )
    penalty_multiplier: Decimal = Decimal("1.5")
    allocation: AllocationOrder = AllocationOrder.DUE_DATE_FIRST
    write_off_days: int = 180
    apr_cap: Decimal = DEFAULT_APR_CAP

    @property
    def periodic_rate(self) -> Decimal:
        """The monthly rate of the disclosed schedule: 30 days a month (30/360)."""
        return self.daily_rate * 30

    @property
    def penalty_daily_rate(self) -> Decimal:
        return self.daily_rate * self.penalty_multiplier


def _check_day(name: str, value: int) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 28:
        return [f"{name} must be a day of month from 1 to 28, got {value!r}"]
    return []


def _check_rate(name: str, value: object, low: Decimal, high: Decimal) -> list[str]:
    if not isinstance(value, Decimal) or not value.is_finite():
        return [f"{name} must be a Decimal, got {value!r}"]
    if not low <= value <= high:
        return [f"{name} must be between {low} and {high}, got {value}"]
    return []


# Validation is pure and, through the APR checks, costs a few milliseconds: opening
# thousands of accounts on the same terms should pay for it once.
T = TypeVar("T")
_VALIDATED: dict[object, tuple[str, ...]] = {}
_VALIDATED_MAX = 256


def _memoised(check: Callable[[T], list[str]], terms: T) -> list[str]:
    try:
        found = _VALIDATED.get((check, terms))
    except TypeError:  # unhashable junk in a field: just check it
        return check(terms)
    if found is None:
        if len(_VALIDATED) >= _VALIDATED_MAX:
            _VALIDATED.clear()
        found = _VALIDATED[(check, terms)] = tuple(check(terms))
    return list(found)


def validate_credit_line_terms(terms: CreditLineTerms) -> list[str]:
    """Every problem with a credit line's terms (empty when they are valid)."""
    return _memoised(_credit_line_problems, terms)


def validate_cash_loan_terms(terms: CashLoanTerms) -> list[str]:
    """Every problem with a cash loan's terms (empty when they are valid)."""
    return _memoised(_cash_loan_problems, terms)


def _credit_line_problems(terms: CreditLineTerms) -> list[str]:
    problems = _check_day("statement_day", terms.statement_day)
    problems += _check_day("due_day", terms.due_day)
    problems += _check_rate("minimum_payment_rate", terms.minimum_payment_rate,
                            Decimal("0.01"), Decimal(1))
    problems += _check_rate("penalty_daily_rate", terms.penalty_daily_rate, Decimal(0),
                            Decimal("0.01"))
    problems += _check_rate("apr_cap", terms.apr_cap, Decimal(0), Decimal(10))
    if terms.write_off_days < 1:
        problems.append(f"write_off_days must be positive, got {terms.write_off_days}")
    seen: set[int] = set()
    for option in terms.instalment_options:
        if option.periods in seen or not 2 <= option.periods <= 36:
            problems.append(f"instalment periods must be distinct, 2–36: {option.periods}")
        seen.add(option.periods)
        rate_problems = _check_rate(f"fee rate of {option.periods} periods",
                                    option.total_fee_rate, Decimal(0), Decimal(1))
        problems += rate_problems
        if not rate_problems and isinstance(terms.apr_cap, Decimal):
            apr = apr_of_fee_plan(option.periods, option.total_fee_rate)
            problems += check_apr_cap(apr, terms.apr_cap, f"{option.periods}-period instalments")
    return problems


def _cash_loan_problems(terms: CashLoanTerms) -> list[str]:
    problems = _check_rate("daily_rate", terms.daily_rate, Decimal(0), Decimal("0.01"))
    problems += _check_rate("penalty_multiplier", terms.penalty_multiplier, Decimal(1),
                            Decimal(5))
    problems += _check_rate("apr_cap", terms.apr_cap, Decimal(0), Decimal(10))
    if not terms.terms_months or any(not 1 <= t <= 60 for t in terms.terms_months):
        problems.append(f"loan terms must be 1–60 months, got {terms.terms_months}")
    if not terms.methods:
        problems.append("at least one repayment method must be offered")
    if problems:
        return problems
    for months in terms.terms_months:
        for method in terms.methods:
            schedule = build_schedule(1_000_000, terms.periodic_rate, months, method,
                                      date(2000, 1, 1))
            apr = apr_of_schedule(schedule)
            problems += check_apr_cap(apr, terms.apr_cap, f"{months}-month {method.value}")
    return problems


def require_valid(problems: list[str]) -> None:
    if problems:
        raise InvalidConfiguration(problems)
