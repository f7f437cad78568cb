"""Plan checks: each violation names the item or leg, the limit and the amount."""

from __future__ import annotations

import math

import pytest
from shapely.geometry import Point, Polygon

from missions import (
    FenceCircle,
    FencePolygon,
    Geofence,
    GeoPoint,
    Home,
    ItemKind,
    MissionItem,
    PatrolPlan,
)
from missions.constraints import Limits, check_plan
from missions.energy import EnergyModel, estimate_flight
from missions.generators import CoverageSpec, coverage, route
from missions.geo import LocalFrame
from missions.sorties import split_sorties

HOME = Home(lat_deg=47.3977, lon_deg=8.5456, amsl_m=489.4)
FRAME = LocalFrame(HOME.lat_deg, HOME.lon_deg)


def at(x_m: float, y_m: float) -> GeoPoint:
    lat, lon = FRAME.to_latlon(x_m, y_m)
    return GeoPoint(lat_deg=float(lat), lon_deg=float(lon))


def wp(x_m: float, y_m: float, alt_m: float = 40.0) -> MissionItem:
    p = at(x_m, y_m)
    return MissionItem(
        kind=ItemKind.WAYPOINT, lat_deg=p.lat_deg, lon_deg=p.lon_deg, rel_alt_m=alt_m
    )


def square(cx: float, cy: float, half: float, inclusion: bool = True) -> FencePolygon:
    return FencePolygon(
        vertices=tuple(
            at(cx + dx * half, cy + dy * half) for dx, dy in ((-1, -1), (1, -1), (1, 1), (-1, 1))
        ),
        inclusion=inclusion,
    )


RTL = MissionItem(kind=ItemKind.RETURN_TO_LAUNCH, lat_deg=math.nan, lon_deg=math.nan, rel_alt_m=0)


def plan_of(*items: MissionItem, fence: Geofence | None = None) -> PatrolPlan:
    return PatrolPlan(name="t", items=(*items, RTL), home=HOME, fence=fence or Geofence())


def test_a_clean_plan_passes() -> None:
    report = check_plan(
        plan_of(wp(100, 0), wp(100, 100), fence=Geofence(polygons=(square(0, 0, 300),)))
    )
    assert report.ok, report.violations
    assert report.warnings == ()
    assert report.estimate.feasible


def test_leg_crossing_a_nofly_zone_between_legal_waypoints() -> None:
    # both waypoints are outside the zone; the straight leg between them is not
    zone = FRAME.geom_to_lonlat(Point(100, 50).buffer(20))
    report = check_plan(plan_of(wp(100, 0), wp(100, 100)), nofly=[zone])
    assert [str(v) for v in report.violations] == [
        "leg 0→1: no-fly: crosses no-fly zone 1 for 40.0 m"
    ]


def test_item_inside_exclusion_and_return_leg_crossing_are_named() -> None:
    fence = Geofence(circles=(FenceCircle(center=at(200, 0), radius_m=30, inclusion=False),))
    report = check_plan(plan_of(wp(200, 10), wp(400, 0), fence=fence))
    where = [(v.where, v.rule) for v in report.violations]
    assert ("item 0", "no-fly") in where
    assert ("leg home→0", "no-fly") in where
    assert ("leg 1→home", "no-fly") in where
    inside = next(v for v in report.violations if v.where == "item 0")
    assert "plan exclusion circle 1, 20.0 m from its edge" in inside.detail


def test_altitude_distance_and_fence_margin() -> None:
    fence = Geofence(polygons=(square(0, 0, 500),))
    report = check_plan(
        plan_of(wp(0, 100, alt_m=130), wp(497, 0, alt_m=2), wp(0, 3500)),
        fence=fence,
        limits=Limits(fence_margin_m=5, max_distance_m=3000),
    )
    lines = [str(v) for v in report.violations]
    assert "item 0: ceiling: altitude 130.0 m is above the 120 m ceiling by 10.0 m" in lines
    assert "item 1: floor: altitude 2.0 m is below the 5 m floor by 3.0 m" in lines
    assert "item 1: fence: 2.0 m outside inclusion polygon 1 less its 5 m margin" in lines
    assert "item 2: distance: 3500 m from home, limit 3000 m (over by 500 m)" in lines
    assert any(v.startswith("leg 1→2: fence: ") for v in lines)


def test_fence_warnings_several_inclusions_and_home_outside() -> None:
    fence = Geofence(polygons=(square(0, 0, 300), square(200, 200, 150)))
    report = check_plan(plan_of(wp(150, 150)), fence=fence)
    assert any("PX4 requires the vehicle to be inside all of them" in w for w in report.warnings)
    assert any("home is outside inclusion polygon 2" in w for w in report.warnings)


def test_energy_includes_return_and_splits_into_feasible_sorties() -> None:
    area = FRAME.geom_to_lonlat(Polygon([(0, 0), (1200, 0), (1200, 900), (0, 900)]))
    plan = coverage(area, home=HOME, spec=CoverageSpec(alt_m=40, side_overlap=0.6))
    report = check_plan(plan, limits=Limits(max_distance_m=None))
    energy = [v for v in report.violations if v.rule == "energy"]
    assert len(energy) == 1
    assert "usable 59.2 Wh (74 Wh less 20% reserve)" in energy[0].detail
    sorties = split_sorties(plan)
    assert len(sorties) >= 2
    for sortie in sorties:
        assert estimate_flight(sortie).feasible
        assert sortie.items[0].kind is ItemKind.TAKEOFF
        assert sortie.items[-1].kind is ItemKind.RETURN_TO_LAUNCH
    flown = [(i.lat_deg, i.lon_deg) for s in sorties for i in s.items[1:-1]]
    assert flown == [(i.lat_deg, i.lon_deg) for i in plan.items[1:-1]]  # nothing dropped


def test_energy_model_numbers_match_design_notes() -> None:
    m = EnergyModel()
    assert m.cruise_power_w(0.0) == 190.0
    assert m.cruise_power_w(10.0) == pytest.approx(190 + 150)
    assert m.cruise_power_w(0.0, climb_m_s=2.0) == pytest.approx(260.0)
    assert m.usable_wh == pytest.approx(59.2)
    # 1 km out and back at 5 m/s and 30 m: hover+drag over 400 s, plus climbs and landing
    plan = route([at(1000, 0)], home=HOME, alt_m=30)
    est = estimate_flight(plan)
    cruise_j = 2 * 200 * (190 + 1.5 * 25)
    climb_j = 20 * (190 + 35 * 1.5)
    land_j = (20 / 1.5 + 10 / 0.7) * 190
    assert est.energy_wh * 3600 == pytest.approx(cruise_j + climb_j + land_j, rel=1e-3)
    assert est.distance_m == pytest.approx(2000, rel=1e-3)


def test_sorties_climb_out_and_return_around_a_nofly_zone_near_home() -> None:
    area = FRAME.geom_to_lonlat(Polygon([(-600, 150), (600, 150), (600, 1000), (-600, 1000)]))
    zone = FRAME.geom_to_lonlat(Polygon([(-300, 40), (300, 40), (300, 100), (-300, 100)]))
    plan = coverage(area, home=HOME, nofly=[zone], spec=CoverageSpec(alt_m=40, side_overlap=0.6))
    sorties = split_sorties(plan)
    assert len(sorties) >= 3
    for sortie in sorties:
        report = check_plan(sortie, limits=Limits(max_distance_m=None))
        assert report.ok, [str(v) for v in report.violations]


def test_coverage_inside_an_inclusion_fence_passes_the_fence_check() -> None:
    area = FRAME.geom_to_lonlat(Polygon([(100, 100), (400, 100), (400, 300), (100, 300)]))
    # the fence hugs the area: the usual turn outside the area is not allowed here
    fence = FRAME.geom_to_lonlat(Polygon([(-20, -20), (405, -20), (405, 305), (-20, 305)]))
    plan = coverage(area, home=HOME, fence=fence, spec=CoverageSpec(alt_m=60))
    assert [p.inclusion for p in plan.fence.polygons] == [True]
    report = check_plan(plan, limits=Limits(fence_margin_m=5))
    assert report.ok, [str(v) for v in report.violations]
    assert report.warnings == ()
