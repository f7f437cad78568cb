"""The audit chain: what the controller writes every command and change to.

Each entry is chained by SHA-256 over the previous entry's hash and the entry's
canonical JSON, so altering, removing or reordering any entry breaks every hash
after it. The controller depends only on the `AuditLog` protocol; the stores
(`drone_ops.store`) persist it, `MemoryAuditLog` keeps it in memory for runs
without a store.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "GENESIS_HASH",
    "AuditEntry",
    "AuditLog",
    "MemoryAuditLog",
    "canonical_json",
    "entry_hash",
]

GENESIS_HASH = "0" * 64


def _jsonable(value: Any) -> Any:
    """Reduce a payload to JSON types deterministically (NaN/inf become strings)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 text: the same bytes on every machine."""
    return json.dumps(_jsonable(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    seq: int
    time_utc: datetime
    actor: str
    action: str  # e.g. "command.arm.request", "command.arm.result", "incident.ack"
    target: str  # e.g. "vehicle:v1", "incident:12"
    payload: Mapping[str, Any]
    prev_hash: str
    hash: str

    def body(self) -> dict[str, Any]:
        """The fields the hash covers."""
        return {
            "seq": self.seq,
            "time_utc": self.time_utc.astimezone(UTC).isoformat(),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "payload": _jsonable(self.payload),
        }


def entry_hash(prev_hash: str, body: Mapping[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical_json(body)).encode("utf-8")).hexdigest()


@runtime_checkable
class AuditLog(Protocol):
    """Append-only. `append` returns once the entry is durable in the backing store."""

    async def append(
        self, *, actor: str, action: str, target: str, payload: Mapping[str, Any]
    ) -> AuditEntry: ...


class MemoryAuditLog:
    """An in-memory chain for runs without a store (and for tests of callers)."""

    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []
        self._lock = asyncio.Lock()

    async def append(
        self, *, actor: str, action: str, target: str, payload: Mapping[str, Any]
    ) -> AuditEntry:
        async with self._lock:
            prev = self.entries[-1].hash if self.entries else GENESIS_HASH
            time_utc = datetime.now(UTC)
            body = {
                "seq": len(self.entries) + 1,
                "time_utc": time_utc.isoformat(),
                "actor": actor,
                "action": action,
                "target": target,
                "payload": _jsonable(payload),
            }
            entry = AuditEntry(
                seq=len(self.entries) + 1,
                time_utc=time_utc,
                actor=actor,
                action=action,
                target=target,
                payload=dict(payload),
                prev_hash=prev,
                hash=entry_hash(prev, body),
            )
            self.entries.append(entry)
            return entry
