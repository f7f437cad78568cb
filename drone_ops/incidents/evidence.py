"""Evidence: files stored under the evidence directory, hashed and audited.

A file is written (temp file, fsync, rename, read-only), then its record and
an `evidence.add` audit entry carrying its SHA-256 commit together. `audit
verify` later re-hashes every file against both.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import select

from drone_ops.incidents.book import Incidents, evidence_from_row, load_incident
from drone_ops.incidents.model import EvidenceKind, EvidenceRecord, IncidentError
from drone_ops.store import Store, now_us
from drone_ops.store.audit_chain import append_in_tx
from drone_ops.store.engine import read_tx, write_tx
from drone_ops.store.records import iso_from_us
from drone_ops.store.schema import evidence
from drone_ops.store.store import track_feature
from drone_ops.store.telemetry_rows import SAMPLE_FIELDS
from telemetry.sample import TelemetrySample
from telemetry.tlog import slice_tlog

__all__ = ["EvidenceLocker", "sha256_file", "telemetry_csv", "telemetry_geojson"]

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def sha256_file(path: Path) -> tuple[str, int]:
    """SHA-256 hex digest and size of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def telemetry_csv(samples: list[TelemetrySample]) -> bytes:
    """Samples as CSV: a `time_utc` column, then every TelemetrySample field."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["time_utc", *SAMPLE_FIELDS])
    for s in samples:
        writer.writerow(
            [
                iso_from_us(s.time_unix_us),
                *("" if (v := getattr(s, f)) is None else v for f in SAMPLE_FIELDS),
            ]
        )
    return out.getvalue().encode("utf-8")


def telemetry_geojson(
    samples: list[TelemetrySample], properties: dict[str, Any], marker: dict[str, Any] | None
) -> bytes:
    """A FeatureCollection: the track (LineString) and, if known, the incident's point."""
    features = [track_feature(samples, properties)]
    if marker is not None:
        features.append(marker)
    return (
        json.dumps({"type": "FeatureCollection", "features": features}, indent=1) + "\n"
    ).encode()


def incident_point(incident: Any) -> dict[str, Any] | None:
    if incident.lat_deg is None:
        return None
    coords = [incident.lon_deg, incident.lat_deg]
    if incident.alt_amsl_m is not None:
        coords.append(incident.alt_amsl_m)
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": coords},
        "properties": {
            "incident_id": incident.incident_id,
            "kind": incident.kind,
            "time_utc": iso_from_us(incident.time_unix_us),
            "summary": incident.summary,
        },
    }


class EvidenceLocker:
    """Adds evidence files to incidents; the blob root is the store's evidence directory."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.root = store.evidence_dir

    def _place(self, incident_id: int, name: str, stamp: int) -> tuple[Path, str]:
        safe = _SAFE_NAME.sub("_", name).strip("._") or "evidence"
        rel = f"incident-{incident_id}/{stamp}-{safe}"
        return self.root / rel, rel

    @staticmethod
    def _write_atomically(dest: Path, data: bytes | None, source: Path | None) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.partial")
        with tmp.open("wb") as out:
            if data is not None:
                out.write(data)
            else:
                assert source is not None
                with source.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(dest)
        dest.chmod(0o444)  # evidence is never edited in place

    async def _add(
        self,
        incident_id: int,
        *,
        kind: EvidenceKind | str,
        name: str,
        media_type: str,
        actor: str,
        data: bytes | None = None,
        source: Path | None = None,
        t0_us: int | None = None,
        t1_us: int | None = None,
    ) -> EvidenceRecord:
        def work() -> EvidenceRecord:
            stamp = now_us()
            if source is not None and not source.is_file():
                raise IncidentError(f"evidence file {source} does not exist or is not a file")
            with read_tx(self.store.engine) as conn:
                load_incident(conn, incident_id)  # refuse evidence for an unknown incident
            dest, rel = self._place(incident_id, name, stamp)
            self._write_atomically(dest, data, source)
            sha256, size = sha256_file(dest)
            with write_tx(self.store.engine) as conn:
                evidence_id = int(
                    conn.execute(
                        evidence.insert()
                        .values(
                            incident_id=incident_id,
                            kind=str(kind),
                            path=rel,
                            media_type=media_type,
                            sha256=sha256,
                            size_bytes=size,
                            t0_us=t0_us,
                            t1_us=t1_us,
                            created_us=stamp,
                        )
                        .returning(evidence.c.evidence_id)
                    ).scalar_one()
                )
                entry = append_in_tx(
                    conn,
                    actor=actor,
                    action="evidence.add",
                    target=f"incident:{incident_id}",
                    payload={
                        "evidence_id": evidence_id,
                        "kind": str(kind),
                        "path": rel,
                        "sha256": sha256,
                        "size_bytes": size,
                    },
                )
                conn.execute(
                    evidence.update()
                    .where(evidence.c.evidence_id == evidence_id)
                    .values(audit_seq=entry.seq)
                )
                row = conn.execute(
                    select(evidence).where(evidence.c.evidence_id == evidence_id)
                ).one()
                return evidence_from_row(row)

        return await self.store.run(work)

    async def add_bytes(
        self,
        incident_id: int,
        data: bytes,
        *,
        kind: EvidenceKind | str,
        name: str,
        media_type: str,
        actor: str,
        t0_us: int | None = None,
        t1_us: int | None = None,
    ) -> EvidenceRecord:
        return await self._add(
            incident_id,
            kind=kind,
            name=name,
            media_type=media_type,
            actor=actor,
            data=data,
            t0_us=t0_us,
            t1_us=t1_us,
        )

    async def add_file(
        self,
        incident_id: int,
        source: Path,
        *,
        kind: EvidenceKind | str,
        actor: str,
        media_type: str = "application/octet-stream",
        name: str | None = None,
        t0_us: int | None = None,
        t1_us: int | None = None,
    ) -> EvidenceRecord:
        """Copy a file (a tlog slice, a video clip, a snapshot) in as evidence."""
        return await self._add(
            incident_id,
            kind=kind,
            name=name or source.name,
            media_type=media_type,
            actor=actor,
            source=source,
            t0_us=t0_us,
            t1_us=t1_us,
        )

    async def capture_telemetry_window(
        self,
        incident_id: int,
        *,
        actor: str,
        before_s: float = 30.0,
        after_s: float = 30.0,
    ) -> list[EvidenceRecord]:
        """Store the vehicle's telemetry around the incident as CSV and GeoJSON evidence."""
        incident = await Incidents(self.store).get(incident_id)
        if incident.vehicle_id is None:
            raise IncidentError(
                f"incident {incident_id} names no vehicle, so it has no telemetry window"
            )
        t0 = incident.time_unix_us - int(before_s * 1e6)
        t1 = incident.time_unix_us + int(after_s * 1e6)
        samples = await self.store.samples_between(incident.vehicle_id, t0, t1)
        props = {
            "incident_id": incident_id,
            "vehicle_id": incident.vehicle_id,
            "from_utc": iso_from_us(t0),
            "to_utc": iso_from_us(t1),
        }
        csv_rec = await self.add_bytes(
            incident_id,
            telemetry_csv(samples),
            kind=EvidenceKind.TELEMETRY_CSV,
            name="telemetry.csv",
            media_type="text/csv",
            actor=actor,
            t0_us=t0,
            t1_us=t1,
        )
        geo_rec = await self.add_bytes(
            incident_id,
            telemetry_geojson(samples, props, incident_point(incident)),
            kind=EvidenceKind.TELEMETRY_GEOJSON,
            name="telemetry.geojson",
            media_type="application/geo+json",
            actor=actor,
            t0_us=t0,
            t1_us=t1,
        )
        return [csv_rec, geo_rec]

    async def capture_tlog_slice(
        self,
        incident_id: int,
        *,
        actor: str,
        tlog_path: Path | None = None,
        before_s: float = 30.0,
        after_s: float = 30.0,
    ) -> EvidenceRecord:
        """Store the raw MAVLink frames around the incident (from its sortie's tlog)."""
        incident = await Incidents(self.store).get(incident_id)
        if tlog_path is None:
            if incident.sortie_id is not None:
                sortie = await self.store.sortie(incident.sortie_id)
                tlog_path = Path(sortie.tlog_path) if sortie.tlog_path else None
            if tlog_path is None:
                raise IncidentError(
                    f"incident {incident_id} has no sortie tlog: pass the tlog file explicitly"
                )
        t0 = incident.time_unix_us - int(before_s * 1e6)
        t1 = incident.time_unix_us + int(after_s * 1e6)
        with tempfile.TemporaryDirectory(prefix="drone-ops-tlog-") as tmp:
            sliced = Path(tmp) / "slice.tlog"
            await asyncio.to_thread(slice_tlog, tlog_path, sliced, start_unix_us=t0, end_unix_us=t1)
            return await self.add_file(
                incident_id,
                sliced,
                kind=EvidenceKind.TLOG,
                actor=actor,
                media_type="application/vnd.mavlink.tlog",
                name=f"{tlog_path.stem}-slice.tlog",
                t0_us=t0,
                t1_us=t1,
            )

    async def list(self, incident_id: int) -> list[EvidenceRecord]:
        def work() -> list[EvidenceRecord]:
            with read_tx(self.store.engine) as conn:
                return [
                    evidence_from_row(r)
                    for r in conn.execute(
                        select(evidence)
                        .where(evidence.c.incident_id == incident_id)
                        .order_by(evidence.c.evidence_id)
                    )
                ]

        return await self.store.run(work)

    def path_of(self, record: EvidenceRecord) -> Path:
        return self.root / record.path
