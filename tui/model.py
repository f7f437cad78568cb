"""The console's read-model: the values widgets render, and the store that folds updates in.

Widgets never talk to the controller. One worker feeds `VehicleView`,
`IncidentView` and `StatusText` updates into a `FleetModel`; the app copies
immutable snapshots from it down into widgets at a bounded refresh rate, so a
fleet streaming thousands of updates a second costs one repaint per tick.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

import numpy as np
import numpy.typing as npt

from missions.plan import PatrolPlan

__all__ = [
    "Alert",
    "AlertLevel",
    "EvidenceView",
    "FleetModel",
    "IncidentStatus",
    "IncidentView",
    "PreviewImage",
    "StatusText",
    "Update",
    "VehicleView",
    "alerts_for",
]

# PX4 defaults (BAT_LOW_THR, BAT_CRIT_THR) as percent, and the link is called
# lost after COM_DL_LOSS_T-like silence; the controller reports it as `link_ok`.
BATTERY_LOW_PCT = 15.0
BATTERY_CRITICAL_PCT = 7.0
GPS_MIN_SATELLITES = 6
TRAIL_POINTS = 120
STATUS_TEXTS_KEPT = 8


class AlertLevel(IntEnum):
    """How loud an alert is; ordered so `max()` finds the worst."""

    INFO = 0
    WARNING = 1
    CRITICAL = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    vehicle_id: str
    level: AlertLevel
    code: str  # stable identity for "is this alert new?": "link_lost", "battery_low", …
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VehicleView:
    """One vehicle as the operator sees it. None means "not reported yet"."""

    vehicle_id: str
    mode: str = "UNKNOWN"
    armed: bool = False
    landed_state: str = "UNKNOWN"
    lat_deg: float | None = None
    lon_deg: float | None = None
    rel_alt_m: float | None = None
    ground_speed_m_s: float | None = None
    heading_deg: float | None = None
    battery_pct: float | None = None
    battery_min_left: float | None = None
    gps_fix: int | None = None
    satellites: int | None = None
    link_ok: bool = True
    link_rate_hz: float | None = None
    link_loss_pct: float | None = None
    mission_seq: int | None = None
    mission_total: int | None = None
    sortie: str | None = None  # sortie state in words, e.g. "flying", "paused", "completed"
    home_lat_deg: float | None = None
    home_lon_deg: float | None = None

    @property
    def has_position(self) -> bool:
        return self.lat_deg is not None and self.lon_deg is not None

    @property
    def progress(self) -> float | None:
        """Sortie progress 0..1 from the current mission item, or None without a mission."""
        if self.mission_seq is None or not self.mission_total:
            return None
        return max(0.0, min(1.0, self.mission_seq / self.mission_total))


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusText:
    """A STATUSTEXT line from a vehicle (PX4's own words, e.g. a refused arm)."""

    vehicle_id: str
    severity: int  # MAV_SEVERITY: 0 emergency … 7 debug
    text: str


class IncidentStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"


@dataclass(frozen=True, slots=True, kw_only=True)
class EvidenceView:
    kind: str  # "clip", "snapshot", "telemetry", "tlog"
    path: str
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentView:
    incident_id: str
    kind: str
    severity: str
    status: IncidentStatus
    time_text: str  # formatted by the feed, so rendering never reads a clock
    vehicle_id: str | None = None
    lat_deg: float | None = None
    lon_deg: float | None = None
    summary: str = ""
    notes: tuple[str, ...] = ()
    evidence: tuple[EvidenceView, ...] = ()

    @property
    def is_active(self) -> bool:
        return self.status in (IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED)


Update = VehicleView | IncidentView | StatusText


@dataclass(frozen=True, slots=True, kw_only=True)
class PreviewImage:
    """One low-resolution picture from a vehicle's camera (height × width × 3 RGB)."""

    vehicle_id: str
    time_unix_us: int
    rgb: npt.NDArray[np.uint8]

    def __post_init__(self) -> None:
        if self.rgb.ndim != 3 or self.rgb.shape[2] != 3 or self.rgb.dtype != np.uint8:
            raise ValueError(f"preview of {self.vehicle_id} is not an H×W×3 uint8 RGB picture")


def alerts_for(vehicle: VehicleView) -> tuple[Alert, ...]:
    """The conditions an operator must notice, worst first."""
    found: list[Alert] = []

    def add(level: AlertLevel, code: str, text: str) -> None:
        found.append(Alert(vehicle_id=vehicle.vehicle_id, level=level, code=code, text=text))

    if not vehicle.link_ok:
        add(AlertLevel.CRITICAL, "link_lost", "link lost")
    if vehicle.battery_pct is not None:
        if vehicle.battery_pct <= BATTERY_CRITICAL_PCT:
            add(
                AlertLevel.CRITICAL,
                "battery_critical",
                f"battery critical {vehicle.battery_pct:.0f}%",
            )
        elif vehicle.battery_pct <= BATTERY_LOW_PCT:
            add(AlertLevel.WARNING, "battery_low", f"battery low {vehicle.battery_pct:.0f}%")
    if vehicle.gps_fix is not None and (
        vehicle.gps_fix < 3 or (vehicle.satellites or 0) < GPS_MIN_SATELLITES
    ):
        add(
            AlertLevel.WARNING,
            "gps_weak",
            f"GPS weak (fix {vehicle.gps_fix}, {vehicle.satellites or 0} sat)",
        )
    if "RTL" in vehicle.mode.upper() and vehicle.armed:
        add(AlertLevel.INFO, "rtl", "returning to launch")
    found.sort(key=lambda a: a.level, reverse=True)
    return tuple(found)


@dataclass(slots=True)
class FleetModel:
    """Folds updates into the latest state. Pure: no I/O, no clock, no Textual.

    `version` increases on every change so the app repaints only when needed.
    Trails keep the last `TRAIL_POINTS` positions per vehicle (oldest dropped).
    """

    vehicles: dict[str, VehicleView] = field(default_factory=dict)
    incidents: dict[str, IncidentView] = field(default_factory=dict)
    trails: dict[str, deque[tuple[float, float]]] = field(default_factory=dict)
    status_texts: dict[str, deque[StatusText]] = field(default_factory=dict)
    plan: PatrolPlan | None = None
    preview: PreviewImage | None = None  # the selected vehicle's camera, newest picture
    version: int = 0
    updates_applied: int = 0

    def apply(self, update: Update) -> None:
        self.updates_applied += 1
        self.version += 1
        if isinstance(update, VehicleView):
            self._apply_vehicle(update)
        elif isinstance(update, IncidentView):
            self.incidents[update.incident_id] = update
        else:
            texts = self.status_texts.setdefault(update.vehicle_id, deque(maxlen=STATUS_TEXTS_KEPT))
            texts.append(update)

    def apply_all(self, updates: Iterable[Update]) -> None:
        for update in updates:
            self.apply(update)

    def set_plan(self, plan: PatrolPlan | None) -> None:
        self.plan = plan
        self.version += 1

    def set_preview(self, image: PreviewImage | None) -> None:
        self.preview = image
        self.version += 1

    def _apply_vehicle(self, vehicle: VehicleView) -> None:
        self.vehicles[vehicle.vehicle_id] = vehicle
        if vehicle.lat_deg is None or vehicle.lon_deg is None:
            return
        trail = self.trails.get(vehicle.vehicle_id)
        if trail is None:
            trail = self.trails[vehicle.vehicle_id] = deque(maxlen=TRAIL_POINTS)
        point = (vehicle.lat_deg, vehicle.lon_deg)
        # Skip near-duplicates (< ~0.5 m) so a hovering vehicle keeps its history.
        if not trail or _dist2_deg(trail[-1], point) > 2e-11:
            trail.append(point)

    def vehicle_list(self) -> tuple[VehicleView, ...]:
        return tuple(self.vehicles[k] for k in sorted(self.vehicles, key=_natural_key))

    def incident_list(self) -> tuple[IncidentView, ...]:
        return tuple(
            sorted(self.incidents.values(), key=lambda i: _natural_key(i.incident_id), reverse=True)
        )

    def trail_snapshot(self) -> Mapping[str, tuple[tuple[float, float], ...]]:
        return {k: tuple(v) for k, v in self.trails.items()}

    def texts_for(self, vehicle_id: str) -> tuple[StatusText, ...]:
        return tuple(self.status_texts.get(vehicle_id, ()))

    def alerts(self) -> tuple[Alert, ...]:
        found = [a for v in self.vehicle_list() for a in alerts_for(v)]
        found.sort(key=lambda a: a.level, reverse=True)
        return tuple(found)


def _dist2_deg(a: tuple[float, float], b: tuple[float, float]) -> float:
    dlat = a[0] - b[0]
    dlon = (a[1] - b[1]) * math.cos(math.radians(a[0]))
    return dlat * dlat + dlon * dlon


def _natural_key(text: str) -> tuple[str, int, str]:
    """Sort "drone-2" before "drone-10"."""
    head = text.rstrip("0123456789")
    tail = text[len(head) :]
    return (head, int(tail) if tail else -1, text)
