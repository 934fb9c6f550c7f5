"""Event base type, the registry of stable event type names, and the JSON codec.

An event is a frozen dataclass named in the past tense. Its stored identity is a stable
``type_name`` plus a ``schema_version``, never the Python class path, so classes can be
renamed or moved without breaking replay. Old versions are upcast on read by functions
registered with ``upcaster``.

The codec turns an event into a JSON object and back. Field types it knows: ``int``,
``str``, ``bool``, ``Decimal`` (as a string), ``date``/``datetime`` (ISO 8601),
``Money`` (as integer fen, with the currency only when it is not CNY), ``StrEnum``,
``X | None``, ``tuple[X, ...]`` and nested frozen dataclasses. Decoders are compiled once
per class so replay stays fast.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar, TypeVar

from lendguard.money import DEFAULT_CURRENCY, Money

_Codec = tuple[Callable[[Any], Any], Callable[[Any], Any]]


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """Base of all domain events. Subclasses add their payload fields.

    Class attributes:
      type_name: the stable stored name (set by ``@event``).
      schema_version: the payload schema's version (set by ``@event``).
    """

    type_name: ClassVar[str] = ""
    schema_version: ClassVar[int] = 1


E = TypeVar("E", bound=type[Event])

_REGISTRY: dict[str, type[Event]] = {}
_UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}
_DECODERS: dict[type[Any], Callable[[Any], Any]] = {}
_ENCODERS: dict[type[Any], Callable[[Any], Any]] = {}


def event(type_name: str, version: int = 1) -> Callable[[E], E]:
    """Register an event class under a stable name and schema version."""

    def register(cls: E) -> E:
        if type_name in _REGISTRY and _REGISTRY[type_name] is not cls:
            raise ValueError(f"event type name {type_name!r} registered twice")
        cls.type_name = type_name
        cls.schema_version = version
        _REGISTRY[type_name] = cls
        return cls

    return register


Upcast = Callable[[dict[str, Any]], dict[str, Any]]


def upcaster(type_name: str, from_version: int) -> Callable[[Upcast], Upcast]:
    """Register a function that lifts a payload from ``from_version`` to the next one."""

    def register(fn: Upcast) -> Upcast:
        _UPCASTERS[(type_name, from_version)] = fn
        return fn

    return register


def event_class(type_name: str) -> type[Event]:
    try:
        return _REGISTRY[type_name]
    except KeyError:
        raise KeyError(f"unknown event type {type_name!r}") from None


def registered_types() -> dict[str, type[Event]]:
    return dict(_REGISTRY)


# ---- codec -------------------------------------------------------------------------


def _money_encode(value: Money) -> Any:
    return value.fen if value.currency == DEFAULT_CURRENCY else [value.fen, value.currency]


def _money_decode(raw: Any) -> Money:
    if isinstance(raw, list):
        return Money(raw[0], raw[1])
    return Money(raw)


def _identity(value: Any) -> Any:
    return value


def _codec_for(tp: Any) -> _Codec:
    """Encoder and decoder for one annotated field type."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"only X | None unions are supported, got {tp}")
        enc, dec = _codec_for(args[0])
        return (
            lambda v: None if v is None else enc(v),
            lambda r: None if r is None else dec(r),
        )
    if origin is tuple:
        items = typing.get_args(tp)
        if len(items) == 2 and items[1] is Ellipsis:
            enc, dec = _codec_for(items[0])
            if enc is _identity and dec is _identity:
                return (list, tuple)
            return (lambda v: [enc(x) for x in v], lambda r: tuple(dec(x) for x in r))
        raise TypeError(f"only homogeneous tuple[X, ...] is supported, got {tp}")
    if tp is Money:
        return (_money_encode, _money_decode)
    if tp is Decimal:
        return (str, Decimal)
    if tp is datetime:
        return (datetime.isoformat, datetime.fromisoformat)
    if tp is date:
        return (date.isoformat, date.fromisoformat)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return (lambda v: v.value, tp)
    if tp in (int, str, bool):
        return (_identity, _identity)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return (_encoder_for(tp), _decoder_for(tp))
    raise TypeError(f"the event codec does not know type {tp!r}")


def _fields(cls: type[Any]) -> list[tuple[str, Any]]:
    hints = typing.get_type_hints(cls)
    return [(f.name, hints[f.name]) for f in dataclasses.fields(cls)]


def _encoder_for(cls: type[Any]) -> Callable[[Any], dict[str, Any]]:
    cached = _ENCODERS.get(cls)
    if cached is not None:
        return cached
    parts = [(name, _codec_for(tp)[0]) for name, tp in _fields(cls)]

    def encode(obj: Any) -> dict[str, Any]:
        return {name: enc(getattr(obj, name)) for name, enc in parts}

    _ENCODERS[cls] = encode
    return encode


def _decoder_for(cls: type[Any]) -> Callable[[Any], Any]:
    cached = _DECODERS.get(cls)
    if cached is not None:
        return cached
    parts = [(name, _codec_for(tp)[1]) for name, tp in _fields(cls)]
    plain = [name for name, dec in parts if dec is _identity]
    converted = [(name, dec) for name, dec in parts if dec is not _identity]

    def decode(raw: Any) -> Any:
        kwargs = {name: raw[name] for name in plain}
        for name, dec in converted:
            kwargs[name] = dec(raw[name])
        return cls(**kwargs)

    _DECODERS[cls] = decode
    return decode


def encode_event(ev: Event) -> str:
    """The event's payload as compact JSON."""
    return json.dumps(_encoder_for(type(ev))(ev), separators=(",", ":"), ensure_ascii=False)


def decode_event(type_name: str, version: int, data: str) -> Event:
    """An event from its stored name, schema version and JSON payload, upcast as needed."""
    cls = event_class(type_name)
    raw: dict[str, Any] = json.loads(data)
    while version < cls.schema_version:
        lift = _UPCASTERS.get((type_name, version))
        if lift is None:
            raise ValueError(f"no upcaster for {type_name} v{version}")
        raw = lift(raw)
        version += 1
    decoded: Event = _decoder_for(cls)(raw)
    return decoded
