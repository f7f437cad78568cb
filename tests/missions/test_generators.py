"""Generator properties: coverage sees the area, legs avoid no-fly zones, loops stay inside."""

from __future__ import annotations

import itertools
import math
import os

import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, Polygon

from missions import CameraAction, GeoPoint, Home, ItemKind, PatrolPlan
from missions.energy import estimate_flight
from missions.generators import CoverageSpec, GeneratorError, coverage, orbit, perimeter, split
from missions.geo import LocalFrame

ORIGIN = LocalFrame(47.3977, 8.5456)
HOME = Home(lat_deg=47.3977, lon_deg=8.5456, amsl_m=489.4)
# Modest by default to keep the suite fast; MISSIONS_EXAMPLES=500 for a deep run.
SETTINGS = settings(
    max_examples=int(os.environ.get("MISSIONS_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def star_polygons(draw: st.DrawFn) -> Polygon:
    """Random star-shaped polygons of roughly 100 m to 1.2 km across, in local metres."""
    n = draw(st.integers(min_value=3, max_value=10))
    # whole degrees: distinct vertices, no hair-thin spikes that no camera could follow
    degrees = draw(st.lists(st.integers(0, 359), min_size=n, max_size=n, unique=True))
    angles = [math.radians(d) for d in sorted(degrees)]
    radii = draw(st.lists(st.floats(120, 600), min_size=n, max_size=n))
    cx = draw(st.floats(-300, 300))
    cy = draw(st.floats(-300, 300))
    poly = Polygon(
        [(cx + r * math.cos(a), cy + r * math.sin(a)) for a, r in zip(angles, radii, strict=True)]
    )
    poly = shapely.make_valid(poly)
    if not isinstance(poly, Polygon) or poly.area < 20_000:
        poly = Point(cx, cy).buffer(300)
    return poly


def to_lonlat(poly: Polygon) -> Polygon:
    return ORIGIN.geom_to_lonlat(poly)


def pattern_legs(plan: PatrolPlan, frame: LocalFrame) -> list[LineString]:
    """Legs between waypoints (takeoff climb and the return home excluded)."""
    pts = [frame.point_xy(i.lat_deg, i.lon_deg) for i in plan.items if i.kind is ItemKind.WAYPOINT]
    return [LineString([a, b]) for a, b in itertools.pairwise(pts) if a != b]


def assert_one_of(message: str, *expected: str) -> None:
    assert any(e in message for e in expected), message


@SETTINGS
@given(
    poly=star_polygons(),
    overlap=st.floats(0.5, 0.8),
    alt=st.floats(30, 80),
    angle=st.one_of(st.none(), st.floats(0, 180)),
)
def test_coverage_footprint_covers_99_percent(
    poly: Polygon, overlap: float, alt: float, angle: float | None
) -> None:
    spec = CoverageSpec(alt_m=alt, side_overlap=overlap, angle_deg=angle)
    plan = coverage(to_lonlat(poly), home=HOME, spec=spec)
    frame = LocalFrame.around(to_lonlat(poly))
    area = shapely.make_valid(frame.geom_to_xy(to_lonlat(poly)))
    legs = pattern_legs(plan, frame)
    seen = shapely.union_all([leg.buffer(spec.footprint_m / 2) for leg in legs])
    assert seen.intersection(area).area >= 0.99 * area.area


@SETTINGS
@given(
    poly=star_polygons(),
    zone_at=st.tuples(st.floats(-0.5, 0.5), st.floats(-0.5, 0.5)),
    zone_r=st.floats(20, 90),
    margin=st.floats(0, 10),
)
def test_no_leg_crosses_a_nofly_zone_or_hole(
    poly: Polygon, zone_at: tuple[float, float], zone_r: float, margin: float
) -> None:
    minx, miny, maxx, maxy = poly.bounds
    cx = (minx + maxx) / 2 + zone_at[0] * (maxx - minx)
    cy = (miny + maxy) / 2 + zone_at[1] * (maxy - miny)
    zone = Point(cx, cy).buffer(zone_r)
    hole = Point(cx + 2 * zone_r + 40, cy).buffer(zone_r / 2)
    area = poly.difference(hole)
    spec = CoverageSpec(alt_m=50, margin_m=margin)
    try:
        plan = coverage(to_lonlat(area), home=HOME, spec=spec, nofly=[to_lonlat(zone)])
    except GeneratorError as exc:
        error = str(exc)
        assert_one_of(error, "separate parts", "nothing", "no sweep")
        return
    frame = LocalFrame.around(to_lonlat(area))
    blocked = frame.geom_to_xy(to_lonlat(zone))
    if poly.contains(hole):  # a hole cut through the outline is a notch, not a hole
        blocked = blocked.union(frame.geom_to_xy(to_lonlat(hole)))
    blocked = blocked.buffer(-0.05)
    legs = pattern_legs(plan, frame)
    assert legs
    for leg in legs:
        assert leg.intersection(blocked).length < 0.01, leg


@SETTINGS
@given(poly=star_polygons(), margin=st.floats(0, 30), clockwise=st.booleans())
def test_perimeter_stays_inside_with_margin(poly: Polygon, margin: float, clockwise: bool) -> None:
    try:
        plan = perimeter(to_lonlat(poly), home=HOME, margin_m=margin, clockwise=clockwise)
    except GeneratorError as exc:
        assert_one_of(str(exc), "margin")
        return
    frame = LocalFrame.around(to_lonlat(poly))
    area = frame.geom_to_xy(to_lonlat(poly))
    inner = area.buffer(-(margin - 0.5)) if margin > 0.5 else area.buffer(0.05)
    legs = pattern_legs(plan, frame)
    assert legs
    for leg in legs:
        assert inner.covers(leg)
    ring = Polygon([(leg.coords[0]) for leg in legs])
    assert ring.exterior.is_ccw is not clockwise


def test_coverage_starts_at_corner_nearest_home_and_avoids_hole_legs() -> None:
    square = Polygon([(0, 0), (400, 0), (400, 400), (0, 400)])
    home_xy = (420.0, -30.0)
    lat, lon = ORIGIN.to_latlon(*home_xy)
    home = Home(lat_deg=float(lat), lon_deg=float(lon))
    plan = coverage(to_lonlat(square), home=home, spec=CoverageSpec(alt_m=40, overfly_m=0))
    frame = LocalFrame.around(to_lonlat(square))
    first = next(i for i in plan.items if i.kind is ItemKind.WAYPOINT)
    fx, fy = frame.point_xy(first.lat_deg, first.lon_deg)
    hx, hy = frame.point_xy(home.lat_deg, home.lon_deg)
    corners = [frame.point_xy(c[1], c[0]) for c in to_lonlat(square).exterior.coords]
    nearest = min(corners, key=lambda c: math.hypot(c[0] - hx, c[1] - hy))
    assert math.hypot(fx - nearest[0], fy - nearest[1]) < CoverageSpec(alt_m=40).spacing_m
    assert plan.items[0].kind is ItemKind.TAKEOFF
    assert plan.items[-1].kind is ItemKind.RETURN_TO_LAUNCH


def test_sweep_angle_is_chosen_along_a_long_thin_area() -> None:
    thin = shapely.affinity.rotate(Polygon([(0, 0), (1500, 0), (1500, 200), (0, 200)]), 30)
    plan = coverage(to_lonlat(thin), home=HOME, spec=CoverageSpec(alt_m=40))
    assert plan.params["angle_deg"] == pytest.approx(30.0, abs=1.0)


def test_orbit_is_a_circle_of_the_radius() -> None:
    center = GeoPoint(lat_deg=47.399, lon_deg=8.547)
    plan = orbit(center, home=HOME, radius_m=80, laps=2)
    frame = LocalFrame(center.lat_deg, center.lon_deg)
    wps = [i for i in plan.items if i.kind is ItemKind.WAYPOINT]
    for wp in wps:
        x, y = frame.point_xy(wp.lat_deg, wp.lon_deg)
        assert math.hypot(x, y) == pytest.approx(80, abs=0.05)
    assert len(wps) == 2 * 34 + 1


def test_split_gives_parts_of_about_equal_flight_time() -> None:
    # home well off one side: equal areas would give the far part a long transit
    poly = Polygon([(0, 300), (900, 300), (1000, 1000), (100, 1100)])
    plans = split(to_lonlat(poly), 3, home=HOME, spec=CoverageSpec(alt_m=50))
    assert len(plans) == 3
    times = [estimate_flight(p).time_s for p in plans]
    assert max(times) < 1.10 * min(times), times
    frame = LocalFrame.around(to_lonlat(poly))
    area = frame.geom_to_xy(to_lonlat(poly))
    spec = CoverageSpec(alt_m=50)
    seen = shapely.union_all(
        [leg.buffer(spec.footprint_m / 2) for p in plans for leg in pattern_legs(p, frame)]
    )
    assert seen.intersection(area).area >= 0.99 * area.area  # together they cover it all


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: perimeter(to_lonlat(Point(0, 0).buffer(20)), home=HOME, margin_m=30), "margin"),
        (lambda: orbit(GeoPoint(lat_deg=47.4, lon_deg=8.5), home=HOME, radius_m=1), "radius"),
        (lambda: CoverageSpec(side_overlap=1.5), "side overlap"),
        (lambda: split(to_lonlat(Point(0, 0).buffer(200)), 0, home=HOME), "vehicles"),
        (lambda: coverage(Point(8.5, 47.4), home=HOME), "expected a polygon"),
    ],
)
def test_bad_generator_input_is_a_clear_error(call: object, message: str) -> None:
    with pytest.raises(GeneratorError, match=message):
        call()  # type: ignore[operator]


def test_area_cut_in_two_by_a_nofly_band_is_refused_with_a_clear_message() -> None:
    field = Polygon([(0, 0), (600, 0), (600, 300), (0, 300)])
    band = Polygon([(280, -50), (320, -50), (320, 350), (280, 350)])
    with pytest.raises(GeneratorError, match="split the area into 2 separate parts"):
        coverage(to_lonlat(field), home=HOME, nofly=[to_lonlat(band)])


def test_video_runs_over_the_sweep_not_the_detour_from_home() -> None:
    field = Polygon([(-300, 200), (300, 200), (300, 600), (-300, 600)])
    wall = Polygon([(-100, 60), (100, 60), (100, 120), (-100, 120)])  # between home and field
    plan = coverage(to_lonlat(field), home=HOME, nofly=[to_lonlat(wall)])
    frame = LocalFrame.around(to_lonlat(field))
    cams = [(k, i.camera) for k, i in enumerate(plan.items) if i.camera is not CameraAction.NONE]
    assert [c for _, c in cams] == [CameraAction.START_VIDEO, CameraAction.STOP_VIDEO]
    for k, _ in cams:  # both on the field's edge (within half a footprint), not on the detour
        x, y = frame.point_xy(plan.items[k].lat_deg, plan.items[k].lon_deg)
        assert frame.geom_to_xy(to_lonlat(field)).distance(shapely.Point(x, y)) < 45
    assert plan.items[1].camera is CameraAction.NONE  # the detour around the wall comes first
