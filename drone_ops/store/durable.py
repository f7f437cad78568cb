"""Writes that must not be lost wait out a short store outage, then fail in one line.

Why: a PostgreSQL restart (an upgrade, a failover, a crashed server brought
back) takes seconds. An audit entry, a sortie record or an incident written at
that moment is accountability data: failing it at once would fail a sortie in
flight for a hiccup, dropping it would lose the record. So `durable_call`
retries transient failures (unreachable, locked) with jittered backoff for
`StoreConfig.outage_s` wall seconds, then raises one `StoreUnreachableError`
naming what was not written. A command waiting on its audit entry is therefore
delayed, never sent unrecorded.

Retrying is safe only if the failed attempt did not commit. Every durable write
appends an audit entry in its own transaction and that entry's hash is unique
(it covers the previous hash and a microsecond time), so when a failure came
after COMMIT was sent the question is settled by looking the hash up once the
store answers again: found, the write happened and `recover` rebuilds its
result from the committed rows; not found, it is retried.

Some work is safe to repeat whatever an earlier attempt did, because it looks
at what is there before changing it (closing a sortie only closes an open one;
a lease renewal sets the same holder and token again; a lease check only
reads). Such calls pass `repeatable=True`: an attempt in doubt is simply tried
again, also when it carried no audit entry to look up (closing a sortie that
is already closed appends none).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from drone_ops.audit import AuditEntry
from drone_ops.store import attempt
from drone_ops.store.config import StoreConfig
from drone_ops.store.engine import read_tx, translate_errors
from drone_ops.store.errors import StoreError, StoreLockedError, StoreUnreachableError
from drone_ops.store.schema import audit_entries

__all__ = ["OutageStats", "Recover", "StoreOutage", "durable_call"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# Rebuilds a durable write's result from the committed rows, given its audit entry.
Recover = Callable[[Connection, AuditEntry], T]

_FIRST_RETRY_S = 0.05
_MAX_RETRY_S = 1.0  # a restarted server is used again within about a second


@dataclass(slots=True, kw_only=True)
class OutageStats:
    """What durable writes have waited through, for status displays and tests."""

    retries: int = 0
    waiting: int = 0  # durable writes waiting for the store right now
    given_up: int = 0
    last_error: str | None = None


class StoreOutage:
    """Shared by a store's durable writes: `waiting` is set while any of them retries."""

    def __init__(self) -> None:
        self.stats = OutageStats()
        self.waiting = asyncio.Event()

    def retrying(self, error: StoreError) -> None:
        self.stats.retries += 1
        self.stats.last_error = str(error)
        self.waiting.set()

    def enter(self) -> None:
        self.stats.waiting += 1

    def leave(self) -> None:
        self.stats.waiting -= 1
        if self.stats.waiting == 0:
            self.waiting.clear()


class _InDoubt(Exception):
    def __init__(self, error: StoreError, entry: AuditEntry | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.entry = entry


def _attempt_once(config: StoreConfig, fn: Callable[[], T]) -> T:
    attempt.begin()
    try:
        with translate_errors(config):
            return fn()
    except (StoreUnreachableError, StoreLockedError) as exc:
        if attempt.commit_sent():
            raise _InDoubt(exc, attempt.noted_entry()) from exc
        raise


def _settle(engine: Engine, config: StoreConfig, entry: AuditEntry, recover: Recover[T]) -> list[T]:
    """Did the write carrying `entry` commit? If so, [its result]; else []."""
    with translate_errors(config), read_tx(engine) as conn:
        found = conn.execute(
            select(audit_entries.c.seq).where(audit_entries.c.hash == entry.hash)
        ).scalar_one_or_none()
        return [] if found is None else [recover(conn, entry)]


async def durable_call(
    engine: Engine,
    config: StoreConfig,
    outage: StoreOutage,
    fn: Callable[[], T],
    *,
    what: str,
    recover: Recover[T] | None = None,
    repeatable: bool = False,
    not_done: str = "was not written",
) -> T:
    """Run one write transaction (`fn`, blocking, in a worker thread) exactly once.

    `what` names the write in the error after `config.outage_s` (`not_done`
    says what became of it); `recover` rebuilds the result when an attempt
    whose answer was lost did commit; `repeatable`: `fn` may simply be run
    again after such an attempt (see the module docstring).
    """
    deadline = time.monotonic() + config.outage_s
    delay = _FIRST_RETRY_S
    in_doubt: AuditEntry | None = None
    entered = False
    try:
        while True:
            try:
                if in_doubt is not None and recover is not None:
                    done = await asyncio.to_thread(_settle, engine, config, in_doubt, recover)
                    if done:
                        log.info("%s: committed before the store went away", what)
                        return done[0]
                    in_doubt = None
                return await asyncio.to_thread(_attempt_once, config, fn)
            except _InDoubt as doubt:
                if doubt.entry is not None and recover is not None:
                    in_doubt, error = doubt.entry, doubt.error
                elif repeatable:
                    error = doubt.error  # the next attempt sees what this one did
                else:
                    raise StoreUnreachableError(
                        f"{what} may or may not have been written: the store went away while "
                        f"committing ({doubt.error}); check before repeating it"
                    ) from doubt.error
            except (StoreUnreachableError, StoreLockedError) as exc:
                error = exc
            if time.monotonic() >= deadline:
                outage.stats.given_up += 1
                fate = not_done if in_doubt is None else "may have been written"
                raise StoreUnreachableError(
                    f"{what} {fate}: the store stayed unavailable for "
                    f"{config.outage_s:g} s ({error})"
                ) from error
            entered_before = entered
            if not entered:
                entered = True
                outage.enter()
            outage.retrying(error)
            # once per write at warning level: a restart would otherwise log dozens of lines
            log.log(
                logging.DEBUG if entered_before else logging.WARNING,
                "%s waits for the store: %s",
                what,
                error,
            )
            await asyncio.sleep(delay * (0.5 + random.random()))  # jittered backoff
            delay = min(delay * 2, _MAX_RETRY_S)
    finally:
        if entered:
            outage.leave()
