"""Fixtures for the event store contract suite: every test runs on every adapter.

SQLite runs on a temporary file (not ``:memory:``, so WAL and reopening are real);
PostgreSQL on a fresh random schema per test, dropped afterwards, at ``LENDGUARD_TEST_PG``
(default: the local trust-auth server). A PostgreSQL server that is down fails these tests
loudly: they are never skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from lendguard.store.base import EventStore
from lendguard.store.postgres import PostgresEventStore
from lendguard.store.sqlite import SQLiteEventStore

PG_URL = os.environ.get("LENDGUARD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")

ADAPTERS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@dataclass(frozen=True)
class StoreSpec:
    """Where one test store lives; picklable, so spawned processes can open it too.

    Attributes:
      kind: ``sqlite`` or ``postgres``.
      target: the SQLite file, or the PostgreSQL URL.
      schema: the PostgreSQL schema (unused for SQLite).
    """

    kind: str
    target: str
    schema: str = "public"

    def open(self) -> EventStore:
        if self.kind == "sqlite":
            return SQLiteEventStore(self.target)
        return PostgresEventStore(self.target, self.schema)


@contextmanager
def fresh_store_spec(kind: str, directory: Path) -> Iterator[StoreSpec]:
    """A spec for an empty store of ``kind``; a PostgreSQL schema is dropped afterwards."""
    if kind == "sqlite":
        yield StoreSpec("sqlite", str(directory / f"events-{uuid.uuid4().hex[:8]}.db"))
        return
    schema = f"lg_test_{uuid.uuid4().hex[:12]}"
    try:
        yield StoreSpec("postgres", PG_URL, schema)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )


@pytest.fixture(params=ADAPTERS)
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreSpec]:
    with fresh_store_spec(request.param, tmp_path) as spec:
        yield spec


@pytest.fixture
def store(store_spec: StoreSpec) -> Iterator[EventStore]:
    opened = store_spec.open()
    try:
        yield opened
    finally:
        opened.close()
