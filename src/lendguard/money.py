"""Money in integer minor units (fen), and the one rounding rule.

``Money`` is the only way an amount enters the ledger. It holds an ``int`` number of
minor units and a currency code; it refuses floats (and bools), and arithmetic between
two currencies raises ``CurrencyMismatch``. Rates are ``Decimal``; multiplying money by a
rate gives an exact ``Decimal`` of fen that is turned back into money with
``round_half_up`` at posting time, never earlier.

Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from lendguard.errors import CurrencyMismatch, InvalidAmount

DEFAULT_CURRENCY = "CNY"
_CHECKED_CURRENCIES: set[str] = set()  # codes that passed Money's check (plain str only)
_MINOR_UNITS_PER_MAJOR = 100


def _require_int(value: object, what: str) -> int:
    # bool is a subclass of int; True fen is never meant.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAmount(f"{what} must be an integer number of fen, got {value!r}")
    return value


def round_half_up(value: Decimal | int) -> int:
    """Round an exact amount of fen to a whole fen, halves away from zero."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, Decimal):
        raise InvalidAmount(f"only Decimal or int amounts can be rounded, got {value!r}")
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def to_decimal_rate(value: object, what: str = "rate") -> Decimal:
    """A rate as Decimal, from Decimal, int or a decimal string; never from float."""
    if isinstance(value, Decimal):
        rate = value
    elif isinstance(value, str):
        try:
            rate = Decimal(value)
        except InvalidOperation as exc:
            raise InvalidAmount(f"{what} {value!r} is not a decimal number") from exc
    elif isinstance(value, int) and not isinstance(value, bool):
        rate = Decimal(value)
    else:
        raise InvalidAmount(f"{what} must be a Decimal or a decimal string, got {value!r}")
    if not rate.is_finite():
        raise InvalidAmount(f"{what} must be finite, got {value!r}")
    return rate


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount of money.

    Attributes:
      fen: the amount in minor units (fen for CNY); an ``int``, may be negative.
      currency: ISO 4217 code, upper case.
    """

    fen: int
    currency: str = DEFAULT_CURRENCY

    def __init__(self, fen: int, currency: str = DEFAULT_CURRENCY) -> None:
        # Written out (dataclass keeps an __init__ of the class's own): the ledger makes
        # an amount for every posting, so the usual case (a plain int, a currency already
        # seen) is two comparisons and two stores.
        if type(fen) is not int:
            _require_int(fen, "amount")
        if type(currency) is not str or currency not in _CHECKED_CURRENCIES:
            if not (isinstance(currency, str) and len(currency) == 3
                    and currency.isalpha() and currency.isupper()):
                raise InvalidAmount(f"currency must be a 3-letter ISO code, got {currency!r}")
            _CHECKED_CURRENCIES.add(currency)
        _SET_FEN(self, fen)  # the slots' own setters (below the class)
        _SET_CURRENCY(self, currency)

    @classmethod
    def of(cls, amount: str | Decimal | int, currency: str = DEFAULT_CURRENCY) -> Money:
        """Money from major units: ``Money.of("12.34")`` is 1234 fen. Floats are refused."""
        if isinstance(amount, (bool, float)):
            raise InvalidAmount(f"amounts are never floats; pass a string or Decimal: {amount!r}")
        major = to_decimal_rate(amount, "amount")
        fen = major * _MINOR_UNITS_PER_MAJOR
        if fen != fen.to_integral_value():
            raise InvalidAmount(f"{amount!r} has more precision than one fen")
        return cls(int(fen), currency)

    @classmethod
    def zero(cls, currency: str = DEFAULT_CURRENCY) -> Money:
        return cls(0, currency)

    def _same_currency(self, other: Any) -> Money:
        if not isinstance(other, Money):
            raise InvalidAmount(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"{self.currency} and {other.currency} cannot be combined")
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self.fen + self._same_currency(other).fen, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.fen - self._same_currency(other).fen, self.currency)

    def __lt__(self, other: Money) -> bool:
        return self.fen < self._same_currency(other).fen

    def __le__(self, other: Money) -> bool:
        return self.fen <= self._same_currency(other).fen

    def __gt__(self, other: Money) -> bool:
        return self.fen > self._same_currency(other).fen

    def __ge__(self, other: Money) -> bool:
        return self.fen >= self._same_currency(other).fen

    def __neg__(self) -> Money:
        return Money(-self.fen, self.currency)

    def __mul__(self, factor: int) -> Money:
        return Money(self.fen * _require_int(factor, "factor"), self.currency)

    def times_rate(self, rate: Decimal) -> Decimal:
        """The exact (unrounded) fen of this amount times a rate."""
        return Decimal(self.fen) * to_decimal_rate(rate)

    def is_positive(self) -> bool:
        return self.fen > 0

    def __str__(self) -> str:
        return format_fen(self.fen, self.currency)


_SET_FEN = Money.__dict__["fen"].__set__
_SET_CURRENCY = Money.__dict__["currency"].__set__


def _money_from_valid_fen(fen: int, currency: str = DEFAULT_CURRENCY) -> Money:
    """Money built without the checks, for the event codec only.

    The caller guarantees what ``Money.__init__`` would check: ``fen`` is exactly an
    ``int`` and ``currency`` a valid code. It is about three times faster than ``Money()``
    and replay builds millions of amounts. Everyone else uses the constructor.
    """
    money = object.__new__(Money)
    _SET_FEN(money, fen)  # the slots' own setters: the frozen __setattr__ is bypassed
    _SET_CURRENCY(money, currency)
    return money


def format_fen(fen: int, currency: str = DEFAULT_CURRENCY) -> str:
    """``1234`` -> ``"CNY 12.34"``; negative amounts keep their sign."""
    sign = "-" if fen < 0 else ""
    major, minor = divmod(abs(fen), _MINOR_UNITS_PER_MAJOR)
    return f"{currency} {sign}{major:,}.{minor:02d}"


def yuan(fen: int) -> str:
    """``1234`` -> ``"12.34"``, for tables."""
    sign = "-" if fen < 0 else ""
    major, minor = divmod(abs(fen), _MINOR_UNITS_PER_MAJOR)
    return f"{sign}{major:,}.{minor:02d}"
