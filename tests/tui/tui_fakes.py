"""Fixed console data and a fake controller for widget and layout tests.

`FakeConsoleBackend` is a fake at the process boundary the console talks to:
tests of the console's own behaviour (confirmation, selection, rendering) use
it with fixed data so snapshots are deterministic. Flows against real
simulated vehicles use the real controller instead (test_tui_flows.py).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

from drone_ops.errors import DroneOpsError
from missions.plan import (
    FenceCircle,
    FencePolygon,
    Geofence,
    GeoPoint,
    Home,
    ItemKind,
    MissionItem,
    PatrolPlan,
    RallyPoint,
)
from tui.backend import CommandRequest, DispatchProposal, IncidentAction
from tui.model import (
    EvidenceView,
    IncidentStatus,
    IncidentView,
    PreviewImage,
    StatusText,
    Update,
    VehicleView,
)

HOME_LAT, HOME_LON = 47.397742, 8.545594  # PX4 SITL default home (Zurich)


def offset(north_m: float, east_m: float) -> tuple[float, float]:
    lat = HOME_LAT + north_m / 110_540.0
    lon = HOME_LON + east_m / (111_320.0 * math.cos(math.radians(HOME_LAT)))
    return lat, lon


def fixed_plan() -> PatrolPlan:
    def wp(n: float, e: float) -> MissionItem:
        lat, lon = offset(n, e)
        return MissionItem(kind=ItemKind.WAYPOINT, lat_deg=lat, lon_deg=lon, rel_alt_m=30.0)

    takeoff = MissionItem(kind=ItemKind.TAKEOFF, lat_deg=HOME_LAT, lon_deg=HOME_LON, rel_alt_m=30.0)
    rtl = MissionItem(
        kind=ItemKind.RETURN_TO_LAUNCH, lat_deg=math.nan, lon_deg=math.nan, rel_alt_m=0.0
    )
    fence = FencePolygon(
        vertices=tuple(GeoPoint(lat_deg=a, lon_deg=b) for a, b in (
            offset(-150, -150), offset(-150, 350), offset(350, 350), offset(350, -150)
        ))
    )  # fmt: skip
    no_fly = FencePolygon(
        vertices=tuple(GeoPoint(lat_deg=a, lon_deg=b) for a, b in (
            offset(60, 170), offset(60, 230), offset(140, 230), offset(140, 170)
        )),
        inclusion=False,
    )  # fmt: skip
    c_lat, c_lon = offset(-60, 250)
    circle = FenceCircle(
        center=GeoPoint(lat_deg=c_lat, lon_deg=c_lon), radius_m=40.0, inclusion=False
    )
    r_lat, r_lon = offset(300, -100)
    return PatrolPlan(
        name="riverside",
        items=(takeoff, wp(0, 100), wp(200, 100), wp(200, 300), wp(0, 300), rtl),
        fence=Geofence(polygons=(fence, no_fly), circles=(circle,)),
        rally=(RallyPoint(lat_deg=r_lat, lon_deg=r_lon, rel_alt_m=20.0),),
        home=Home(lat_deg=HOME_LAT, lon_deg=HOME_LON, amsl_m=488.0),
    )


def fixed_vehicles() -> list[VehicleView]:
    def v(i: int, **kw: object) -> VehicleView:
        lat, lon = offset(*kw.pop("at", (0.0, 0.0)))  # type: ignore[misc]
        base: dict[str, object] = {
            "vehicle_id": f"drone-{i}",
            "lat_deg": lat,
            "lon_deg": lon,
            "home_lat_deg": HOME_LAT,
            "home_lon_deg": HOME_LON,
            "gps_fix": 3,
            "satellites": 12,
            "link_rate_hz": 41.0,
            "link_loss_pct": 0.0,
        }
        base.update(kw)
        return VehicleView(**base)  # type: ignore[arg-type]

    return [
        v(1, at=(150.0, 100.0), mode="AUTO.MISSION", armed=True, landed_state="IN_AIR",
          rel_alt_m=30.2, ground_speed_m_s=5.1, heading_deg=0.0, battery_pct=71.0,
          battery_min_left=14.0, mission_seq=2, mission_total=6, sortie="flying"),
        v(2, at=(200.0, 230.0), mode="AUTO.RTL", armed=True, landed_state="IN_AIR",
          rel_alt_m=30.0, ground_speed_m_s=4.8, heading_deg=225.0, battery_pct=12.0,
          battery_min_left=2.0, mission_seq=4, mission_total=6, sortie="returning"),
        v(3, at=(0.0, 0.0), mode="AUTO.LOITER", armed=False, landed_state="ON_GROUND",
          rel_alt_m=0.0, ground_speed_m_s=0.0, heading_deg=90.0, battery_pct=100.0,
          battery_min_left=23.0, satellites=4, gps_fix=2, link_ok=False),
    ]  # fmt: skip


def fixed_incidents() -> list[IncidentView]:
    lat, lon = offset(180.0, 120.0)
    return [
        IncidentView(
            incident_id="1",
            kind="operator_mark",
            severity="medium",
            status=IncidentStatus.ACKNOWLEDGED,
            time_text="2026-11-29 09:12:04Z",
            vehicle_id="drone-1",
            lat_deg=lat,
            lon_deg=lon,
            summary="vehicle parked on the cycle path",
            notes=("patrol unit 12 informed",),
            evidence=(
                EvidenceView(kind="clip", path="var/evidence/1/clip.mp4", sha256="ab" * 32),
                EvidenceView(kind="snapshot", path="var/evidence/1/snap.jpg", sha256="cd" * 32),
            ),
        ),
        IncidentView(
            incident_id="2",
            kind="battery_low",
            severity="high",
            status=IncidentStatus.OPEN,
            time_text="2026-11-29 09:20:41Z",
            vehicle_id="drone-2",
            lat_deg=offset(200.0, 230.0)[0],
            lon_deg=offset(200.0, 230.0)[1],
            summary="battery low 12% during sortie",
        ),
    ]


def fixed_updates() -> list[Update]:
    out: list[Update] = [*fixed_vehicles(), *fixed_incidents()]
    out.append(StatusText(vehicle_id="drone-2", severity=4, text="Low battery, return advised"))
    out.append(StatusText(vehicle_id="drone-1", severity=6, text="Mission: waypoint 2 reached"))
    return out


class FakeConsoleBackend:
    """A fake controller: fixed state, records commands, refuses on request."""

    def __init__(self, updates: list[Update] | None = None) -> None:
        self.initial = fixed_updates() if updates is None else updates
        self.sent: list[CommandRequest] = []
        self.refuse_with: str | None = None
        self.queue: asyncio.Queue[Update] = asyncio.Queue(maxsize=10_000)
        self.command_seen = asyncio.Event()
        self._next_incident = 100
        self.dispatched: list[DispatchProposal] = []
        self.dispatch_refusal: str | None = None  # propose_dispatch raises with it
        self.frames: dict[str, asyncio.Queue[PreviewImage]] = {}  # per vehicle: a camera
        self.watching: set[str] = set()  # vehicles whose preview is being iterated now
        self._incidents = {i.incident_id: i for i in self.initial if isinstance(i, IncidentView)}

    async def updates(self) -> AsyncIterator[Update]:
        for update in self.initial:
            yield update
        while True:
            yield await self.queue.get()

    async def send(self, request: CommandRequest) -> None:
        self.sent.append(request)
        self.command_seen.set()
        if self.refuse_with is not None:
            raise DroneOpsError(self.refuse_with)

    async def raise_incident(self, vehicle_id: str, note: str) -> IncidentView:
        self._next_incident += 1
        incident = IncidentView(
            incident_id=str(self._next_incident),
            kind="operator_mark",
            severity="medium",
            status=IncidentStatus.OPEN,
            time_text="2026-11-29 10:00:00Z",
            vehicle_id=vehicle_id,
            summary=note,
        )
        self._incidents[incident.incident_id] = incident
        return incident

    async def update_incident(
        self, incident_id: str, action: IncidentAction, note: str = ""
    ) -> IncidentView:
        old = self._incidents[incident_id]
        status = {
            IncidentAction.ACKNOWLEDGE: IncidentStatus.ACKNOWLEDGED,
            IncidentAction.RESOLVE: IncidentStatus.RESOLVED,
            IncidentAction.NOTE: old.status,
        }[action]
        notes = (*old.notes, note) if note else old.notes
        new = IncidentView(
            incident_id=old.incident_id,
            kind=old.kind,
            severity=old.severity,
            status=status,
            time_text=old.time_text,
            vehicle_id=old.vehicle_id,
            lat_deg=old.lat_deg,
            lon_deg=old.lon_deg,
            summary=old.summary,
            notes=notes,
            evidence=old.evidence,
        )
        self._incidents[incident_id] = new
        return new

    async def propose_dispatch(self, lat_deg: float, lon_deg: float) -> DispatchProposal:
        """Fixed choice: the nearest vehicle that reports link and position."""
        if self.dispatch_refusal is not None:
            raise DroneOpsError(self.dispatch_refusal)
        return DispatchProposal(
            vehicle_id="drone-1",
            lat_deg=lat_deg,
            lon_deg=lon_deg,
            distance_m=123.0,
            arrive_s=31.0,
            need_wh=12.5,
            available_wh=40.0,
        )

    async def dispatch(self, proposal: DispatchProposal) -> str:
        self.dispatched.append(proposal)
        self.command_seen.set()
        return "sortie 7 launched, incident 102"

    async def video_frames(self, vehicle_id: str) -> AsyncIterator[PreviewImage]:
        queue = self.frames.get(vehicle_id)
        if queue is None:
            return
        self.watching.add(vehicle_id)
        try:
            while True:
                yield await queue.get()
        finally:
            self.watching.discard(vehicle_id)
