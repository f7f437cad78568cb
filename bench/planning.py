"""Planning benchmark: coverage of a 5 km² polygon with 10 holes, and a check
of a 1,000-item plan against 100 no-fly zones.

Goals (issue 4): coverage < 100 ms, check < 50 ms. Each figure is the median
of several warm runs, printed with a same-run baseline: one shapely
operation on the same data (the area's inward buffer; the union of the 100
zones), so the ratio says how much work we add over the geometry engine
whatever the machine's speed.

    .venv/bin/python bench/planning.py
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable

import numpy as np
import shapely
from shapely.geometry import Point, Polygon

from missions import Home, ItemKind, MissionItem, PatrolPlan
from missions.constraints import Limits, check_plan
from missions.generators import CoverageSpec, coverage
from missions.geo import LocalFrame

HOME = Home(lat_deg=47.3977, lon_deg=8.5456, amsl_m=489.4)
FRAME = LocalFrame(HOME.lat_deg, HOME.lon_deg)


def timed(fn: Callable[[], object], runs: int = 7) -> float:
    """Median CPU seconds of warm runs.

    CPU time, not wall time: the figure should not depend on how many other
    processes share the machine (wall time is printed by `main` as well).
    """
    fn()  # warm: caches, projections
    samples = []
    for _ in range(runs):
        t0 = time.process_time()
        fn()
        samples.append(time.process_time() - t0)
    return statistics.median(samples)


def wall(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def irregular_area(rng: np.random.Generator) -> Polygon:
    """About 5 km²: a 24-vertex star-ish polygon with 10 round and square holes."""
    n = 24
    angles = np.sort(rng.uniform(0, 2 * math.pi, n))
    radii = rng.uniform(1100, 1500, n)
    outer = Polygon(np.column_stack([radii * np.cos(angles), radii * np.sin(angles)]))
    scale = math.sqrt(5e6 / outer.area)
    outer = shapely.affinity.scale(outer, scale, scale, origin=(0, 0))
    holes = []
    while len(holes) < 10:
        x, y = rng.uniform(-900, 900, 2)
        r = rng.uniform(30, 90)
        hole = (
            Point(x, y).buffer(r) if len(holes) % 2 else Point(x, y).buffer(r, cap_style="square")
        )
        if outer.buffer(-50).contains(hole) and all(hole.distance(h) > 40 for h in holes):
            holes.append(hole)
    return shapely.union_all([outer]).difference(shapely.union_all(holes))


def long_plan(rng: np.random.Generator, zones: list[Polygon], n: int = 1000) -> PatrolPlan:
    """A patrol-like route: a random walk of 30..120 m legs inside a 4 km square.

    Waypoints avoid the zones but legs are not routed around them, so some
    legs cut through zones and the check has real violations to report.
    """
    blocked = shapely.union_all(zones)
    pts: list[tuple[float, float]] = [(0.0, 0.0)]
    heading = 0.0
    while len(pts) < n:
        heading += rng.normal(0.0, 0.6)
        step = rng.uniform(30, 120)
        x = pts[-1][0] + step * math.cos(heading)
        y = pts[-1][1] + step * math.sin(heading)
        if abs(x) > 2000 or abs(y) > 2000:
            heading += math.pi
            continue
        if not blocked.contains(Point(x, y)):
            pts.append((x, y))
    lat, lon = FRAME.to_latlon(np.array([p[0] for p in pts]), np.array([p[1] for p in pts]))
    items = [
        MissionItem(kind=ItemKind.WAYPOINT, lat_deg=a, lon_deg=o, rel_alt_m=50.0)
        for a, o in zip(lat.tolist(), lon.tolist(), strict=True)
    ]
    rtl = MissionItem(
        kind=ItemKind.RETURN_TO_LAUNCH, lat_deg=math.nan, lon_deg=math.nan, rel_alt_m=0.0
    )
    return PatrolPlan(name="bench", items=(*items, rtl), home=HOME)


def main() -> None:
    rng = np.random.default_rng(4)
    area_xy = irregular_area(rng)
    area = FRAME.geom_to_lonlat(area_xy)
    spec = CoverageSpec(alt_m=60, side_overlap=0.7)
    plan = coverage(area, home=HOME, spec=spec)
    t_cov = timed(lambda: coverage(area, home=HOME, spec=spec))
    t_cov_base = timed(lambda: area_xy.buffer(-spec.margin_m))
    w_cov = wall(lambda: coverage(area, home=HOME, spec=spec))
    print(
        f"coverage  5.0 km², {len(area_xy.interiors)} holes, {len(plan.items)} items,"
        f" angle {plan.params['angle_deg']}°: {t_cov * 1e3:7.1f} ms CPU"
        f" ({w_cov * 1e3:.0f} ms wall; goal < 100 ms);"
        f" baseline buffer {t_cov_base * 1e3:.2f} ms, ratio {t_cov / t_cov_base:.0f}x"
    )

    zones_xy = []
    while len(zones_xy) < 100:
        x, y = rng.uniform(-2000, 2000, 2)
        zones_xy.append(Point(x, y).buffer(rng.uniform(20, 60)))
    zones = [FRAME.geom_to_lonlat(z) for z in zones_xy]
    big = long_plan(rng, zones_xy)
    limits = Limits(max_distance_m=None)
    report = check_plan(big, limits=limits, nofly=zones)
    t_chk = timed(lambda: check_plan(big, limits=limits, nofly=zones))
    t_chk_base = timed(lambda: shapely.union_all(zones_xy))
    w_chk = wall(lambda: check_plan(big, limits=limits, nofly=zones))
    print(
        f"check     {len(big.items)} items x {len(zones)} zones, {len(report.violations)}"
        f" violations: {t_chk * 1e3:7.1f} ms CPU ({w_chk * 1e3:.0f} ms wall; goal < 50 ms);"
        f" baseline zone union {t_chk_base * 1e3:.2f} ms, ratio {t_chk / t_chk_base:.0f}x"
    )


if __name__ == "__main__":
    main()
