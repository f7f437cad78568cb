"""Store fixtures: a real SQLite file per test and a real PostgreSQL database per test.

PostgreSQL is the machine's server (127.0.0.1:5432, database `test` used only
to create and drop a uniquely named database), so concurrent runs never share
a chain.
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


def _pg_url_for(dbname: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{dbname}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"drone_ops_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url_for(name)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'var' / 'drone-ops.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs once per engine."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store_config(store_url: str, tmp_path: Path) -> StoreConfig:
    return StoreConfig(url=store_url, evidence_dir=tmp_path / "evidence")


@pytest.fixture
async def store(store_config: StoreConfig) -> AsyncIterator[Store]:
    async with open_store(store_config) as s:
        yield s
