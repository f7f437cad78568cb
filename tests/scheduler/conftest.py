"""Scheduler fixtures: a real SQLite file and a real PostgreSQL database per test.

PostgreSQL is the machine's server (127.0.0.1:5432; database `test` is used
only to create and drop a uniquely named database), so concurrent test runs
never share leases or schedules.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest

from drone_ops.store import Store, StoreConfig, open_store

PG_ADMIN_URL = os.environ.get("DRONE_OPS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    name = f"drone_ops_sched_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'var' / 'drone-ops.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs once per engine."""
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
async def store(store_url: str, tmp_path: Path) -> AsyncIterator[Store]:
    async with open_store(StoreConfig(url=store_url, evidence_dir=tmp_path / "evidence")) as s:
        yield s


@pytest.fixture
async def pg_store(pg_url: str, tmp_path: Path) -> AsyncIterator[Store]:
    async with open_store(StoreConfig(url=pg_url, evidence_dir=tmp_path / "evidence")) as s:
        yield s
