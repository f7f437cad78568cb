"""The incident book: raise, mark, acknowledge, resolve, dismiss, note and query.

Every change and its audit entry commit in one transaction, so the record and
its proof cannot disagree. Status changes lock the incident row on PostgreSQL
(`FOR UPDATE`); on SQLite the write lock serialises them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shapely.geometry import Point, Polygon
from sqlalchemy import Row, select, update
from sqlalchemy.engine import Connection

from drone_ops.audit import AuditEntry
from drone_ops.incidents.model import (
    EvidenceRecord,
    Incident,
    IncidentDraft,
    IncidentError,
    IncidentNote,
    IncidentStatus,
    Severity,
    check_transition,
)
from drone_ops.roles import Action, Principal, check
from drone_ops.store import NotFoundError, Store, now_us
from drone_ops.store.audit_chain import append_in_tx
from drone_ops.store.engine import read_tx, write_tx
from drone_ops.store.schema import evidence, incident_notes, incidents
from telemetry.sample import TelemetrySample

__all__ = ["Incidents", "evidence_from_row"]


def evidence_from_row(r: Row[Any]) -> EvidenceRecord:
    return EvidenceRecord(
        evidence_id=int(r.evidence_id),
        incident_id=None if r.incident_id is None else int(r.incident_id),
        kind=r.kind,
        path=r.path,
        media_type=r.media_type,
        sha256=r.sha256,
        size_bytes=int(r.size_bytes),
        t0_us=None if r.t0_us is None else int(r.t0_us),
        t1_us=None if r.t1_us is None else int(r.t1_us),
        created_us=int(r.created_us),
        audit_seq=None if r.audit_seq is None else int(r.audit_seq),
    )


def _incident(
    r: Row[Any], notes: Sequence[IncidentNote] = (), ev: Sequence[EvidenceRecord] = ()
) -> Incident:
    return Incident(
        incident_id=int(r.incident_id),
        kind=r.kind,
        severity=Severity(r.severity),
        status=IncidentStatus(r.status),
        time_unix_us=int(r.time_unix_us),
        summary=r.summary,
        raised_by=r.raised_by,
        updated_us=int(r.updated_us),
        vehicle_id=r.vehicle_id,
        sortie_id=None if r.sortie_id is None else int(r.sortie_id),
        lat_deg=r.lat_deg,
        lon_deg=r.lon_deg,
        alt_amsl_m=r.alt_amsl_m,
        notes=tuple(notes),
        evidence=tuple(ev),
    )


def _raised_incident(conn: Connection, entry: AuditEntry) -> Incident:
    """The incident a committed `incident.raise` entry names (target `incident:<id>`)."""
    return load_incident(conn, int(entry.target.partition(":")[2]))


def load_incident(conn: Connection, incident_id: int) -> Incident:
    row = conn.execute(
        select(incidents).where(incidents.c.incident_id == incident_id)
    ).one_or_none()
    if row is None:
        raise NotFoundError(
            f"incident {incident_id} does not exist: see 'drone-ops incidents list'"
        )
    notes = [
        IncidentNote(
            note_id=int(n.note_id), time_unix_us=int(n.time_unix_us), actor=n.actor, text=n.text
        )
        for n in conn.execute(
            select(incident_notes)
            .where(incident_notes.c.incident_id == incident_id)
            .order_by(incident_notes.c.note_id)
        )
    ]
    ev = [
        evidence_from_row(e)
        for e in conn.execute(
            select(evidence)
            .where(evidence.c.incident_id == incident_id)
            .order_by(evidence.c.evidence_id)
        )
    ]
    return _incident(row, notes, ev)


class Incidents:
    """Incident operations over one store; `actor` names who did each change.

    Given a `principal` (a person, from the CLI, TUI or serve), every change is
    first checked against its role (`drone_ops.roles`) and recorded under
    ``principal.audit_actor``; without one (incident rules) nothing is checked.
    """

    def __init__(self, store: Store, *, principal: Principal | None = None) -> None:
        self.store = store
        self.principal = principal

    async def _authorize(self, action: Action, target: str, actor: str) -> str:
        """Check the principal's role; the actor to record."""
        await check(self.principal, action, audit=self.store.audit, target=target)
        return actor if self.principal is None else self.principal.audit_actor

    # ------------------------------------------------------------ raising
    async def raise_incident(self, draft: IncidentDraft, *, actor: str) -> Incident:
        actor = await self._authorize(Action.RAISE_INCIDENT, "incident:new", actor)

        def work() -> Incident:
            stamp = now_us()
            with write_tx(self.store.engine) as conn:
                incident_id = int(
                    conn.execute(
                        incidents.insert()
                        .values(
                            kind=draft.kind,
                            severity=draft.severity.value,
                            status=IncidentStatus.OPEN.value,
                            time_unix_us=draft.time_unix_us,
                            lat_deg=draft.lat_deg,
                            lon_deg=draft.lon_deg,
                            alt_amsl_m=draft.alt_amsl_m,
                            vehicle_id=draft.vehicle_id,
                            sortie_id=draft.sortie_id,
                            summary=draft.summary,
                            raised_by=actor,
                            updated_us=stamp,
                        )
                        .returning(incidents.c.incident_id)
                    ).scalar_one()
                )
                append_in_tx(
                    conn,
                    actor=actor,
                    action="incident.raise",
                    target=f"incident:{incident_id}",
                    payload={
                        "kind": draft.kind,
                        "severity": draft.severity.value,
                        "time_unix_us": draft.time_unix_us,
                        "vehicle_id": draft.vehicle_id,
                        "sortie_id": draft.sortie_id,
                        "lat_deg": draft.lat_deg,
                        "lon_deg": draft.lon_deg,
                        "alt_amsl_m": draft.alt_amsl_m,
                        "summary": draft.summary,
                        "details": dict(draft.details),
                    },
                )
                return load_incident(conn, incident_id)

        # Waits out a short store outage; written once even if a commit's answer was lost.
        return await self.store.run_durable(
            work, what=f"{draft.kind} incident", recover=_raised_incident
        )

    async def mark(
        self,
        *,
        vehicle_id: str,
        note: str,
        actor: str,
        at: TelemetrySample | None = None,
        severity: Severity = Severity.INFO,
    ) -> Incident:
        """An operator's mark at the vehicle's current position (its latest sample)."""
        sample = at if at is not None else await self.store.latest_sample(vehicle_id)
        if sample is None:
            raise IncidentError(
                f"vehicle {vehicle_id} has no telemetry yet, so there is no position to mark: "
                "wait for telemetry or raise the incident with an explicit position"
            )
        draft = IncidentDraft(
            kind="mark",
            severity=severity,
            time_unix_us=sample.time_unix_us,
            summary=note,
            vehicle_id=vehicle_id,
            sortie_id=await self.store.sortie_at(vehicle_id, sample.time_unix_us),
            lat_deg=sample.lat_deg,
            lon_deg=sample.lon_deg,
            alt_amsl_m=sample.alt_amsl_m,
        )
        return await self.raise_incident(draft, actor=actor)

    # ------------------------------------------------------------ lifecycle
    async def _move(
        self, incident_id: int, new: IncidentStatus, *, actor: str, note: str | None
    ) -> Incident:
        action = {
            IncidentStatus.ACKNOWLEDGED: Action.ACKNOWLEDGE_INCIDENT,
            IncidentStatus.RESOLVED: Action.RESOLVE_INCIDENT,
        }.get(new, Action.DISMISS_INCIDENT)
        actor = await self._authorize(action, f"incident:{incident_id}", actor)

        def work() -> Incident:
            stamp = now_us()
            with write_tx(self.store.engine) as conn:
                row = conn.execute(
                    select(incidents.c.status)
                    .where(incidents.c.incident_id == incident_id)
                    .with_for_update()
                ).one_or_none()
                if row is None:
                    raise NotFoundError(
                        f"incident {incident_id} does not exist: see 'drone-ops incidents list'"
                    )
                current = IncidentStatus(row.status)
                check_transition(incident_id, current, new)
                conn.execute(
                    update(incidents)
                    .where(incidents.c.incident_id == incident_id)
                    .values(status=new.value, updated_us=stamp)
                )
                if note:
                    self._insert_note(conn, incident_id, stamp, actor, note)
                append_in_tx(
                    conn,
                    actor=actor,
                    action=f"incident.{new.value}",
                    target=f"incident:{incident_id}",
                    payload={"from": current.value, "to": new.value, "note": note},
                )
                return load_incident(conn, incident_id)

        return await self.store.run(work)

    async def acknowledge(
        self, incident_id: int, *, actor: str, note: str | None = None
    ) -> Incident:
        return await self._move(incident_id, IncidentStatus.ACKNOWLEDGED, actor=actor, note=note)

    async def resolve(self, incident_id: int, *, actor: str, note: str | None = None) -> Incident:
        return await self._move(incident_id, IncidentStatus.RESOLVED, actor=actor, note=note)

    async def dismiss(self, incident_id: int, *, actor: str, note: str | None = None) -> Incident:
        return await self._move(incident_id, IncidentStatus.DISMISSED, actor=actor, note=note)

    @staticmethod
    def _insert_note(conn: Connection, incident_id: int, stamp: int, actor: str, text: str) -> None:
        conn.execute(
            incident_notes.insert().values(
                incident_id=incident_id, time_unix_us=stamp, actor=actor, text=text
            )
        )

    async def add_note(self, incident_id: int, text: str, *, actor: str) -> Incident:
        if not text.strip():
            raise IncidentError("a note needs some text")
        actor = await self._authorize(Action.NOTE_INCIDENT, f"incident:{incident_id}", actor)

        def work() -> Incident:
            stamp = now_us()
            with write_tx(self.store.engine) as conn:
                load_incident(conn, incident_id)  # exists?
                self._insert_note(conn, incident_id, stamp, actor, text)
                append_in_tx(
                    conn,
                    actor=actor,
                    action="incident.note",
                    target=f"incident:{incident_id}",
                    payload={"text": text},
                )
                return load_incident(conn, incident_id)

        return await self.store.run(work)

    # ------------------------------------------------------------ reading
    async def get(self, incident_id: int) -> Incident:
        def work() -> Incident:
            with read_tx(self.store.engine) as conn:
                return load_incident(conn, incident_id)

        return await self.store.run(work)

    async def query(
        self,
        *,
        since_us: int | None = None,
        until_us: int | None = None,
        vehicle_id: str | None = None,
        status: IncidentStatus | Sequence[IncidentStatus] | None = None,
        kind: str | None = None,
        bbox: tuple[float, float, float, float] | None = None,
        polygon: Sequence[tuple[float, float]] | None = None,
        limit: int = 500,
    ) -> list[Incident]:
        """Incidents newest first, filtered by time, vehicle, status, kind and area.

        `bbox` is (min_lon, min_lat, max_lon, max_lat) as in GeoJSON; `polygon` is
        a ring of (lon, lat) vertices. Notes and evidence are not loaded here.
        """
        query = select(incidents).order_by(incidents.c.time_unix_us.desc()).limit(limit)
        if since_us is not None:
            query = query.where(incidents.c.time_unix_us >= since_us)
        if until_us is not None:
            query = query.where(incidents.c.time_unix_us <= until_us)
        if vehicle_id is not None:
            query = query.where(incidents.c.vehicle_id == vehicle_id)
        if kind is not None:
            query = query.where(incidents.c.kind == kind)
        if status is not None:
            wanted = [status] if isinstance(status, IncidentStatus) else list(status)
            query = query.where(incidents.c.status.in_([s.value for s in wanted]))
        if bbox is not None:
            min_lon, min_lat, max_lon, max_lat = bbox
            if min_lon > max_lon or min_lat > max_lat:
                raise IncidentError("bbox must be MIN_LON,MIN_LAT,MAX_LON,MAX_LAT with min <= max")
        shape: Any = None
        if polygon is not None:
            if len(polygon) < 3:
                raise IncidentError("an area polygon needs at least 3 (lon, lat) vertices")
            shape = Polygon(polygon)
            if not shape.is_valid:
                raise IncidentError("the area polygon crosses itself: give its vertices in order")
            pb = shape.bounds
            bbox = _intersect_bbox(bbox, (pb[0], pb[1], pb[2], pb[3]))
        if bbox is not None:
            min_lon, min_lat, max_lon, max_lat = bbox
            if min_lon > max_lon or min_lat > max_lat:
                return []  # the bbox and the polygon do not overlap
            query = query.where(
                incidents.c.lon_deg.between(min_lon, max_lon),
                incidents.c.lat_deg.between(min_lat, max_lat),
            )

        def work() -> list[Incident]:
            with read_tx(self.store.engine) as conn:
                rows = list(conn.execute(query))
            found = [_incident(r) for r in rows]
            if shape is not None:
                found = [
                    i
                    for i in found
                    if i.lon_deg is not None and shape.covers(Point(i.lon_deg, i.lat_deg))
                ]
            return found

        return await self.store.run(work)

    async def audit_trail(self, incident_id: int) -> list[Mapping[str, Any]]:
        """The audit entries about this incident, with their chain hashes."""
        entries = await self.store.audit.entries(target=f"incident:{incident_id}", limit=100_000)
        return [
            {
                "seq": e.seq,
                "time_utc": e.time_utc.isoformat(),
                "actor": e.actor,
                "action": e.action,
                "payload": dict(e.payload),
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            }
            for e in entries
        ]


def _intersect_bbox(
    a: tuple[float, float, float, float] | None, b: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    if a is None:
        return b
    return (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
