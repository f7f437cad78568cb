"""First response: send the best ready vehicle to a point, hold there, raise an incident.

Choosing the vehicle is a pure function over `VehicleState` snapshots and the
missions energy model (the numbers the simulator flies by): a candidate must
be connected, healthy and free, and its battery must cover getting there,
holding for the requested time and flying home, with the planner's reserve
left over. Of those, the one that arrives first is chosen.

Flying it is an ordinary recorded `Sortie` of a generated plan (take off,
fly to the point at a safe altitude, hold, return), so the flight gets the
controller's validation (geofence, altitude ceiling, battery), preflight,
audit and recording like any patrol.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from drone_ops.errors import DroneOpsError
from drone_ops.geofence import distance_m, fence_violation
from drone_ops.link.policy import LinkState
from drone_ops.state import VehicleState
from missions.energy import EnergyModel
from missions.plan import Geofence, Home, ItemKind, MissionItem, PatrolPlan

if TYPE_CHECKING:
    from drone_ops.fleet import Fleet
    from drone_ops.incidents import Incidents

__all__ = [
    "DispatchChoice",
    "DispatchError",
    "DispatchReport",
    "DispatchRequest",
    "NoVehicleReady",
    "choose_vehicle",
    "dispatch",
    "dispatch_plan",
    "parse_lat_lon",
]


class DispatchError(DroneOpsError):
    """A dispatch request cannot be served."""


class NoVehicleReady(DispatchError):
    """No vehicle can reach the point, hold and come back with reserve."""


def parse_lat_lon(text: str) -> tuple[float, float]:
    """`47.3977,8.5456` → (lat, lon), with a clear error."""
    parts = text.replace(" ", "").split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        lat, lon = float(parts[0]), float(parts[1])
    except ValueError:
        raise DispatchError(
            f"position {text!r} is not LAT,LON in degrees (e.g. 47.3977,8.5456)"
        ) from None
    if not (math.isfinite(lat) and -90 <= lat <= 90 and math.isfinite(lon) and -180 <= lon <= 180):
        raise DispatchError(f"position {text!r} is outside -90..90, -180..180 degrees")
    return lat, lon


@dataclass(frozen=True, slots=True, kw_only=True)
class DispatchRequest:
    lat_deg: float
    lon_deg: float
    alt_m: float = 40.0  # above home: clear of trees and roofs, under the 120 m ceiling
    hold_s: float = 300.0  # how long to hold over the point before returning
    reason: str = "dispatch"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.alt_m) and 10.0 <= self.alt_m <= 120.0):
            raise DispatchError(
                f"altitude {self.alt_m:g} m is outside the safe 10..120 m above home; "
                "pick an altitude in that range"
            )
        if not (math.isfinite(self.hold_s) and 0.0 <= self.hold_s <= 3600.0):
            raise DispatchError(f"hold time {self.hold_s:g} s must be within 0..3600 s")


@dataclass(frozen=True, slots=True, kw_only=True)
class DispatchChoice:
    vehicle_id: str
    distance_m: float
    arrive_s: float  # estimated time from take-off command to arrival over the point
    need_wh: float  # there + hold + home
    available_wh: float  # battery now minus the reserve


def _estimate(
    state: VehicleState, req: DispatchRequest, model: EnergyModel
) -> tuple[float, float, float]:
    """(distance m, seconds to arrive, Wh for there + hold + home) from the vehicle's state."""
    assert state.lat_deg is not None
    assert state.lon_deg is not None
    assert state.home is not None
    dist = distance_m(state.lat_deg, state.lon_deg, req.lat_deg, req.lon_deg)
    back = distance_m(req.lat_deg, req.lon_deg, state.home.lat_deg, state.home.lon_deg)
    alt_now = state.rel_alt_m if state.in_air and state.rel_alt_m is not None else 0.0
    t = e = 0.0
    if not state.in_air:
        dt, de = model.vertical(0.0, req.alt_m, model.takeoff_speed_m_s)
        t, e = t + dt, e + de
        alt_now = req.alt_m
    dt, de = model.move(dist, req.alt_m - alt_now, model.cruise_speed_m_s)
    t, e = t + dt, e + de
    arrive_s = t
    e += model.hover_w * req.hold_s
    _, de = model.return_home(back, req.alt_m)
    return dist, arrive_s, (e + de) / 3600.0


def choose_vehicle(
    states: Mapping[str, VehicleState],
    req: DispatchRequest,
    *,
    busy: Collection[str] = (),
    fence: Geofence | None = None,
    model: EnergyModel | None = None,
) -> DispatchChoice:
    """The ready vehicle that arrives first with the energy to hold and return."""
    m = model or EnergyModel()
    if fence is not None and not fence.is_empty:
        why = fence_violation(fence, req.lat_deg, req.lon_deg)
        if why is not None:
            raise DispatchError(f"the point is outside the geofence ({why}): nothing was sent")
    reasons: dict[str, str] = {}
    best: DispatchChoice | None = None
    for vehicle_id in sorted(states):
        s = states[vehicle_id]
        if s.link is not LinkState.CONNECTED:
            reasons[vehicle_id] = f"link {s.link.value}"
        elif vehicle_id in busy:
            reasons[vehicle_id] = "busy with a sortie"
        elif s.health_ok is not True:
            reasons[vehicle_id] = "not healthy"
        elif s.battery_pct is None or s.lat_deg is None or s.lon_deg is None or s.home is None:
            reasons[vehicle_id] = "battery, position or home not reported yet"
        else:
            dist, arrive, need = _estimate(s, req, m)
            available = m.capacity_wh * (s.battery_pct / 100.0 - m.reserve_fraction)
            if need > available:
                reasons[vehicle_id] = (
                    f"battery {s.battery_pct:.0f} % short: needs {need:.1f} Wh, "
                    f"has {max(available, 0.0):.1f} Wh above reserve"
                )
                continue
            choice = DispatchChoice(
                vehicle_id=vehicle_id,
                distance_m=dist,
                arrive_s=arrive,
                need_wh=need,
                available_wh=available,
            )
            if best is None or (choice.arrive_s, choice.vehicle_id) < (
                best.arrive_s,
                best.vehicle_id,
            ):
                best = choice
    if best is None:
        detail = "; ".join(f"{v}: {w}" for v, w in sorted(reasons.items())) or "no vehicles"
        raise NoVehicleReady(f"no vehicle can respond ({detail})")
    return best


def dispatch_plan(state: VehicleState, req: DispatchRequest, *, fence: Geofence) -> PatrolPlan:
    """Take off, fly to the point at the requested altitude, hold, return home."""
    home = state.home
    if home is None:
        raise DispatchError(f"{state.vehicle_id}: home position unknown, cannot plan a dispatch")
    items = (
        MissionItem(
            kind=ItemKind.TAKEOFF, lat_deg=home.lat_deg, lon_deg=home.lon_deg, rel_alt_m=req.alt_m
        ),
        MissionItem(
            kind=ItemKind.WAYPOINT,
            lat_deg=req.lat_deg,
            lon_deg=req.lon_deg,
            rel_alt_m=req.alt_m,
            hold_s=req.hold_s,
        ),
        MissionItem(
            kind=ItemKind.RETURN_TO_LAUNCH, lat_deg=math.nan, lon_deg=math.nan, rel_alt_m=0.0
        ),
    )
    return PatrolPlan(
        name=f"dispatch {req.lat_deg:.5f},{req.lon_deg:.5f}",
        items=items,
        kind="dispatch",
        fence=fence,
        home=Home(lat_deg=home.lat_deg, lon_deg=home.lon_deg, amsl_m=home.amsl_m),
        params={"reason": req.reason, "alt_m": req.alt_m, "hold_s": req.hold_s},
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DispatchReport:
    """What happened, with controller (wall) times measured from the request."""

    choice: DispatchChoice
    sortie_id: int
    incident_id: int | None
    takeoff_command_s: float  # request → arm and mission start sent and accepted
    airborne_s: float | None  # request → the vehicle reports it is in the air
    arrival_s: float | None  # request → over the point (within `arrive_radius_m`)
    speedup: float  # vehicle seconds per controller second (simulators)

    def lines(self) -> list[str]:
        c = self.choice
        out = [
            f"dispatched {c.vehicle_id}: {c.distance_m:.0f} m away, estimated "
            f"{c.arrive_s:.0f} s to arrive, needs {c.need_wh:.1f} of {c.available_wh:.1f} Wh",
            f"sortie {self.sortie_id}"
            + (f", incident {self.incident_id}" if self.incident_id is not None else ""),
            f"request → take-off command: {self.takeoff_command_s:.2f} s",
        ]
        k = f" ({self.speedup:g}x vehicle time)" if self.speedup != 1.0 else ""
        if self.airborne_s is not None:
            out.append(f"request → airborne: {self.airborne_s:.2f} s{k}")
        if self.arrival_s is not None:
            out.append(f"request → over the point: {self.arrival_s:.2f} s{k}")
        return out


async def dispatch(
    fleet: Fleet,
    req: DispatchRequest,
    *,
    fence: Geofence | None = None,
    incidents: Incidents | None = None,
    actor: str = "dispatch",
    busy: Collection[str] = (),
    arrive_radius_m: float = 5.0,
    wait_arrival: bool = True,
    timeout_s: float = 600.0,
) -> DispatchReport:
    """Choose, launch, raise the incident, and follow the vehicle until it is over the point."""
    from drone_ops.sortie import SortiePhase

    t0 = time.monotonic()
    flying = {v for v in fleet.vehicles() if fleet.sortie(v) is not None}
    choice = choose_vehicle(fleet.states(), req, busy=flying | set(busy), fence=fence)
    vid = choice.vehicle_id
    plan = dispatch_plan(fleet.state(vid), req, fence=fence or Geofence())
    sortie = fleet.start_sortie(vid, plan, actor=actor)
    session = fleet.session(vid)
    launched = (SortiePhase.FLYING, SortiePhase.RETURNING, SortiePhase.CLOSED)
    async with asyncio.timeout(timeout_s):
        await session.wait_for(lambda _s: sortie.phase in launched)
    takeoff_cmd = time.monotonic() - t0
    if sortie.phase is SortiePhase.CLOSED:
        result = await fleet.sortie_result(vid)
        raise DispatchError(f"{vid} could not launch: {result.reason}")
    incident_id: int | None = None
    if incidents is not None:
        from drone_ops.incidents import IncidentDraft, Severity
        from drone_ops.store.records import now_us

        incident = await incidents.raise_incident(
            IncidentDraft(
                kind="dispatch",
                severity=Severity.WARNING,
                time_unix_us=now_us(),
                summary=f"dispatch of {vid}: {req.reason}",
                vehicle_id=vid,
                sortie_id=sortie.sortie_id or None,
                lat_deg=req.lat_deg,
                lon_deg=req.lon_deg,
                details={"alt_m": req.alt_m, "hold_s": req.hold_s, "reason": req.reason},
            ),
            actor=actor,
        )
        incident_id = incident.incident_id
    airborne = arrival = None
    if wait_arrival:
        async with asyncio.timeout(timeout_s):
            await session.wait_for(lambda st: st.in_air)
            airborne = time.monotonic() - t0

            def over(st: VehicleState) -> bool:
                if st.lat_deg is None or st.lon_deg is None:
                    return False
                off = distance_m(st.lat_deg, st.lon_deg, req.lat_deg, req.lon_deg)
                return off <= arrive_radius_m or sortie.phase is SortiePhase.CLOSED

            await session.wait_for(over)
            arrival = time.monotonic() - t0
    return DispatchReport(
        choice=choice,
        sortie_id=sortie.sortie_id,
        incident_id=incident_id,
        takeoff_command_s=takeoff_cmd,
        airborne_s=airborne,
        arrival_s=arrival,
        speedup=fleet.config.speedup,
    )
