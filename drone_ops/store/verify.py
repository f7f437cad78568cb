"""`audit verify`: recompute the chain, check the records against it, re-hash evidence.

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
from drone_ops.store.schema import audit_entries, evidence, incidents
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


_RAISE_FIELDS = (
    "kind",
    "severity",
    "time_unix_us",
    "vehicle_id",
    "sortie_id",
    "lat_deg",
    "lon_deg",
    "alt_amsl_m",
    "summary",
)


def _check_records(conn: Connection) -> ChainProblem | None:
    """Incident and evidence rows must be what their (verified) audit entries say.

    Replays `incident.*` and `evidence.add` entries: an incident's fields come
    from its `incident.raise` entry, its status from its last status change,
    and every registered evidence record must still exist.
    """
    expected: dict[int, dict[str, object]] = {}
    raised_seq: dict[int, int] = {}
    last_change: dict[int, int] = {}
    registered: dict[int, int] = {}
    query = (
        select(
            audit_entries.c.seq,
            audit_entries.c.action,
            audit_entries.c.target,
            audit_entries.c.payload_json,
        )
        .where(
            (audit_entries.c.action.like("incident.%")) | (audit_entries.c.action == "evidence.add")
        )
        .order_by(audit_entries.c.seq)
    )
    for row in conn.execute(query):
        kind, _, ident = str(row.target).partition(":")
        if kind != "incident" or not ident.isdigit():
            continue
        incident_id = int(ident)
        payload = json.loads(row.payload_json)
        if row.action == "incident.raise":
            expected[incident_id] = {f: payload.get(f) for f in _RAISE_FIELDS}
            expected[incident_id]["status"] = "open"
            raised_seq[incident_id] = int(row.seq)
        elif row.action == "evidence.add":
            registered[int(payload["evidence_id"])] = int(row.seq)
        elif "to" in payload and incident_id in expected:
            expected[incident_id]["status"] = payload["to"]
            last_change[incident_id] = int(row.seq)
    for row in conn.execute(select(incidents).order_by(incidents.c.incident_id)):
        incident_id = int(row.incident_id)
        want = expected.pop(incident_id, None)
        if want is None:
            return ChainProblem(
                seq=None,
                message=f"incident {incident_id} has no incident.raise audit entry: "
                "it was added behind our back",
            )
        for field, value in want.items():
            if row._mapping[field] != value:
                seq = last_change.get(incident_id, raised_seq[incident_id])
                if field != "status":
                    seq = raised_seq[incident_id]
                return ChainProblem(
                    seq=seq,
                    message=f"incident {incident_id}: its {field} in the store "
                    f"({row._mapping[field]!r}) differs from audit entry {seq} ({value!r}): "
                    "the incident record was altered",
                )
    if expected:
        incident_id = min(expected)
        return ChainProblem(
            seq=raised_seq[incident_id],
            message=f"incident {incident_id} (audit entry {raised_seq[incident_id]}) is "
            "missing from the store: it was deleted",
        )
    present = {int(r.evidence_id) for r in conn.execute(select(evidence.c.evidence_id))}
    for evidence_id, seq in sorted(registered.items()):
        if evidence_id not in present:
            return ChainProblem(
                seq=seq,
                message=f"evidence {evidence_id} (audit entry {seq}) is missing from the "
                "store: its record was deleted",
            )
    return None


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
        problem = _check_records(conn)
        if problem is not None:
            return VerifyReport(
                entries=chain.entries,
                head_hash=chain.head_hash,
                evidence_files=0,
                problem=problem,
            )
        files, problem = _check_evidence(conn, store.evidence_dir)
    return VerifyReport(
        entries=chain.entries, head_hash=chain.head_hash, evidence_files=files, problem=problem
    )


async def verify_store(store: Store) -> VerifyReport:
    """Check the whole chain and every evidence file; never raises on a mismatch."""
    return await store.run(verify_sync, store)
