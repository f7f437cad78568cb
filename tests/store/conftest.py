"""Store fixtures: a real SQLite file per test and a real PostgreSQL schema per test.

PostgreSQL is the machine's server (127.0.0.1:5432; database `test` is used
only to create and drop a uniquely named database per session). Each test gets
its own schema in it (via the URL's search_path), so concurrent runs and tests
never share a chain, and setting up costs one migration, not one database.
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


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A uniquely named PostgreSQL database for this test session, dropped afterwards."""
    name = f"drone_ops_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url_for(name)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_database: str) -> Iterator[str]:
    """A fresh, empty schema for one test; the URL points the store at it."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{pg_database}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(pg_database, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


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
