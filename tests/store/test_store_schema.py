"""One schema on both engines, migrated on open, safely and exactly once."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from drone_ops.store import (
    StoreConfig,
    StoreConfigError,
    StoreSchemaError,
    StoreUnreachableError,
    open_store,
)
from drone_ops.store.migrate import HEAD_REVISION, head_revision
from drone_ops.store.schema import metadata


async def test_migrated_database_matches_the_schema_exactly(store_config: StoreConfig) -> None:
    async with open_store(store_config) as store:

        def diff() -> list[object]:
            with store.engine.connect() as conn:
                return list(compare_metadata(MigrationContext.configure(conn), metadata))

        assert await store.run(diff) == []

        def tables() -> set[str]:
            return set(inspect(store.engine).get_table_names())

        assert {t.name for t in metadata.sorted_tables} <= await store.run(tables)


async def test_reopening_is_a_no_op_and_the_revision_is_the_head(store_config: StoreConfig) -> None:
    assert head_revision() == HEAD_REVISION
    for _ in range(2):
        async with open_store(store_config) as store:

            def revision() -> str:
                with store.engine.connect() as conn:
                    return str(
                        conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                    )

            assert await store.run(revision) == HEAD_REVISION


async def test_two_openers_at_once_migrate_once(store_config: StoreConfig) -> None:
    async def open_and_append(n: int) -> int:
        async with open_store(store_config) as store:
            entry = await store.audit.append(actor=f"c{n}", action="test", target="t", payload={})
            return entry.seq

    seqs = await asyncio.gather(*(open_and_append(n) for n in range(4)))
    assert sorted(seqs) == [1, 2, 3, 4]


async def test_a_schema_newer_than_the_software_is_refused(store_config: StoreConfig) -> None:
    async with open_store(store_config) as store:

        def bump() -> None:
            with store.engine.begin() as conn:
                conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))

        await store.run(bump)
    with pytest.raises(StoreSchemaError, match=r"9999.*upgrade drone-ops"):
        async with open_store(store_config):
            pass


def test_bad_urls_get_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreConfigError, match="not supported"):
        StoreConfig(url="mysql://x/y")
    with pytest.raises(StoreConfigError, match="in-memory"):
        StoreConfig(url="sqlite://")
    with pytest.raises(StoreConfigError, match="names no database"):
        StoreConfig(url="postgresql://localhost")
    bare = StoreConfig(url=str(tmp_path / "x.db"))
    assert bare.is_sqlite
    assert bare.resolved_evidence_dir() == tmp_path / "evidence"
    assert StoreConfig(url="postgresql://u:secret@h/db").sqlalchemy_url().drivername == (
        "postgresql+psycopg"
    )
    assert "secret" not in StoreConfig(url="postgresql://u:secret@h/db").display()


async def test_unreachable_postgresql_is_a_clear_error() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = StoreConfig(url=f"postgresql://postgres@127.0.0.1:{port}/x", connect_timeout_s=2)
    with pytest.raises(
        StoreUnreachableError, match=rf"127\.0\.0\.1:{port}.*check the server"
    ) as info:
        async with open_store(config):
            pass
    assert "\n" not in str(info.value)
