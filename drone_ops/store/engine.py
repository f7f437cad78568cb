"""Engines for both backends, transaction helpers and error translation.

Why a synchronous engine run in worker threads (`asyncio.to_thread`) rather than
the async drivers: alembic migrates with a synchronous connection anyway; the
fast bulk paths we need are driver-level (`sqlite3.executemany`, psycopg's
`COPY`), which are simplest on plain connections; aiosqlite itself is a thread
around sqlite3; and one code path serves both engines. The event loop never
blocks on the database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from drone_ops.store import attempt
from drone_ops.store.config import StoreConfig
from drone_ops.store.errors import StoreError, StoreLockedError, StoreUnreachableError

__all__ = ["make_engine", "read_tx", "translate_errors", "write_tx"]

_IMMEDIATE = "drone_ops_immediate"


def make_engine(config: StoreConfig) -> Engine:
    url = config.sqlalchemy_url()
    if url.get_backend_name() == "sqlite":
        path = config.sqlite_path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": config.busy_timeout_s})
        busy_ms = int(config.busy_timeout_s * 1000)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, below
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")  # an audit append is durable on return
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # Writers take the write lock up front: a deferred transaction that
            # upgrades to writing fails at once instead of waiting its turn.
            immediate = conn.get_execution_options().get(_IMMEDIATE, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
    else:
        engine = create_engine(
            url,
            pool_pre_ping=True,
            connect_args={"connect_timeout": max(1, int(config.connect_timeout_s))},
        )
    # A failure after this point may have committed: `durable` settles it before retrying.
    event.listen(engine, "commit", attempt.note_commit)
    return engine


@contextmanager
def translate_errors(config: StoreConfig) -> Iterator[None]:
    """Turn driver errors a user can act on into one-line store errors."""
    try:
        yield
    except OperationalError as exc:
        raise _translate(config, exc) from exc
    except DBAPIError as exc:
        if isinstance(exc.orig, psycopg.OperationalError):
            raise _translate(config, exc) from exc
        raise


def _translate(config: StoreConfig, exc: DBAPIError) -> StoreError | DBAPIError:
    text = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
    if isinstance(exc.orig, sqlite3.OperationalError):
        if "locked" in text or "busy" in text:
            return StoreLockedError(
                f"store {config.display()} stayed locked by another process for "
                f"{config.busy_timeout_s:g} s: stop the other writer, or use PostgreSQL "
                "for several controllers"
            )
        if "unable to open" in text:
            return StoreUnreachableError(
                f"cannot open SQLite store {config.display()} ({text}): check the path "
                "and its directory permissions"
            )
        return exc
    if isinstance(exc.orig, psycopg.OperationalError):
        return StoreUnreachableError(
            f"cannot reach the store {config.display()} ({text}): check the server is "
            "running and the URL, user and password"
        )
    return exc


@contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """One write transaction (SQLite: BEGIN IMMEDIATE, so writers queue on the lock)."""
    with engine.connect() as conn:
        conn = conn.execution_options(**{_IMMEDIATE: True})
        with conn.begin():
            yield conn


@contextmanager
def read_tx(engine: Engine, *, snapshot: bool = False) -> Iterator[Connection]:
    """One read transaction; `snapshot` makes every statement see the same state.

    SQLite's WAL readers always see one snapshot; PostgreSQL needs REPEATABLE
    READ for that (its default, READ COMMITTED, sees each statement afresh).
    """
    with engine.connect() as conn:
        if snapshot and conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn
