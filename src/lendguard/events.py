"""Event base type, the registry of stable event type names, and the JSON codec.

An event is a frozen dataclass named in the past tense. Its stored identity is a stable
``type_name`` plus a ``schema_version``, never the Python class path, so classes can be
renamed or moved without breaking replay. Old versions are upcast on read by functions
registered with ``upcaster``.

The codec turns an event into a JSON object and back. Field types it knows: ``int``,
``str``, ``bool``, ``Decimal`` (as a string), ``date``/``datetime`` (ISO 8601),
``Money`` (as integer fen, with the currency only when it is not CNY), ``StrEnum``,
``X | None``, ``tuple[X, ...]`` and nested frozen dataclasses. Integers must fit in 64
bits (the JSON library, ``orjson``, refuses larger ones when encoding).

Replay decodes every stored event, so the codec is compiled: the first time a class is
encoded or decoded, the source of one function for it is generated from its field types
and compiled once, the way ``dataclasses`` writes ``__init__``. Decoding then costs one
JSON parse, a dict lookup per amount, date or rate (decoded values are immutable, so
events share them) and one store per field (see ``_decoding``). Nothing here does I/O.

A field marked ``NOT_FOLDED`` (a statement's line items, say) is one that no fold, state or
journal reads: it is there for people and reports. Replay asks for decoders *for folding*
(``payload_decoder(..., for_folding=True)``), which leave such fields unset, so a fold
that did read one would fail loudly (``AttributeError``) rather than see a wrong value.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar, TypeVar

import orjson

from lendguard.money import DEFAULT_CURRENCY, Money, _money_from_valid_fen


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
Upcast = Callable[[dict[str, Any]], dict[str, Any]]
PayloadDecoder = Callable[[str | bytes], Event]

# Field metadata: no fold reads this field (see the module docstring).
NOT_FOLDED: dict[str, Any] = {"folded": False}

_REGISTRY: dict[str, type[Event]] = {}
_UPCASTERS: dict[tuple[str, int], Upcast] = {}
_DECODERS: dict[type[Any], Callable[[Any], Any]] = {}
_ENCODERS: dict[type[Any], Callable[[Any], Any]] = {}
# (type name, stored schema version, for folding) -> JSON text to event, upcasts included.
# Cleared whenever an event class or an upcaster is registered, so it never goes stale.
_PAYLOAD_DECODERS: dict[tuple[str, int, bool], PayloadDecoder] = {}


def event(type_name: str, version: int = 1) -> Callable[[E], E]:
    """Register an event class under a stable name and schema version."""

    def register(cls: E) -> E:
        if type_name in _REGISTRY and _REGISTRY[type_name] is not cls:
            raise ValueError(f"event type name {type_name!r} registered twice")
        cls.type_name = type_name
        cls.schema_version = version
        if _built_like_its_init(cls) and all(
                f.default_factory is dataclasses.MISSING for f in dataclasses.fields(cls)):
            cls.__init__ = _slot_setting_init(cls)  # type: ignore[method-assign]
        _REGISTRY[type_name] = cls
        _PAYLOAD_DECODERS.clear()
        return cls

    return register


def upcaster(type_name: str, from_version: int) -> Callable[[Upcast], Upcast]:
    """Register a function that lifts a payload from ``from_version`` to the next one."""

    def register(fn: Upcast) -> Upcast:
        _UPCASTERS[(type_name, from_version)] = fn
        _PAYLOAD_DECODERS.clear()
        return fn

    return register


def event_class(type_name: str) -> type[Event]:
    try:
        return _REGISTRY[type_name]
    except KeyError:
        raise KeyError(f"unknown event type {type_name!r}") from None


def registered_types() -> dict[str, type[Event]]:
    return dict(_REGISTRY)


# ---- value converters ------------------------------------------------------------------
#
# Each field type maps to a pair of *expression templates*, one to encode and one to
# decode, in which ``{}`` (or ``{0}``, maybe more than once) stands for a plain name
# holding the value; the names they use are put in the generated function's namespace.
# Plain JSON types (str, int, bool) need no conversion.

_Templates = tuple[str, str]
_PLAIN: _Templates = ("{}", "{}")

# Decoded scalars repeat a great deal in a log (a settlement repeats its purchase's
# amount, every event of a day carries its date, rates are a handful of values) and the
# types are immutable, so decoders share them through tables like this one: a dict
# lookup is all a value seen before costs. Each table is bounded by emptying it when full.
_TABLE_SIZE = 1 << 16


class _Interned(dict[Any, Any]):
    """Decoded values by their raw JSON value; a new one is converted once and kept."""

    def __init__(self, convert: Callable[[Any], Any]) -> None:
        super().__init__()
        self.convert = convert

    def __missing__(self, raw: Any) -> Any:
        if len(self) >= _TABLE_SIZE:
            self.clear()
        value = self[raw] = self.convert(raw)
        return value


def _money_encode(value: Money) -> Any:
    return value.fen if value.currency == DEFAULT_CURRENCY else [value.fen, value.currency]


def _money_decode(raw: Any) -> Money:
    """Money from its JSON form, checked: ``[fen, currency]`` or whatever is not an int."""
    if isinstance(raw, list) and len(raw) == 2:
        return Money(raw[0], raw[1])
    return Money(raw)  # refuses what is not an integer, as every way into Money does


# Only exact ints may look CNY amounts up: True and 5.0 hash like 1 and 5.
_CNY_BY_FEN = _Interned(_money_from_valid_fen)
_MONEY_DECODE = "(_cny[{0}] if {0}.__class__ is _int else _money({0}))"


def _members(cls: type[Enum]) -> _Interned:
    """An enum's members by value; an unknown value raises ValueError, as ``cls(value)``."""
    table = _Interned(cls)
    table.update(cls._value2member_map_)
    return table


def _optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else convert(value)


def _templates(tp: Any, namespace: dict[str, Any]) -> _Templates:
    """Encode and decode expression templates for one annotated field type."""

    def bind(value: Any) -> str:
        name = f"_c{len(namespace)}"
        namespace[name] = value
        return name

    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"only X | None unions are supported, got {tp}")
        inner = _templates(args[0], namespace)
        if inner == _PLAIN:
            return _PLAIN
        encoder, decoder = (_compile_expression(t, namespace) for t in inner)
        return f"{bind(_optional(encoder))}({{}})", f"{bind(_optional(decoder))}({{}})"
    if origin is tuple:
        items = typing.get_args(tp)
        if len(items) != 2 or items[1] is not Ellipsis:
            raise TypeError(f"only homogeneous tuple[X, ...] is supported, got {tp}")
        item = _templates(items[0], namespace)
        if item == _PLAIN:
            return "list({})", "tuple({})"
        item_encode, item_decode = (template.format("v") for template in item)
        return f"[{item_encode} for v in {{}}]", f"tuple([{item_decode} for v in {{}}])"
    if tp is Money:
        namespace.update(_cny=_CNY_BY_FEN, _int=int, _money=_money_decode)
        return f"{bind(_money_encode)}({{}})", _MONEY_DECODE
    if tp is Decimal:
        return "str({})", f"{bind(_Interned(Decimal))}[{{}}]"
    if tp is datetime:
        return "{}.isoformat()", f"{bind(_Interned(datetime.fromisoformat))}[{{}}]"
    if tp is date:
        return "{}.isoformat()", f"{bind(_Interned(date.fromisoformat))}[{{}}]"
    if isinstance(tp, type) and issubclass(tp, Enum):
        return "{}.value", f"{bind(_members(tp))}[{{}}]"
    if tp in (int, str, bool):
        return _PLAIN
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return f"{bind(_encoder_for(tp))}({{}})", f"{bind(_decoder_for(tp))}({{}})"
    raise TypeError(f"the event codec does not know type {tp!r}")


def _compile_expression(template: str, namespace: dict[str, Any]) -> Callable[[Any], Any]:
    """A one-argument function computing ``template`` (for use inside another template)."""
    function: Callable[[Any], Any] = eval(f"lambda v: {template.format('v')}", namespace)
    return function


def _fields(cls: type[Any]) -> list[tuple[str, Any]]:
    hints = typing.get_type_hints(cls)
    return [(f.name, hints[f.name]) for f in dataclasses.fields(cls)]


def _compile(cls: type[Any], name: str, lines: list[str], namespace: dict[str, Any]) -> Any:
    """Compile ``def name(value):`` with the given body lines."""
    source = f"def {name}(value):\n" + "".join(f"    {line}\n" for line in lines)
    exec(compile(source, f"<lendguard codec for {cls.__qualname__}>", "exec"), namespace)
    return namespace[name]


def _encoder_for(cls: type[Any]) -> Callable[[Any], dict[str, Any]]:
    """A function from an instance of dataclass ``cls`` to a JSON-ready dict."""
    cached = _ENCODERS.get(cls)
    if cached is not None:
        return cached
    namespace: dict[str, Any] = {}
    items = [
        f"{name!r}: {_templates(tp, namespace)[0].format(f'value.{name}')}"
        for name, tp in _fields(cls)
    ]
    encode: Callable[[Any], dict[str, Any]] = _compile(
        cls, "encode", ["return {" + ", ".join(items) + "}"], namespace
    )
    _ENCODERS[cls] = encode
    return encode


def _decoder_for(cls: type[Any]) -> Callable[[Any], Any]:
    """A function from a decoded JSON object to an instance of dataclass ``cls``."""
    cached = _DECODERS.get(cls)
    if cached is None:
        namespace: dict[str, Any] = {}
        cached = _DECODERS[cls] = _compile(cls, "decode", _decoding(cls, namespace), namespace)
    return cached


def _decoding(cls: type[Any], namespace: dict[str, Any], for_folding: bool = False
              ) -> list[str]:
    """The body of a function from a decoded JSON object ``value`` to an instance of
    dataclass ``cls`` (``for_folding``: its ``NOT_FOLDED`` fields left unset, when it is
    built slot by slot as below; a class built through its constructor gets them all).

    A missing field raises KeyError; extra keys are ignored. A frozen dataclass's own
    ``__init__`` sets each field through ``object.__setattr__`` (its ``__setattr__``
    refuses), which costs more than building the rest of the event. So when the class
    has slots, the ``__init__`` dataclasses generated and no ``__post_init__``, the
    decoder does what that ``__init__`` does, directly: it allocates the instance and
    calls each slot's own setter. Any other class is built through its constructor.
    """
    namespace.update(_cls=cls, _new=object.__new__)
    fields = _fields(cls)
    slot_by_slot = _built_like_its_init(cls)
    if for_folding and slot_by_slot:
        unfolded = {f.name for f in dataclasses.fields(cls) if f.metadata.get("folded") is False}
        fields = [(name, tp) for name, tp in fields if name not in unfolded]
    lines = []
    arguments = []
    for n, (name, tp) in enumerate(fields):
        template = _templates(tp, namespace)[1]
        if template == "{}":
            arguments.append(f"value[{name!r}]")
        else:
            lines.append(f"f{n} = value[{name!r}]")
            arguments.append(template.format(f"f{n}"))
    if not slot_by_slot:
        return [*lines, f"return _cls({', '.join(arguments)})"]
    lines.append("instance = _new(_cls)")
    for n, ((name, _), argument) in enumerate(zip(fields, arguments, strict=True)):
        namespace[f"_set{n}"] = cls.__dict__[name].__set__
        lines.append(f"_set{n}(instance, {argument})")
    return [*lines, "return instance"]


def _slot_setting_init(cls: type[Any]) -> Callable[..., None]:
    """``cls.__init__`` as dataclasses writes it for a frozen class (same parameters,
    names, order and defaults), but storing each field through its slot's own setter
    instead of ``object.__setattr__`` by name: every decision builds its events, and the
    simulator makes millions."""
    namespace: dict[str, Any] = {}
    parameters, lines = ["self"], []
    for n, f in enumerate(dataclasses.fields(cls)):
        if f.default is not dataclasses.MISSING:
            namespace[f"_default{n}"] = f.default
            parameters.append(f"{f.name}=_default{n}")
        else:
            parameters.append(f.name)
        namespace[f"_set{n}"] = cls.__dict__[f.name].__set__
        lines.append(f"_set{n}(self, {f.name})")
    source = (f"def __init__({', '.join(parameters)}):\n"
              + "".join(f"    {line}\n" for line in lines or ["pass"]))
    exec(compile(source, f"<lendguard __init__ for {cls.__qualname__}>", "exec"), namespace)
    init: Callable[..., None] = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init._sets_every_slot = True  # type: ignore[attr-defined]  # see _built_like_its_init
    return init


def _built_like_its_init(cls: type[Any]) -> bool:
    """Whether setting every slot is exactly what constructing ``cls`` does."""
    init = cls.__dict__.get("__init__")
    generated = init is not None and getattr(init, "__code__", None) is not None \
        and (init.__code__.co_filename == "<string>"  # dataclasses compiles its methods
             or getattr(init, "_sets_every_slot", False))  # or ours did, for an event
    fields = [f.name for f in dataclasses.fields(cls)]
    return (
        generated
        and not hasattr(cls, "__post_init__")
        and all(f.init for f in dataclasses.fields(cls))
        and all(isinstance(cls.__dict__.get(name), types.MemberDescriptorType) for name in fields)
    )


# ---- events ----------------------------------------------------------------------------


def encode_event(ev: Event) -> str:
    """The event's payload as compact JSON (UTF-8 text, nothing escaped that need not be)."""
    return orjson.dumps(_encoder_for(type(ev))(ev)).decode()


def payload_decoder(type_name: str, version: int, *, for_folding: bool = False
                    ) -> PayloadDecoder:
    """The function from a stored payload (JSON text or bytes) of ``type_name`` at schema
    ``version`` to its event, upcasts included; built once and cached. ``for_folding``:
    the event's ``NOT_FOLDED`` fields may be left unset (for replay; see the module
    docstring)."""
    cached = _PAYLOAD_DECODERS.get((type_name, version, for_folding))
    if cached is not None:
        return cached
    cls = event_class(type_name)
    lifts: list[Upcast] = []
    for from_version in range(version, cls.schema_version):
        lift = _UPCASTERS.get((type_name, from_version))
        if lift is None:
            raise ValueError(f"no upcaster for {type_name} v{from_version}")
        lifts.append(lift)
    if lifts:
        decode_payload = _lifting_decoder(_decoder_for(cls), lifts)
    else:  # the common case: JSON straight into the event, in one function
        namespace: dict[str, Any] = {"_loads": orjson.loads}
        lines = ["value = _loads(value)", *_decoding(cls, namespace, for_folding)]
        decode_payload = _compile(cls, "decode_payload", lines, namespace)
    _PAYLOAD_DECODERS[(type_name, version, for_folding)] = decode_payload
    return decode_payload


def _lifting_decoder(decode: Callable[[Any], Any], lifts: list[Upcast]) -> PayloadDecoder:
    loads = orjson.loads

    def decode_payload(data: str | bytes) -> Event:
        raw = loads(data)
        for lift in lifts:
            raw = lift(raw)
        decoded: Event = decode(raw)
        return decoded

    return decode_payload


def decode_event(type_name: str, version: int, data: str | bytes) -> Event:
    """An event from its stored name, schema version and JSON payload, upcast as needed."""
    decode = _PAYLOAD_DECODERS.get((type_name, version, False)) \
        or payload_decoder(type_name, version)
    return decode(data)
