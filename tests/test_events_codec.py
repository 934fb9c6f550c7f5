"""The event codec: every registered event type survives a round trip, its JSON is the
stored format (compact, UTF-8, keys in field order), and decoding stays as strict as the
constructors it bypasses.

Values come from hypothesis, built from each event class's own field types, so an event
type added later is covered without touching this file.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import types
import typing
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lendguard.ledger.events  # noqa: F401  (registers the ledger's event types)
from lendguard.errors import InvalidAmount
from lendguard.events import (
    Event,
    _encoder_for,
    decode_event,
    encode_event,
    event,
    payload_decoder,
    registered_types,
    upcaster,
)
from lendguard.ledger.events import PurchaseMade, PurchaseSettled, RepaymentReceived
from lendguard.money import Money

# orjson refuses integers beyond 64 bits and strings with lone surrogates; so does the
# codec, and no ledger value comes near either.
INT64 = st.integers(-(2**63), 2**63 - 1)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
ZONES = st.sampled_from([None, UTC, timezone(timedelta(hours=8))])


def values_of(tp: Any) -> st.SearchStrategy[Any]:
    """A strategy for any field type the codec knows."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return st.none() | values_of(inner)
    if origin is tuple:
        return st.lists(values_of(typing.get_args(tp)[0]), max_size=3).map(tuple)
    simple: dict[Any, st.SearchStrategy[Any]] = {
        int: INT64,
        str: TEXT,
        bool: st.booleans(),
        Decimal: st.decimals(allow_nan=False, allow_infinity=False),
        date: st.dates(),
        datetime: st.datetimes(timezones=ZONES),
        Money: st.builds(Money, INT64, st.sampled_from(["CNY", "USD", "HKD"])),
    }
    if tp in simple:
        return simple[tp]
    if isinstance(tp, type) and issubclass(tp, Enum):
        return st.sampled_from(tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return instances_of(tp)
    raise TypeError(f"no strategy for {tp!r}")


def instances_of(cls: type[Any]) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    fields = {f.name: values_of(hints[f.name]) for f in dataclasses.fields(cls)}
    return st.builds(cls, **fields)


EVENT_TYPES = sorted(registered_types().items())


@pytest.mark.parametrize(("type_name", "cls"), EVENT_TYPES, ids=[n for n, _ in EVENT_TYPES])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_event_type_round_trips(type_name: str, cls: type[Event], data: st.DataObject
                                      ) -> None:
    original = data.draw(instances_of(cls))

    stored = encode_event(original)
    decoded = decode_event(type_name, cls.schema_version, stored)

    assert type(decoded) is cls
    assert decoded == original
    # The stored format is what json.dumps wrote before the codec was compiled: compact,
    # UTF-8 (nothing escaped that need not be), fields in declaration order.
    as_json = json.dumps(_encoder_for(cls)(original), separators=(",", ":"),
                         ensure_ascii=False)
    assert stored == as_json
    # Payloads also decode from bytes, as a store may hand them over.
    assert decode_event(type_name, cls.schema_version, stored.encode()) == original
    # For folding: every field a fold may read, and none that it may not.
    folding = payload_decoder(type_name, cls.schema_version, for_folding=True)(stored)
    for field in dataclasses.fields(cls):
        if field.metadata.get("folded") is False:
            assert not hasattr(folding, field.name)
        else:
            assert getattr(folding, field.name) == getattr(original, field.name)


def test_money_keeps_its_currency_only_when_it_is_not_cny() -> None:
    settled = PurchaseSettled("O1", Money(1234), date(2026, 3, 1))
    in_dollars = PurchaseSettled("O1", Money(1234, "USD"), date(2026, 3, 1))

    assert encode_event(settled) == '{"order_id":"O1","amount":1234,"on":"2026-03-01"}'
    assert encode_event(in_dollars) == (
        '{"order_id":"O1","amount":[1234,"USD"],"on":"2026-03-01"}'
    )


def test_decoded_values_are_shared_but_equal() -> None:
    payload = '{"order_id":"O1","amount":1234,"on":"2026-03-01"}'

    first = decode_event("PurchaseSettled", 1, payload)
    second = decode_event("PurchaseSettled", 1, payload)

    assert first == second and first is not second
    assert isinstance(first, PurchaseSettled) and isinstance(second, PurchaseSettled)
    assert first.amount is second.amount  # immutable amounts are shared
    assert first.amount == Money(1234)
    assert hash(first.amount) == hash(Money(1234))


@pytest.mark.parametrize("amount", ["12.5", "true", "false", '"1234"', "null", "[1234]"])
def test_amounts_are_checked_as_strictly_as_the_money_constructor(amount: str) -> None:
    # True and 12.5 hash like 1 and 12 would: they must not find a shared CNY amount.
    decode_event("PurchaseSettled", 1, '{"order_id":"O1","amount":1,"on":"2026-03-01"}')

    with pytest.raises(InvalidAmount):
        decode_event("PurchaseSettled", 1, f'{{"order_id":"O1","amount":{amount},'
                                           f'"on":"2026-03-01"}}')


def test_a_bad_currency_is_refused() -> None:
    with pytest.raises(InvalidAmount):
        decode_event("PurchaseSettled", 1,
                     '{"order_id":"O1","amount":[1234,"usd"],"on":"2026-03-01"}')


def test_missing_fields_and_bad_values_raise() -> None:
    with pytest.raises(KeyError):
        decode_event("PurchaseSettled", 1, '{"order_id":"O1","amount":1234}')
    with pytest.raises(ValueError):
        decode_event("PurchaseSettled", 1, '{"order_id":"O1","amount":1,"on":"2026-13-01"}')
    with pytest.raises(KeyError, match="unknown event type"):
        decode_event("NoSuchEvent", 1, "{}")


def test_unknown_enum_values_raise_value_error() -> None:
    drawn = json.loads(encode_event(_a_loan_drawn()))
    drawn["method"] = "no_such_method"

    with pytest.raises(ValueError):
        decode_event("LoanDrawn", 1, json.dumps(drawn))


def test_extra_fields_are_ignored() -> None:
    decoded = decode_event(
        "PurchaseSettled", 1, '{"order_id":"O1","amount":5,"on":"2026-03-01","later":1}'
    )
    assert decoded == PurchaseSettled("O1", Money(5), date(2026, 3, 1))


def test_nested_values_decode_to_their_types() -> None:
    repaid = decode_event("RepaymentReceived", 1, json.dumps({
        "repayment_id": "R1", "amount": 300,
        "allocations": [{"item": "S2026-03", "component": "principal", "amount": 300}],
        "to_credit_balance": 0, "recovered": 0, "on": "2026-03-10",
    }))

    assert isinstance(repaid, RepaymentReceived)
    (allocation,) = repaid.allocations
    assert type(repaid.allocations) is tuple
    assert allocation.amount == Money(300) and allocation.item == "S2026-03"


# -- old payload versions -----------------------------------------------------------------


@event("CodecTestRenamed", version=3)
@dataclasses.dataclass(frozen=True, slots=True)
class CodecTestRenamed(Event):
    """A test-only event whose payload changed twice."""

    name: str
    amount: Money


@upcaster("CodecTestRenamed", 1)
def _v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    return {"label": payload["title"], "amount": payload["fen"]}


@upcaster("CodecTestRenamed", 2)
def _v2_to_v3(payload: dict[str, Any]) -> dict[str, Any]:
    return {"name": payload["label"], "amount": payload["amount"]}


def test_old_versions_are_upcast_on_read() -> None:
    expected = CodecTestRenamed("x", Money(7))

    assert decode_event("CodecTestRenamed", 1, '{"title":"x","fen":7}') == expected
    assert decode_event("CodecTestRenamed", 2, '{"label":"x","amount":7}') == expected
    assert decode_event("CodecTestRenamed", 3, '{"name":"x","amount":7}') == expected


@event("CodecTestGap", version=2)
@dataclasses.dataclass(frozen=True, slots=True)
class CodecTestGap(Event):
    """A test-only event at version 2 with no upcaster from version 1."""

    name: str


def test_a_missing_upcaster_is_reported() -> None:
    with pytest.raises(ValueError, match="no upcaster for CodecTestGap v1"):
        decode_event("CodecTestGap", 1, '{"name":"x"}')
    assert decode_event("CodecTestGap", 2, '{"name":"x"}') == CodecTestGap("x")


# -- classes the decoder must build through their constructor ------------------------------


@event("CodecTestChecked")
@dataclasses.dataclass(frozen=True, slots=True)
class CodecTestChecked(Event):
    """A test-only event that checks itself: decoding must run the check."""

    count: int

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError("count must not be negative")


def test_a_post_init_still_runs_when_decoding() -> None:
    assert decode_event("CodecTestChecked", 1, '{"count":1}') == CodecTestChecked(1)
    with pytest.raises(ValueError, match="negative"):
        decode_event("CodecTestChecked", 1, '{"count":-1}')


def _a_loan_drawn() -> Event:
    from lendguard.ledger.events import LoanDrawn
    from lendguard.ledger.schedule import RepaymentMethod

    return LoanDrawn("L1", Money(100_000), 3, RepaymentMethod.EQUAL_PRINCIPAL,
                     Decimal("0.0004"), Money(34_000), (date(2026, 4, 1),), (33_334,),
                     Decimal("0.15"), date(2026, 3, 1))


def test_events_decoded_from_json_are_plain_instances() -> None:
    made = PurchaseMade("O1", Money(5), "m", "c", "app", "2026-03-01T10:00:00+08:00",
                        date(2026, 3, 1))
    decoded = decode_event("PurchaseMade", 1, encode_event(made))

    assert decoded == made and hash(decoded) == hash(made)
    assert repr(decoded) == repr(made)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decoded.order_id = "O2"  # type: ignore[attr-defined]


def test_a_statements_lines_are_left_out_only_for_folding() -> None:
    # A field's being NOT_FOLDED is what lets replay skip it; the lines are the one today.
    unfolded = {(name, field.name) for name, cls in registered_types().items()
                for field in dataclasses.fields(cls) if field.metadata.get("folded") is False}
    assert unfolded == {("StatementIssued", "line_items")}


@pytest.mark.parametrize("cls", sorted((c for c in registered_types().values()
                                        if not hasattr(c, "__post_init__")),
                                       key=lambda c: c.type_name),
                         ids=lambda c: c.type_name)
def test_an_event_is_built_as_its_dataclass_would_build_it(cls: type[Event]) -> None:
    """Registered events get an ``__init__`` that stores through the slots' setters; it
    must take the same parameters, in the same order, with the same defaults, and build
    the same frozen value whether given by position or by name. (A class with a
    ``__post_init__``, like the codec's own test event, keeps the dataclass's and is
    not built here from placeholder values.)"""
    fields = dataclasses.fields(cls)
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    assert [p.name for p in parameters] == [f.name for f in fields]
    assert [p.default for p in parameters] == [
        inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default
        for f in fields]
    values = [f"value of {f.name}" for f in fields]
    by_position = cls(*values)
    by_name = cls(**{f.name: v for f, v in zip(fields, values, strict=True)})
    assert by_position == by_name
    assert [getattr(by_position, f.name) for f in fields] == values
    assert dataclasses.replace(by_position, **{fields[0].name: "other"}) != by_position
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(by_position, fields[0].name, "changed")
    required = [f for f in fields if f.default is dataclasses.MISSING]
    if required:
        with pytest.raises(TypeError):
            cls(*values[:len(required) - 1])


def test_the_ledger_events_store_through_their_slots() -> None:
    ledger_events = [c for c in registered_types().values()
                     if c.__module__ == "lendguard.ledger.events"]
    assert ledger_events
    assert all(getattr(c.__init__, "_sets_every_slot", False) for c in ledger_events)
