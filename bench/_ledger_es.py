"""The same ledger, written the way an ``eventsourcing`` (9.5) application would be.

One aggregate class, ``Account``, with string ids (our account ids). For every event type
the ledger registers there is an ``Account`` event class with the same fields (so the same
``Money``, dates, rates and nested values), plus ``event_id`` and ``caused_by`` so that
both libraries store the same information; the business time is eventsourcing's own
``timestamp``. The two opening events are its ``Created`` events. Values are stored with
eventsourcing's JSON transcoder and a transcoding per value type, as its documentation
shows.

Folding: each event's ``apply`` counts it, adds up amounts and keeps purchases by order:
the same shape as our fold, with far less in it (our fold is the real account state).

``Accounts`` is the application; ``environment`` configures it for SQLite or PostgreSQL,
with an unbounded aggregate cache and no deep copies out of it, the fastest settings it
offers for running commands (our ``Ledger`` keeps states in memory too).
"""

from __future__ import annotations

import dataclasses
import typing
from datetime import date, datetime
from typing import Any, ClassVar

from eventsourcing.application import Application
from eventsourcing.domain import (
    BaseAggregate,
    CanInitAggregate,
    CanMutateAggregate,
    MetaDomainEvent,
)
from eventsourcing.persistence import JSONTranscoder, Transcoding
from eventsourcing.utils import get_topic

from lendguard.events import Event as OurEvent
from lendguard.events import registered_types
from lendguard.ledger.events import Allocation, LineItem
from lendguard.ledger.terms import CashLoanTerms, CreditLineTerms, InstalmentOption
from lendguard.money import Money

OPENING_EVENTS = ("CreditLineOpened", "CashLoanAccountOpened")


class Account(BaseAggregate[str]):
    """A customer's account, folded by eventsourcing."""

    class Event(CanMutateAggregate[str], metaclass=MetaDomainEvent):
        originator_id: str
        originator_version: int
        timestamp: datetime
        event_id: str
        caused_by: str

        def apply(self, aggregate: Any) -> None:
            aggregate.events += 1
            amount = getattr(self, "amount", None)
            if isinstance(amount, Money):
                aggregate.moved += amount.fen
            order_id = getattr(self, "order_id", None)
            if order_id is not None:
                aggregate.orders[order_id] = amount

    class Created(Event, CanInitAggregate[str]):
        originator_topic: str

    by_type: ClassVar[dict[str, type[Any]]] = {}

    def __init__(self, customer_id: str, limit: Money, on: date) -> None:
        self.customer_id = customer_id
        self.limit = limit
        self.opened_on = on
        self.events = 0  # the opening event's apply counts it
        self.moved = 0
        self.orders: dict[str, Money | None] = {}

    @classmethod
    def open(cls, account_id: str, customer_id: str, limit: Money, on: date) -> Account:
        opened: Account = cls._create(
            cls.by_type["CreditLineOpened"], id=account_id, customer_id=customer_id,
            limit=limit, terms=CreditLineTerms(), on=on, event_id="", caused_by="user:bench",
        )
        return opened

    def purchase(self, order_id: str, amount: Money, merchant: str, category: str,
                 channel: str, at: str, on: date, event_id: str) -> None:
        self.trigger_event(
            self.by_type["PurchaseMade"], order_id=order_id, amount=amount, merchant=merchant,
            category=category, channel=channel, at=at, on=on, event_id=event_id,
            caused_by="user:bench",
        )


def _mirror(type_name: str, ours: type[OurEvent]) -> type[Any]:
    """The ``Account`` event class with the fields of our event class ``ours``."""
    hints = typing.get_type_hints(ours)
    base = Account.Created if type_name in OPENING_EVENTS else Account.Event
    namespace = {
        "__annotations__": {f.name: hints[f.name] for f in dataclasses.fields(ours)},
        "__module__": __name__,
        "__qualname__": f"Account.{type_name}",
    }
    mirrored: type[Any] = MetaDomainEvent(type_name, (base,), namespace)
    setattr(Account, type_name, mirrored)  # so its topic resolves
    return mirrored


for _name, _ours in registered_types().items():
    Account.by_type[_name] = _mirror(_name, _ours)


class MoneyAsList(Transcoding):
    type = Money
    name = "money"

    def encode(self, obj: Money) -> list[Any]:
        return [obj.fen, obj.currency]

    def decode(self, data: list[Any]) -> Money:
        return Money(data[0], data[1])


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class DataclassAsDict(Transcoding):
    """A frozen dataclass value (an allocation, a statement line, terms) as its fields."""

    def __init__(self, cls: type[Any]) -> None:
        self.type = cls
        self.name = cls.__name__

    def encode(self, obj: Any) -> dict[str, Any]:
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}

    def decode(self, data: dict[str, Any]) -> Any:
        return self.type(**data)


class Accounts(Application):
    """The eventsourcing application holding every ``Account``."""

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(MoneyAsList())
        transcoder.register(DateAsISO())
        for value_type in (Allocation, LineItem, CreditLineTerms, CashLoanTerms,
                           InstalmentOption):
            transcoder.register(DataclassAsDict(value_type))


def environment(persistence: dict[str, str]) -> dict[str, str]:
    return {
        **persistence,
        "ORIGINATOR_ID_TYPE": "text",
        "AGGREGATE_CACHE_MAXSIZE": "0",  # unbounded
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
    }


def mirrored_event(our_event: OurEvent, stream_id: str, seq: int, occurred_at: str,
                   event_id: str, caused_by: str) -> Any:
    """Our event as the ``Account`` event eventsourcing would have stored."""
    cls = Account.by_type[our_event.type_name]
    fields = {f.name: getattr(our_event, f.name) for f in dataclasses.fields(our_event)}
    extra = {"originator_topic": get_topic(Account)} if cls.__qualname__.split(".")[-1] \
        in OPENING_EVENTS else {}
    return cls(originator_id=stream_id, originator_version=seq,
               timestamp=datetime.fromisoformat(occurred_at), event_id=event_id,
               caused_by=caused_by, **extra, **fields)
