"""Vehicle choice for scheduled runs and for dispatch (pure logic over VehicleState)."""

from __future__ import annotations

import pytest

from drone_ops.dispatch import (
    DispatchError,
    DispatchRequest,
    NoVehicleReady,
    choose_vehicle,
    dispatch_plan,
    parse_lat_lon,
)
from drone_ops.link.policy import LinkState
from drone_ops.schedule import PlanSource, Preconditions, Schedule
from drone_ops.scheduling.readiness import not_ready_reason, select_vehicle
from drone_ops.state import Home, LandedState, VehicleState
from missions.energy import estimate_flight
from missions.plan import FenceCircle, Geofence, GeoPoint

HOME = Home(lat_deg=47.397743, lon_deg=8.545594, amsl_m=489.4)
M_PER_DEG_LAT = 111_195.0


def vehicle(
    vid: str,
    *,
    battery: float = 90.0,
    north_m: float = 0.0,
    home_north_m: float = 0.0,
    link: LinkState = LinkState.CONNECTED,
    healthy: bool | None = True,
    armed: bool = False,
    in_air: bool = False,
) -> VehicleState:
    home = Home(
        lat_deg=HOME.lat_deg + home_north_m / M_PER_DEG_LAT, lon_deg=HOME.lon_deg, amsl_m=489.4
    )
    return VehicleState(
        vehicle_id=vid,
        link=link,
        armed=armed,
        landed=LandedState.IN_AIR if in_air else LandedState.ON_GROUND,
        lat_deg=home.lat_deg + north_m / M_PER_DEG_LAT,
        lon_deg=home.lon_deg,
        rel_alt_m=30.0 if in_air else 0.0,
        home=home,
        battery_pct=battery,
        health_ok=healthy,
    )


SCHED = Schedule(name="p", plan=PlanSource(file="x.plan"), interval_s=1800)


@pytest.mark.parametrize(
    ("state", "fragment"),
    [
        (vehicle("v", link=LinkState.LOST), "link lost"),
        (vehicle("v", armed=True), "not idle"),
        (vehicle("v", healthy=False), "not healthy"),
        (vehicle("v", healthy=None), "no health report"),
        (vehicle("v", battery=50), "battery 50 % below"),
        (vehicle("v", north_m=40), "not docked: 40 m from home"),
    ],
)
def test_each_precondition_names_the_reason(state: VehicleState, fragment: str) -> None:
    why = not_ready_reason(state, Preconditions(min_battery_pct=80))
    assert why is not None
    assert fragment in why


def test_a_docked_charged_idle_healthy_vehicle_is_ready() -> None:
    assert not_ready_reason(vehicle("v", north_m=3), Preconditions()) is None
    assert "not enough for the plan" in (
        not_ready_reason(vehicle("v", battery=85), Preconditions(), need_pct=70) or ""
    )


def test_rotation_picks_the_fullest_ready_vehicle_of_the_pool() -> None:
    states = {
        "v1": vehicle("v1", battery=95, armed=True),
        "v2": vehicle("v2", battery=84),
        "v3": vehicle("v3", battery=92),
        "v4": vehicle("v4", battery=99),
    }
    pool = Schedule(name="p", plan=PlanSource(file="x"), interval_s=60, vehicles=("v1", "v2", "v3"))
    chosen = select_vehicle(pool, states)
    assert chosen.vehicle_id == "v3"  # v4 is not in the pool, v1 is busy
    assert "not idle" in chosen.reasons["v1"]
    assert select_vehicle(SCHED, states, busy={"v4", "v3"}).vehicle_id == "v2"
    # equal charge (same 5 % step): the one that has rested longest goes
    full = {k: vehicle(k, battery=99) for k in ("v1", "v2", "v3")}
    rested = {"v1": 300.0, "v2": 100.0, "v3": 200.0}
    assert select_vehicle(SCHED, full, last_flown_s=rested).vehicle_id == "v2"
    assert select_vehicle(SCHED, full, last_flown_s={"v1": 5.0}).vehicle_id == "v2"
    none = select_vehicle(SCHED, {k: vehicle(k, battery=40) for k in states})
    assert none.vehicle_id is None
    assert none.explain().count("below the schedule's 80 %") == 4


def test_dispatch_picks_the_vehicle_that_arrives_first_not_the_fullest() -> None:
    target_north_m = 1500.0
    lat = HOME.lat_deg + target_north_m / M_PER_DEG_LAT
    states = {
        "far": vehicle("far", battery=100),  # at the depot, 1.5 km away
        "near": vehicle("near", battery=45, home_north_m=1200),  # docked 300 m from the point
        "broken": vehicle("broken", battery=100, home_north_m=1450, healthy=False),
    }
    req = DispatchRequest(lat_deg=lat, lon_deg=HOME.lon_deg, alt_m=40, hold_s=60)
    choice = choose_vehicle(states, req)
    assert choice.vehicle_id == "near"
    assert choice.distance_m == pytest.approx(300, abs=2)
    assert choice.need_wh < choice.available_wh
    # with a 5 minute hold the near vehicle's 45 % is not enough: the full one goes
    long = DispatchRequest(lat_deg=lat, lon_deg=HOME.lon_deg, alt_m=40, hold_s=300)
    assert choose_vehicle(states, long).vehicle_id == "far"


def test_dispatch_prefers_an_idle_airborne_vehicle_near_the_point() -> None:
    lat = HOME.lat_deg + 800 / M_PER_DEG_LAT
    states = {
        "ground": vehicle("ground", battery=100, home_north_m=700),
        "air": vehicle("air", battery=90, north_m=600, in_air=True),
    }
    req = DispatchRequest(lat_deg=lat, lon_deg=HOME.lon_deg, hold_s=60)
    assert choose_vehicle(states, req).vehicle_id == "air"  # no take-off climb
    assert choose_vehicle(states, req, busy={"air"}).vehicle_id == "ground"


def test_dispatch_with_nobody_able_says_why_for_each_vehicle() -> None:
    states = {"a": vehicle("a", battery=22), "b": vehicle("b", link=LinkState.LOST)}
    with pytest.raises(NoVehicleReady) as info:
        choose_vehicle(states, DispatchRequest(lat_deg=HOME.lat_deg, lon_deg=HOME.lon_deg))
    text = str(info.value)
    assert "a: battery 22 % short" in text
    assert "b: link lost" in text


def test_dispatch_outside_the_geofence_is_refused_before_anything_moves() -> None:
    fence = Geofence(
        circles=(FenceCircle(center=GeoPoint(lat_deg=HOME.lat_deg, lon_deg=HOME.lon_deg),
                             radius_m=500),)
    )  # fmt: skip
    far = DispatchRequest(lat_deg=HOME.lat_deg + 0.02, lon_deg=HOME.lon_deg)
    with pytest.raises(DispatchError, match="outside the geofence"):
        choose_vehicle({"v": vehicle("v")}, far, fence=fence)


def test_dispatch_plan_flies_there_holds_and_returns_within_the_estimate() -> None:
    s = vehicle("v")
    req = DispatchRequest(lat_deg=HOME.lat_deg + 0.005, lon_deg=HOME.lon_deg, hold_s=90)
    plan = dispatch_plan(s, req, fence=Geofence())
    assert [i.kind.value for i in plan.items] == ["takeoff", "waypoint", "return_to_launch"]
    assert plan.items[1].hold_s == 90
    choice = choose_vehicle({"v": s}, req)
    assert estimate_flight(plan).energy_wh == pytest.approx(choice.need_wh, rel=0.1)


@pytest.mark.parametrize("text", ["47.1", "north,east", "95,8", "47,200"])
def test_bad_positions_are_clear_errors(text: str) -> None:
    with pytest.raises(DispatchError):
        parse_lat_lon(text)


def test_unsafe_altitudes_are_refused() -> None:
    with pytest.raises(DispatchError, match=r"safe 10\.\.120 m"):
        DispatchRequest(lat_deg=47.0, lon_deg=8.0, alt_m=300)
