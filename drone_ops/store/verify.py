"""`audit verify`: recompute the chain, then re-hash every evidence file.

Reports the first thing that does not hold — an entry by its sequence number,
a file by its path — so an investigator knows exactly where to look.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Connection

from drone_ops.store.audit_chain import ChainProblem, verify_chain
from drone_ops.store.engine import read_tx
from drone_ops.store.schema import audit_entries, evidence
from drone_ops.store.store import Store

__all__ = ["VerifyReport", "verify_store"]


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyReport:
    entries: int
    head_hash: str
    evidence_files: int
    problem: ChainProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def summary(self) -> str:
        if self.problem is not None:
            return f"FAILED: {self.problem.message}"
        return (
            f"OK: {self.entries} audit entries chain to head {self.head_hash[:16]}…, "
            f"{self.evidence_files} evidence files match their SHA-256"
        )


def _sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _check_evidence(conn: Connection, root: Path) -> tuple[int, ChainProblem | None]:
    checked = 0
    for row in conn.execute(select(evidence).order_by(evidence.c.evidence_id)):
        where = f"evidence {row.evidence_id} ({row.path})"
        if row.audit_seq is None:
            return checked, ChainProblem(
                seq=None, message=f"{where} has no audit entry: it was added behind our back"
            )
        entry = conn.execute(
            select(audit_entries.c.payload_json).where(audit_entries.c.seq == row.audit_seq)
        ).one_or_none()
        payload = {} if entry is None else json.loads(entry.payload_json)
        if (
            payload.get("evidence_id") != row.evidence_id
            or payload.get("sha256") != row.sha256
            or payload.get("path") != row.path
            or payload.get("size_bytes") != row.size_bytes
        ):
            return checked, ChainProblem(
                seq=int(row.audit_seq),
                message=f"{where}: its record differs from audit entry {row.audit_seq}, "
                "which registered it: the evidence record was altered",
            )
        path = root / row.path
        if not path.is_file():
            return checked, ChainProblem(
                seq=int(row.audit_seq), message=f"evidence file {path} is missing"
            )
        sha256, size = _sha256(path)
        if sha256 != row.sha256 or size != row.size_bytes:
            return checked, ChainProblem(
                seq=int(row.audit_seq),
                message=f"evidence file {path} does not match its recorded SHA-256 "
                f"(audit entry {row.audit_seq}): it was altered",
            )
        checked += 1
    return checked, None


def verify_sync(store: Store) -> VerifyReport:
    with read_tx(store.engine, snapshot=True) as conn:
        chain = verify_chain(conn)
        if chain.problem is not None:
            return VerifyReport(
                entries=chain.entries,
                head_hash=chain.head_hash,
                evidence_files=0,
                problem=chain.problem,
            )
        files, problem = _check_evidence(conn, store.evidence_dir)
    return VerifyReport(
        entries=chain.entries, head_hash=chain.head_hash, evidence_files=files, problem=problem
    )


async def verify_store(store: Store) -> VerifyReport:
    """Check the whole chain and every evidence file; never raises on a mismatch."""
    return await store.run(verify_sync, store)
