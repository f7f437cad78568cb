"""The audit chain persisted in the store: append under the head lock, verify.

Appenders lock the single `audit_head` row (`SELECT … FOR UPDATE` on
PostgreSQL; SQLite's BEGIN IMMEDIATE write lock already serialises), so any
number of controllers on one database extend one chain. Hashing is exactly
`drone_ops.audit`'s; the hashed time text and canonical payload JSON are stored
verbatim so verification recomputes the same bytes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.engine import Connection, Engine

from drone_ops.audit import GENESIS_HASH, AuditEntry, canonical_json, entry_hash
from drone_ops.store import attempt
from drone_ops.store.config import StoreConfig
from drone_ops.store.durable import StoreOutage, durable_call
from drone_ops.store.engine import read_tx, translate_errors, write_tx
from drone_ops.store.schema import audit_entries, audit_head

__all__ = [
    "ChainProblem",
    "ChainSummary",
    "StoreAuditLog",
    "append_in_tx",
    "entries_for_target",
    "entry_from_row",
    "preimage",
    "verify_chain",
]


def append_in_tx(
    conn: Connection, *, actor: str, action: str, target: str, payload: Mapping[str, Any]
) -> AuditEntry:
    """Append inside the caller's write transaction (so a change and its entry commit together)."""
    head = conn.execute(
        select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update()
    ).one()
    seq = int(head.seq) + 1
    prev_hash = str(head.hash)
    time_utc = datetime.now(UTC)
    time_text = time_utc.isoformat()
    payload_json = canonical_json(payload)
    body = {
        "seq": seq,
        "time_utc": time_text,
        "actor": actor,
        "action": action,
        "target": target,
        "payload": json.loads(payload_json),
    }
    digest = entry_hash(prev_hash, body)
    conn.execute(
        audit_entries.insert().values(
            seq=seq,
            time_utc=time_text,
            actor=actor,
            action=action,
            target=target,
            payload_json=payload_json,
            prev_hash=prev_hash,
            hash=digest,
        )
    )
    conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=seq, hash=digest))
    entry = AuditEntry(
        seq=seq,
        time_utc=time_utc,
        actor=actor,
        action=action,
        target=target,
        payload=body["payload"],
        prev_hash=prev_hash,
        hash=digest,
    )
    attempt.note_entry(entry)  # identifies this write if its commit is in doubt
    return entry


def _body(row: Row[Any]) -> dict[str, Any]:
    return {
        "seq": int(row.seq),
        "time_utc": row.time_utc,
        "actor": row.actor,
        "action": row.action,
        "target": row.target,
        "payload": json.loads(row.payload_json),
    }


def preimage(row: Row[Any]) -> str:
    """The exact text whose SHA-256 is the entry's hash: prev_hash + canonical JSON."""
    return str(row.prev_hash) + canonical_json(_body(row))


def entry_from_row(row: Row[Any]) -> AuditEntry:
    return AuditEntry(
        seq=int(row.seq),
        time_utc=datetime.fromisoformat(row.time_utc),
        actor=row.actor,
        action=row.action,
        target=row.target,
        payload=json.loads(row.payload_json),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def entries_for_target(conn: Connection, target: str) -> list[Row[Any]]:
    return list(
        conn.execute(
            select(audit_entries)
            .where(audit_entries.c.target == target)
            .order_by(audit_entries.c.seq)
        )
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainProblem:
    """The first place the chain does not hold; `seq` names the entry."""

    seq: int | None
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainSummary:
    entries: int
    head_hash: str
    problem: ChainProblem | None


def _iter_rows(conn: Connection, chunk: int = 5000) -> Iterator[Row[Any]]:
    last = 0
    while True:
        rows = list(
            conn.execute(
                select(audit_entries)
                .where(audit_entries.c.seq > last)
                .order_by(audit_entries.c.seq)
                .limit(chunk)
            )
        )
        if not rows:
            return
        yield from rows
        last = int(rows[-1].seq)


def verify_chain(conn: Connection) -> ChainSummary:
    """Recompute every hash in order; report the first entry that does not match."""
    prev_hash = GENESIS_HASH
    expected_seq = 1
    count = 0
    for row in _iter_rows(conn):
        seq = int(row.seq)
        where = f"audit entry {seq} ({row.action} {row.target})"
        if seq != expected_seq:
            return ChainSummary(
                entries=count,
                head_hash=prev_hash,
                problem=ChainProblem(
                    seq=expected_seq,
                    message=f"audit entry {expected_seq} is missing (next is {seq}): "
                    "entries were deleted",
                ),
            )
        if row.prev_hash != prev_hash:
            return ChainSummary(
                entries=count,
                head_hash=prev_hash,
                problem=ChainProblem(
                    seq=seq,
                    message=f"{where} does not link to entry {seq - 1}: the chain was rewritten",
                ),
            )
        if entry_hash(prev_hash, _body(row)) != row.hash:
            return ChainSummary(
                entries=count,
                head_hash=prev_hash,
                problem=ChainProblem(
                    seq=seq,
                    message=f"{where} does not match its hash: it was altered after it was written",
                ),
            )
        prev_hash = row.hash
        expected_seq += 1
        count += 1
    head = conn.execute(select(audit_head.c.seq, audit_head.c.hash)).one_or_none()
    if head is None or int(head.seq) != count or head.hash != prev_hash:
        recorded = "none" if head is None else f"entry {head.seq}"
        return ChainSummary(
            entries=count,
            head_hash=prev_hash,
            problem=ChainProblem(
                seq=count + 1 if head is not None and int(head.seq) > count else None,
                message=f"audit chain ends at entry {count} but its head records {recorded}: "
                "entries were removed from the end or the head was altered",
            ),
        )
    return ChainSummary(entries=count, head_hash=prev_hash, problem=None)


def _itself(_conn: Connection, entry: AuditEntry) -> AuditEntry:
    return entry


class StoreAuditLog:
    """`AuditLog` backed by the store: `append` returns once the entry is committed.

    An append waits out a store outage of up to `StoreConfig.outage_s` (see
    `drone_ops.store.durable`) and is written exactly once; after that it raises
    a one-line `StoreUnreachableError`, so a command whose request could not be
    recorded is never sent.
    """

    def __init__(
        self, engine: Engine, config: StoreConfig, *, outage: StoreOutage | None = None
    ) -> None:
        self._engine = engine
        self._config = config
        self.outage = outage or StoreOutage()

    def _append_sync(
        self, actor: str, action: str, target: str, payload: Mapping[str, Any]
    ) -> AuditEntry:
        with translate_errors(self._config), write_tx(self._engine) as conn:
            return append_in_tx(conn, actor=actor, action=action, target=target, payload=payload)

    async def append(
        self, *, actor: str, action: str, target: str, payload: Mapping[str, Any]
    ) -> AuditEntry:
        body = dict(payload)
        return await durable_call(
            self._engine,
            self._config,
            self.outage,
            lambda: self._append_sync(actor, action, target, body),
            what=f"audit entry {action} {target}",
            recover=_itself,
        )

    def _entries_sync(self, target: str | None, after_seq: int, limit: int) -> list[AuditEntry]:
        query = select(audit_entries).where(audit_entries.c.seq > after_seq)
        if target is not None:
            query = query.where(audit_entries.c.target == target)
        query = query.order_by(audit_entries.c.seq).limit(limit)
        with translate_errors(self._config), read_tx(self._engine) as conn:
            return [entry_from_row(r) for r in conn.execute(query)]

    async def entries(
        self, *, target: str | None = None, after_seq: int = 0, limit: int = 1000
    ) -> list[AuditEntry]:
        """Entries in chain order, optionally only those about one target."""
        return await asyncio.to_thread(self._entries_sync, target, after_seq, limit)
