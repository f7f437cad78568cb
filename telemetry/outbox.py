"""Durable outbox: QoS 1 messages wait on disk until the broker acknowledges them.

A SQLite file (stdlib `sqlite3`, WAL, ``synchronous=FULL``) so that an event
accepted while the broker is unreachable survives a controller restart too.
Rows are delivered in insertion order and deleted only after the broker's
PUBACK. Every database call runs on one dedicated worker thread: the event
loop never waits on the disk, and submission order is execution order.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Self, TypeVar

from telemetry.errors import OutboxError

__all__ = ["Outbox", "OutboxMessage"]

R = TypeVar("R")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL
)
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxMessage:
    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


class Outbox:
    """An ordered, durable queue of MQTT messages; an async context manager."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[tuple[tuple[str, bytes, int, int], asyncio.Future[int]]] = []
        self._committing = False
        self._count = 0
        self._added = asyncio.Event()
        self._empty = asyncio.Event()

    @property
    def path(self) -> Path:
        return self._path

    def __len__(self) -> int:
        return self._count

    async def __aenter__(self) -> Self:
        self._loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mqtt-outbox")
        try:
            self._count = await self._run(self._open)  # before any put: no race
        except BaseException:
            self._executor.shutdown(wait=True)
            raise
        self._update_events()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            await self._run(self._close)
        finally:
            assert self._executor is not None
            self._executor.shutdown(wait=True)
            self._executor = None

    async def put(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        """Store a message durably; returns its id once it is on disk.

        Group commit: messages put while a commit is in progress are written
        together in the next transaction (one fsync for the group), in the
        order they were put. A caller cancelled while waiting may still have
        its message delivered (at least once, as QoS 1 promises anyway).
        """
        if self._executor is None:
            raise OutboxError("the MQTT outbox is not open; use it inside 'async with'")
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append(((topic, payload, qos, int(retain)), done))
        if not self._committing:
            self._start_commit()
        return await asyncio.shield(done)

    def _start_commit(self) -> None:
        group, self._pending = self._pending, []
        self._committing = True
        rows = [row for row, _ in group]

        def insert() -> list[int]:
            db = self._require_db()
            ids = []
            with db:
                for row in rows:
                    cur = db.execute(
                        "INSERT INTO outbox (topic, payload, qos, retain) VALUES (?, ?, ?, ?)", row
                    )
                    assert cur.lastrowid is not None
                    ids.append(cur.lastrowid)
            self._changed(len(ids))
            return ids

        assert self._executor is not None
        commit = asyncio.get_running_loop().run_in_executor(self._executor, insert)

        def finished(f: asyncio.Future[list[int]]) -> None:
            self._committing = False
            exc = f.exception()
            for i, (_, waiter) in enumerate(group):
                if waiter.done():
                    continue
                if exc is not None:
                    waiter.set_exception(
                        OutboxError(f"MQTT outbox {self._path} failed: {exc}")
                        if isinstance(exc, sqlite3.Error)
                        else exc
                    )
                else:
                    waiter.set_result(f.result()[i])
            if self._pending:
                self._start_commit()

        commit.add_done_callback(finished)

    async def peek(self, limit: int) -> list[OutboxMessage]:
        """The oldest `limit` messages, in order, without removing them."""

        def select() -> list[OutboxMessage]:
            rows = self._require_db().execute(
                "SELECT id, topic, payload, qos, retain FROM outbox ORDER BY id LIMIT ?",
                (limit,),
            )
            return [
                OutboxMessage(id=r[0], topic=r[1], payload=bytes(r[2]), qos=r[3], retain=bool(r[4]))
                for r in rows
            ]

        return await self._run(select)

    async def remove(self, ids: list[int]) -> None:
        """Delete delivered (acknowledged) messages."""
        if not ids:
            return

        def delete() -> None:
            db = self._require_db()
            with db:
                cur = db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
            self._changed(-cur.rowcount)

        await self._run(delete)

    async def wait_added(self) -> None:
        """Wait until a message is put (clears itself after waking)."""
        await self._added.wait()
        self._added.clear()

    async def wait_empty(self) -> None:
        """Wait until every message has been delivered."""
        await self._empty.wait()

    # ------------------------------------------------------------ internals

    def _changed(self, delta: int) -> None:
        """Worker thread: count the change and tell the loop (even if the caller was cancelled)."""
        self._count += delta
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._update_events)

    def _update_events(self) -> None:
        if self._count > 0:
            self._added.set()
            self._empty.clear()
        else:
            self._empty.set()

    def _open(self) -> int:
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self._path)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute(_SCHEMA)
            (count,) = db.execute("SELECT count(*) FROM outbox").fetchone()
        except (OSError, sqlite3.Error) as exc:
            raise OutboxError(
                f"cannot open the MQTT outbox {self._path}: {exc}; "
                "check that the directory is writable and the file is not another program's"
            ) from exc
        self._db = db
        return int(count)

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _require_db(self) -> sqlite3.Connection:
        if self._db is None:
            raise OutboxError("the MQTT outbox is not open; use it inside 'async with'")
        return self._db

    async def _run(self, fn: Callable[[], R]) -> R:
        if self._executor is None:
            raise OutboxError("the MQTT outbox is not open; use it inside 'async with'")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn)
        except sqlite3.Error as exc:
            raise OutboxError(f"MQTT outbox {self._path} failed: {exc}") from exc
