"""Safety checks that run before anything moves: geofence, ceiling, battery, preflight."""

from __future__ import annotations

import math

from drone_ops.commands import Command, Target, check_move
from drone_ops.config import ControllerConfig, SafetyConfig
from drone_ops.geofence import fence_violation
from drone_ops.link.policy import LinkState
from drone_ops.preflight import battery_need_pct, run_preflight
from drone_ops.state import GpsFix, Home, VehicleState
from missions.plan import (
    FenceCircle,
    FencePolygon,
    Geofence,
    GeoPoint,
    ItemKind,
    MissionItem,
    PatrolPlan,
)

LAT, LON = 47.397743, 8.545594
SQUARE = FencePolygon(
    vertices=(
        GeoPoint(lat_deg=LAT - 0.002, lon_deg=LON - 0.003),
        GeoPoint(lat_deg=LAT - 0.002, lon_deg=LON + 0.003),
        GeoPoint(lat_deg=LAT + 0.002, lon_deg=LON + 0.003),
        GeoPoint(lat_deg=LAT + 0.002, lon_deg=LON - 0.003),
    )
)


def _plan(*, alt: float = 20.0, fence: Geofence | None = None, dlat: float = 0.0005) -> PatrolPlan:
    waypoints = [
        MissionItem(kind=ItemKind.WAYPOINT, lat_deg=LAT + dlat * k, lon_deg=LON, rel_alt_m=alt)
        for k in (1, 2)
    ]
    rtl = MissionItem(
        kind=ItemKind.RETURN_TO_LAUNCH, lat_deg=math.nan, lon_deg=math.nan, rel_alt_m=0
    )
    return PatrolPlan(
        name="p", items=(*waypoints, rtl), fence=fence or Geofence(polygons=(SQUARE,))
    )


def _ready(**kw: object) -> VehicleState:
    base: dict[str, object] = {
        "vehicle_id": "v1",
        "link": LinkState.CONNECTED,
        "heartbeat_age_s": 0.2,
        "health_ok": True,
        "gps_fix": GpsFix.FIX_3D,
        "satellites": 12,
        "battery_pct": 100.0,
        "home": Home(lat_deg=LAT, lon_deg=LON, amsl_m=488.0),
        "lat_deg": LAT,
        "lon_deg": LON,
    }
    base.update(kw)
    return VehicleState(**base)  # type: ignore[arg-type]


def test_fence_rules_follow_px4() -> None:
    fence = Geofence(
        polygons=(SQUARE,),
        circles=(
            FenceCircle(center=GeoPoint(lat_deg=LAT, lon_deg=LON), radius_m=50, inclusion=False),
        ),
    )
    assert fence_violation(fence, LAT + 0.001, LON) is None
    assert "exclusion circle" in (fence_violation(fence, LAT, LON) or "")
    assert fence_violation(fence, LAT + 0.01, LON) == "outside inclusion polygon 1"


def test_moving_commands_are_checked_before_sending() -> None:
    safety = SafetyConfig(altitude_ceiling_m=100)
    fence = Geofence(polygons=(SQUARE,))
    state = _ready()
    ok = Target(lat_deg=LAT + 0.001, lon_deg=LON, rel_alt_m=50)
    assert check_move(Command.GOTO, state, safety, fence, ok) is None
    high = Target(lat_deg=LAT, lon_deg=LON, rel_alt_m=150)
    assert "above the ceiling 100 m" in (check_move(Command.GOTO, state, safety, fence, high) or "")
    out = Target(lat_deg=LAT + 0.01, lon_deg=LON, rel_alt_m=50)
    assert "geofence" in (check_move(Command.GOTO, state, safety, fence, out) or "")
    low = _ready(battery_pct=9.0)
    assert "reserve" in (check_move(Command.START_MISSION, low, safety, fence) or "")
    # making the vehicle safer is never refused
    assert check_move(Command.RTL, low, safety, fence) is None
    assert check_move(Command.LAND, low, safety, fence, high) is None
    assert "outside 0..30" in (check_move(Command.SET_SPEED, state, safety, None, None, 45.0) or "")


def test_preflight_passes_a_ready_vehicle() -> None:
    checks = run_preflight(_ready(), _plan(), ControllerConfig())
    assert [c.name for c in checks] == [
        "link",
        "health",
        "gps",
        "battery",
        "home",
        "geofence",
        "ceiling",
    ]
    assert all(c.ok for c in checks), [str(c) for c in checks if not c.ok]


def test_preflight_names_each_failed_check_and_value() -> None:
    state = _ready(
        link=LinkState.LOST,
        heartbeat_age_s=9.0,
        health_ok=False,
        health_failures=("SENSOR_GPS",),
        gps_fix=GpsFix.FIX_2D,
        satellites=4,
        battery_pct=21.0,
        home=None,
    )
    plan = _plan(alt=200.0, dlat=0.0015)
    failed = {c.name: str(c) for c in run_preflight(state, plan, ControllerConfig()) if not c.ok}
    assert set(failed) == {"link", "health", "gps", "battery", "home", "geofence", "ceiling"}
    assert "last heartbeat 9.0 s ago" in failed["link"]
    assert "SENSOR_GPS" in failed["health"]
    assert "FIX_2D, 4 satellites" in failed["gps"]
    assert "21 %" in failed["battery"]
    assert "reserve 20 %" in failed["battery"]
    assert "item 2 (waypoint) is outside inclusion polygon 1" in failed["geofence"]
    assert "highest item 200 m" in failed["ceiling"]


def test_battery_need_uses_the_missions_energy_model() -> None:
    short, longer = _plan(dlat=0.0002), _plan(dlat=0.0015)
    assert 0 < battery_need_pct(short) < battery_need_pct(longer) < 100
