"""Incident values and the status machine: open → acknowledged → resolved, or dismissed."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from drone_ops.errors import DroneOpsError
from drone_ops.store.records import iso_from_us

__all__ = [
    "EvidenceKind",
    "EvidenceRecord",
    "Incident",
    "IncidentDraft",
    "IncidentError",
    "IncidentNote",
    "IncidentStatus",
    "InvalidTransitionError",
    "Severity",
    "check_transition",
]


class IncidentError(DroneOpsError, ValueError):
    """An incident operation was refused; the message says why and what to do."""


class InvalidTransitionError(IncidentError):
    """The status change is not allowed from the incident's current status."""


class IncidentStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


_ALLOWED: Mapping[IncidentStatus, frozenset[IncidentStatus]] = MappingProxyType(
    {
        IncidentStatus.OPEN: frozenset({IncidentStatus.ACKNOWLEDGED, IncidentStatus.DISMISSED}),
        IncidentStatus.ACKNOWLEDGED: frozenset({IncidentStatus.RESOLVED, IncidentStatus.DISMISSED}),
        IncidentStatus.RESOLVED: frozenset(),
        IncidentStatus.DISMISSED: frozenset(),
    }
)

_VERB = {
    IncidentStatus.ACKNOWLEDGED: "acknowledge",
    IncidentStatus.RESOLVED: "resolve",
    IncidentStatus.DISMISSED: "dismiss",
    IncidentStatus.OPEN: "reopen",
}


def check_transition(incident_id: int, current: IncidentStatus, new: IncidentStatus) -> None:
    """Refuse a status change the lifecycle does not allow, saying what would be allowed."""
    if new in _ALLOWED[current]:
        return
    if current in (IncidentStatus.RESOLVED, IncidentStatus.DISMISSED):
        hint = "that is final: raise a new incident or add a note instead"
    elif new is IncidentStatus.RESOLVED:
        hint = "acknowledge it first (open → acknowledged → resolved)"
    else:
        hint = f"allowed from {current.value}: " + ", ".join(
            _VERB[s] for s in sorted(_ALLOWED[current])
        )
    raise InvalidTransitionError(
        f"cannot {_VERB[new]} incident {incident_id}: it is {current.value}; {hint}"
    )


def _check_position(lat_deg: float | None, lon_deg: float | None) -> None:
    if (lat_deg is None) != (lon_deg is None):
        raise IncidentError("an incident position needs both latitude and longitude, or neither")
    if lat_deg is not None and not (math.isfinite(lat_deg) and -90.0 <= lat_deg <= 90.0):
        raise IncidentError(f"incident latitude {lat_deg!r} is outside -90..90 degrees")
    if lon_deg is not None and not (math.isfinite(lon_deg) and -180.0 <= lon_deg <= 180.0):
        raise IncidentError(f"incident longitude {lon_deg!r} is outside -180..180 degrees")


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentDraft:
    """An incident not yet stored: what a rule or an operator raises."""

    kind: str  # "geofence_breach", "low_battery", "link_lost", "failsafe", "sortie_aborted", "mark"
    severity: Severity
    time_unix_us: int
    summary: str
    vehicle_id: str | None = None
    sortie_id: int | None = None
    lat_deg: float | None = None
    lon_deg: float | None = None
    alt_amsl_m: float | None = None
    details: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if not self.kind.strip():
            raise IncidentError("an incident needs a kind, e.g. 'mark'")
        if not self.summary.strip():
            raise IncidentError("an incident needs a summary saying what happened")
        _check_position(self.lat_deg, self.lon_deg)
        if self.alt_amsl_m is not None and not math.isfinite(self.alt_amsl_m):
            object.__setattr__(self, "alt_amsl_m", None)  # NaN/inf says "unknown"
        object.__setattr__(self, "severity", Severity(self.severity))
        if not isinstance(self.details, MappingProxyType):
            object.__setattr__(self, "details", MappingProxyType(dict(self.details)))


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentNote:
    note_id: int
    time_unix_us: int
    actor: str
    text: str


class EvidenceKind(StrEnum):
    TELEMETRY_CSV = "telemetry_csv"
    TELEMETRY_GEOJSON = "telemetry_geojson"
    TLOG = "tlog"
    VIDEO = "video"
    SNAPSHOT = "snapshot"
    FILE = "file"


@dataclass(frozen=True, slots=True, kw_only=True)
class EvidenceRecord:
    evidence_id: int
    incident_id: int | None
    kind: str
    path: str  # relative to the evidence directory
    media_type: str
    sha256: str
    size_bytes: int
    t0_us: int | None
    t1_us: int | None
    created_us: int
    audit_seq: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Incident:
    incident_id: int
    kind: str
    severity: Severity
    status: IncidentStatus
    time_unix_us: int
    summary: str
    raised_by: str
    updated_us: int
    vehicle_id: str | None = None
    sortie_id: int | None = None
    lat_deg: float | None = None
    lon_deg: float | None = None
    alt_amsl_m: float | None = None
    notes: tuple[IncidentNote, ...] = ()
    evidence: tuple[EvidenceRecord, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A plain JSON object (times as integer µs and ISO 8601 UTC)."""
        return {
            "incident_id": self.incident_id,
            "kind": self.kind,
            "severity": self.severity.value,
            "status": self.status.value,
            "time_unix_us": self.time_unix_us,
            "time_utc": iso_from_us(self.time_unix_us),
            "summary": self.summary,
            "raised_by": self.raised_by,
            "updated_utc": iso_from_us(self.updated_us),
            "vehicle_id": self.vehicle_id,
            "sortie_id": self.sortie_id,
            "position": None
            if self.lat_deg is None
            else {"lat_deg": self.lat_deg, "lon_deg": self.lon_deg, "alt_amsl_m": self.alt_amsl_m},
            "notes": [
                {
                    "time_utc": iso_from_us(n.time_unix_us),
                    "actor": n.actor,
                    "text": n.text,
                }
                for n in self.notes
            ],
            "evidence": [
                {
                    "evidence_id": e.evidence_id,
                    "kind": e.kind,
                    "path": e.path,
                    "media_type": e.media_type,
                    "sha256": e.sha256,
                    "size_bytes": e.size_bytes,
                    "t0_utc": None if e.t0_us is None else iso_from_us(e.t0_us),
                    "t1_utc": None if e.t1_us is None else iso_from_us(e.t1_us),
                    "audit_seq": e.audit_seq,
                }
                for e in self.evidence
            ],
        }
