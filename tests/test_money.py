"""Money: one way in (integer fen or ``Money.of`` from a decimal string), no floats, no
mixing of currencies, and one rounding rule (half-up, halves away from zero)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lendguard.errors import CurrencyMismatch, InvalidAmount
from lendguard.money import Money, format_fen, round_half_up, to_decimal_rate, yuan

# ---- one way in --------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "fen"), [
    ("12.34", 1234),
    ("12.340", 1234),  # trailing zeros are not extra precision
    ("0.01", 1),
    ("-0.01", -1),
    ("1299", 129_900),
    ("12345678901234.56", 1_234_567_890_123_456),  # no float ever sees it: exact
])
def test_money_of_reads_major_units_exactly(text: str, fen: int) -> None:
    assert Money.of(text) == Money(fen)


def test_money_of_takes_decimal_and_int() -> None:
    assert Money.of(Decimal("3290.22")).fen == 329_022
    assert Money.of(12).fen == 1_200


@pytest.mark.parametrize("text", ["12.345", "0.001", "0.005"])
def test_money_of_refuses_more_precision_than_a_fen(text: str) -> None:
    # 12.345 yuan is 1234.5 fen: there is no half fen to hold, and rounding silently here
    # would lose money before any posting; the caller must round explicitly.
    with pytest.raises(InvalidAmount, match="precision"):
        Money.of(text)


@pytest.mark.parametrize("text", ["abc", "", "NaN", "Infinity", "-Infinity", "1,000.00"])
def test_money_of_refuses_what_is_not_a_finite_number(text: str) -> None:
    with pytest.raises(InvalidAmount):
        Money.of(text)


@pytest.mark.parametrize("bad", [12.34, 0.1 + 0.2, True, False])
def test_money_of_refuses_floats_and_bools(bad: object) -> None:
    with pytest.raises(InvalidAmount):
        Money.of(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [12.0, True, "1234", Decimal("12"), None])
def test_fen_must_be_a_real_int(bad: object) -> None:
    # True is an int to Python; True fen is never meant.
    with pytest.raises(InvalidAmount):
        Money(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("currency", ["cny", "CN", "CNYY", "C1Y", ""])
def test_currency_is_a_three_letter_upper_case_code(currency: str) -> None:
    with pytest.raises(InvalidAmount, match="currency"):
        Money(100, currency)


def test_rates_are_never_floats() -> None:
    with pytest.raises(InvalidAmount):
        to_decimal_rate(0.0005)
    with pytest.raises(InvalidAmount):
        Money(100).times_rate(0.0005)  # type: ignore[arg-type]
    assert to_decimal_rate("0.0005") == Decimal("0.0005")


# ---- arithmetic ----------------------------------------------------------------------------


def test_arithmetic_within_one_currency() -> None:
    assert Money.of("1299") + Money.of("356.80") == Money.of("1655.80")
    assert Money.of("1655.80") - Money.of("2000") == Money.of("-344.20")
    assert -Money.of("1.50") == Money(-150)
    assert Money.of("9.20") * 3 == Money.of("27.60")
    assert Money.zero().fen == 0
    assert Money.of("0.01").is_positive() and not Money.zero().is_positive()


@pytest.mark.parametrize("combine", [
    lambda a, b: a + b,
    lambda a, b: a - b,
])
def test_mixing_currencies_raises_currency_mismatch(combine: object) -> None:
    cny, usd = Money(100, "CNY"), Money(100, "USD")
    with pytest.raises(CurrencyMismatch):
        combine(cny, usd)  # type: ignore[operator]
    # CurrencyMismatch is an InvalidAmount, so callers catching bad amounts catch it too.
    assert issubclass(CurrencyMismatch, InvalidAmount)


@pytest.mark.parametrize("other", [100, Decimal("1.00"), 1.0])
def test_money_does_not_add_bare_numbers(other: object) -> None:
    with pytest.raises(InvalidAmount):
        Money(100) + other  # type: ignore[operator]


@pytest.mark.parametrize("factor", [1.5, True, Decimal("2")])
def test_money_multiplies_only_by_int(factor: object) -> None:
    with pytest.raises(InvalidAmount):
        Money(100) * factor  # type: ignore[operator]


def test_times_rate_is_exact_and_unrounded() -> None:
    # 3,290.22 × 0.05% = 164.511 fen a day, kept exact; 18 days = 2,961.198 fen, which is
    # rounded once, at posting, to 29.61.
    daily = Money.of("3290.22").times_rate(Decimal("0.0005"))
    assert daily == Decimal("164.511")
    assert round_half_up(daily * 18) == 2_961


def test_formatting() -> None:
    assert str(Money.of("1234.5")) == "CNY 1,234.50"
    assert str(Money.of("-0.05")) == "CNY -0.05"
    assert format_fen(100_000_000, "USD") == "USD 1,000,000.00"
    assert yuan(-329_022) == "-3,290.22"


# ---- the one rounding rule -------------------------------------------------------------------


@pytest.mark.parametrize(("exact", "fen"), [
    ("2.5", 3),  # a half goes up (banker's rounding would give 2)
    ("3.5", 4),
    ("2.4999", 2),
    ("-2.5", -3),  # halves go away from zero
    ("-2.4999", -2),
    ("13504.5", 13_505),  # 3,001.00 × 4.5% instalment fee
    ("12345.5", 12_346),
])
def test_round_half_up(exact: str, fen: int) -> None:
    assert round_half_up(Decimal(exact)) == fen


def test_round_half_up_leaves_ints_alone_and_refuses_floats() -> None:
    assert round_half_up(7) == 7
    with pytest.raises(InvalidAmount):
        round_half_up(2.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidAmount):
        round_half_up(True)


def _half_up_by_integers(numerator: int, places: int) -> int:
    """Independent oracle: ``numerator / 10**places`` rounded half away from zero, using
    only integer arithmetic."""
    scale: int = 10**places
    magnitude = (2 * abs(numerator) + scale) // (2 * scale)
    return magnitude if numerator >= 0 else -magnitude


exact_amounts = st.tuples(st.integers(min_value=-10**15, max_value=10**15),
                          st.integers(min_value=0, max_value=8))


@given(exact_amounts)
def test_round_half_up_matches_decimal_round_half_up(amount: tuple[int, int]) -> None:
    numerator, places = amount
    exact = Decimal(numerator).scaleb(-places)
    expected = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert round_half_up(exact) == expected == _half_up_by_integers(numerator, places)


@given(st.integers(min_value=-10**12, max_value=10**12),
       st.integers(min_value=0, max_value=10**6))
def test_round_half_up_of_amount_times_rate(fen: int, rate_millionths: int) -> None:
    # Interest and fees are fen × a Decimal rate; the rule must hold for those products.
    rate = Decimal(rate_millionths).scaleb(-6)
    exact = Money(fen).times_rate(rate)
    assert round_half_up(exact) == int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@given(st.lists(st.integers(min_value=-10**13, max_value=10**13), max_size=50))
def test_sum_of_money_is_money_of_the_sum(fens: list[int]) -> None:
    total = sum((Money(f) for f in fens), Money.zero())
    assert total == Money(sum(fens))


@given(st.integers(min_value=-10**13, max_value=10**13))
def test_money_of_round_trips_through_its_text(fen: int) -> None:
    assert Money.of(yuan(fen).replace(",", "")) == Money(fen)
