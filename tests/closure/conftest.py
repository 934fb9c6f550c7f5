"""Fixtures for the closure tests: the shared ``ledger`` (replayed and verified at
teardown), but with reproducible one-time codes and a named actor, so a closure record
says who closed the account."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lendguard.clock import FixedClock
from lendguard.notify import CodeSource
from lendguard.service import Ledger
from lendguard.store.base import EventStore
from tests.conftest import books_of


@pytest.fixture
def ledger(store: EventStore, clock: FixedClock) -> Iterator[Ledger]:
    lg = Ledger(store, clock, actor="user:borrower", codes=CodeSource(seed=20260101))
    yield lg
    books_of(store)
