"""Export an incident as a self-contained bundle an investigator can check alone.

The bundle holds the incident JSON, its track GeoJSON, copies of its evidence
files, its audit entries with their chain hashes (and, for each, the exact text
whose SHA-256 is that hash), a `SHA256SUMS` manifest that `sha256sum -c`
verifies, and a README.txt explaining all of it. Evidence is re-hashed before it
is copied: a bundle is never made from altered files.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import select

from drone_ops.audit import canonical_json
from drone_ops.incidents.book import Incidents
from drone_ops.incidents.evidence import incident_point, sha256_file, telemetry_geojson
from drone_ops.incidents.model import Incident, IncidentError
from drone_ops.store import Store
from drone_ops.store.audit_chain import entries_for_target, preimage
from drone_ops.store.engine import read_tx
from drone_ops.store.records import iso_from_us, now_us
from drone_ops.store.schema import audit_head

__all__ = ["export_bundle"]

_README = """\
Incident {incident_id} — evidence bundle exported by drone-ops
Exported {exported_utc} from store {store}.

Contents
  incident.json     the incident: kind, severity, status, time, position, vehicle,
                    sortie, summary, notes and the evidence list with SHA-256 hashes
  track.geojson     the vehicle's track (the sortie, or the telemetry around the
                    incident) and the incident's position, as GeoJSON (RFC 7946)
  evidence/         the evidence files themselves
  audit/entries.jsonl
                    every audit-chain entry about this incident, oldest first:
                    seq, time, actor, action, payload, prev_hash, hash
  audit/entry-<seq>.txt
                    for each entry, the exact text that was hashed
  SHA256SUMS        SHA-256 of every other file in this bundle

How to verify without drone-ops (any Unix shell)
  1. Files are intact:
         cd <this directory> && sha256sum -c SHA256SUMS
     Every line must say OK.
  2. Each audit entry is what the chain recorded: the SHA-256 of
     audit/entry-<seq>.txt must equal that entry's "hash" in entries.jsonl:
         sha256sum audit/entry-*.txt
     The text is the previous entry's hash followed by the entry's canonical
     JSON (keys sorted, no spaces, UTF-8), with no trailing newline.
  3. The evidence files are the ones registered: the "sha256" of each
     "evidence.add" entry in entries.jsonl equals the file's line in SHA256SUMS.
  4. To prove nothing was removed or changed in between, compare these hashes
     with the live store (`drone-ops audit verify` recomputes the whole chain).
     At export the chain head was entry {head_seq}, hash {head_hash}.
"""


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


async def _track(store: Store, incident: Incident) -> bytes:
    marker = incident_point(incident)
    if incident.sortie_id is not None:
        feature = await store.sortie_track_geojson(incident.sortie_id)
        features = [feature] if marker is None else [feature, marker]
        return _json_bytes({"type": "FeatureCollection", "features": features})
    if incident.vehicle_id is not None:
        window = await store.telemetry_window(
            incident.vehicle_id, incident.time_unix_us, before_s=60, after_s=60
        )
        props = {"incident_id": incident.incident_id, "vehicle_id": incident.vehicle_id}
        return telemetry_geojson(window, props, marker)
    features = [] if marker is None else [marker]
    return _json_bytes({"type": "FeatureCollection", "features": features})


async def export_bundle(store: Store, incident_id: int, out_dir: Path) -> Path:
    """Write `out_dir/incident-<id>/` and return it; refuses to overwrite a bundle."""
    incident = await Incidents(store).get(incident_id)
    bundle = out_dir / f"incident-{incident_id}"
    track = await _track(store, incident)

    def work() -> Path:
        if bundle.exists():
            raise IncidentError(f"{bundle} already exists: choose another --out or remove it")
        with read_tx(store.engine, snapshot=True) as conn:
            rows = entries_for_target(conn, f"incident:{incident_id}")
            head = conn.execute(select(audit_head.c.seq, audit_head.c.hash)).one()
        bundle.mkdir(parents=True)
        doc = incident.to_json()
        for entry in doc["evidence"]:  # where each file is inside this bundle
            entry["file"] = f"evidence/{Path(entry['path']).name}"
        _write(bundle / "incident.json", _json_bytes(doc))
        _write(bundle / "track.geojson", track)
        for ev in incident.evidence:
            src = store.evidence_dir / ev.path
            if not src.is_file():
                raise IncidentError(f"evidence file {src} is missing: run 'drone-ops audit verify'")
            sha, size = sha256_file(src)
            if sha != ev.sha256 or size != ev.size_bytes:
                raise IncidentError(
                    f"evidence file {src} does not match its recorded SHA-256: "
                    "run 'drone-ops audit verify' before exporting"
                )
            dest = bundle / "evidence" / Path(ev.path).name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
        lines = []
        for row in rows:
            text = preimage(row)
            if hashlib.sha256(text.encode("utf-8")).hexdigest() != row.hash:
                raise IncidentError(
                    f"audit entry {row.seq} does not match its hash: run 'drone-ops audit verify'"
                )
            _write(bundle / "audit" / f"entry-{int(row.seq):08d}.txt", text.encode("utf-8"))
            lines.append(
                canonical_json(
                    {
                        "seq": int(row.seq),
                        "time_utc": row.time_utc,
                        "actor": row.actor,
                        "action": row.action,
                        "target": row.target,
                        "payload": json.loads(row.payload_json),
                        "prev_hash": row.prev_hash,
                        "hash": row.hash,
                    }
                )
            )
        _write(bundle / "audit" / "entries.jsonl", "".join(f"{ln}\n" for ln in lines).encode())
        _write(
            bundle / "README.txt",
            _README.format(
                incident_id=incident_id,
                exported_utc=iso_from_us(now_us()),
                store=store.config.display(),
                head_seq=head.seq,
                head_hash=head.hash,
            ).encode("utf-8"),
        )
        sums = []
        for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
            rel = path.relative_to(bundle).as_posix()
            sums.append(f"{sha256_file(path)[0]}  {rel}\n")
        _write(bundle / "SHA256SUMS", "".join(sums).encode("utf-8"))
        return bundle

    return await store.run(work)
