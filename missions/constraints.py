"""Safety and feasibility checks of a plan (`drone-ops plan check`).

Every violation names the item or leg, the limit and by how much it is
exceeded. Legs are checked as segments (a straight leg between two legal
waypoints can still cut through a no-fly zone), including the climb-out
from home and the return home. Checks are vectorised (shapely STRtree and
array predicates) so a 1,000-item plan against 100 zones stays fast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry

from missions.energy import EnergyModel, FlightEstimate, estimate_flight, plan_home
from missions.geo import LocalFrame
from missions.plan import Geofence, ItemKind, PatrolPlan

__all__ = ["CheckReport", "Limits", "Violation", "check_plan"]

_TOL_M = 0.05  # geometric tolerance: degE7 rounding is ~1 cm


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """What a plan must respect. Defaults: 120 m legal ceiling, the simulated quad."""

    ceiling_m: float = 120.0
    floor_m: float = 5.0
    max_distance_m: float | None = 3000.0
    fence_margin_m: float = 5.0
    energy: EnergyModel = field(default_factory=EnergyModel)


@dataclass(frozen=True, slots=True, kw_only=True)
class Violation:
    """One broken rule: where (item/leg/plan), which rule, the limit and the amount."""

    where: str
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.where}: {self.rule}: {self.detail}"


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckReport:
    violations: tuple[Violation, ...]
    warnings: tuple[str, ...]
    estimate: FlightEstimate

    @property
    def ok(self) -> bool:
        return not self.violations


@dataclass(frozen=True, slots=True)
class _Zone:
    label: str
    geom: BaseGeometry  # local metres


def _fence_zones(
    fence: Geofence, frame: LocalFrame, source: str
) -> tuple[list[_Zone], list[_Zone]]:
    inc: list[_Zone] = []
    exc: list[_Zone] = []
    for k, poly in enumerate(fence.polygons, 1):
        lat = np.array([v.lat_deg for v in poly.vertices])
        lon = np.array([v.lon_deg for v in poly.vertices])
        x, y = frame.to_xy(lat, lon)
        geom = shapely.make_valid(Polygon(np.column_stack([x, y])))
        kind = "inclusion" if poly.inclusion else "exclusion"
        (inc if poly.inclusion else exc).append(_Zone(f"{source}{kind} polygon {k}", geom))
    for k, circle in enumerate(fence.circles, 1):
        cx, cy = frame.point_xy(circle.center.lat_deg, circle.center.lon_deg)
        geom = Point(cx, cy).buffer(circle.radius_m, quad_segs=32)
        kind = "inclusion" if circle.inclusion else "exclusion"
        (inc if circle.inclusion else exc).append(_Zone(f"{source}{kind} circle {k}", geom))
    return inc, exc


def check_plan(
    plan: PatrolPlan,
    *,
    limits: Limits | None = None,
    fence: Geofence | None = None,
    nofly: Sequence[BaseGeometry] = (),
) -> CheckReport:
    """Check `plan` against its own fence plus an extra `fence` and `nofly` zones (lon/lat)."""
    lim = limits or Limits()
    home = plan_home(plan)
    frame = LocalFrame(home.lat_deg, home.lon_deg)
    violations: list[Violation] = []
    warnings: list[str] = []

    inc, exc = _fence_zones(plan.fence, frame, "plan ")
    if fence is not None:
        more_inc, more_exc = _fence_zones(fence, frame, "")
        inc += more_inc
        exc += more_exc
    if nofly:  # one projection call for all zones
        projected = shapely.make_valid(frame.geom_to_xy(np.array(list(nofly), dtype=object)))
        exc += [_Zone(f"no-fly zone {k}", g) for k, g in enumerate(projected, 1)]

    # positions: index -> (x, y, alt); RTL/land close the loop at home
    idx: list[int] = []
    xs: list[float] = []
    ys: list[float] = []
    lat = np.array([i.lat_deg for i in plan.items])
    lon = np.array([i.lon_deg for i in plan.items])
    positioned = np.array([i.kind is not ItemKind.RETURN_TO_LAUNCH for i in plan.items])
    px, py = frame.to_xy(lat[positioned], lon[positioned])
    idx = [k for k, p in enumerate(positioned.tolist()) if p]
    xs, ys = px.tolist(), py.tolist()

    # altitude and distance, per item
    for k, item in enumerate(plan.items):
        if item.kind in (ItemKind.RETURN_TO_LAUNCH, ItemKind.LAND):
            continue
        if item.rel_alt_m > lim.ceiling_m:
            violations.append(
                Violation(
                    where=f"item {k}",
                    rule="ceiling",
                    detail=f"altitude {item.rel_alt_m:.1f} m is above the {lim.ceiling_m:g} m"
                    f" ceiling by {item.rel_alt_m - lim.ceiling_m:.1f} m",
                )
            )
        if item.rel_alt_m < lim.floor_m:
            violations.append(
                Violation(
                    where=f"item {k}",
                    rule="floor",
                    detail=f"altitude {item.rel_alt_m:.1f} m is below the {lim.floor_m:g} m"
                    f" floor by {lim.floor_m - item.rel_alt_m:.1f} m",
                )
            )
    if lim.max_distance_m is not None and idx:
        dist = np.hypot(px, py)
        for j in np.nonzero(dist > lim.max_distance_m)[0].tolist():
            violations.append(
                Violation(
                    where=f"item {idx[j]}",
                    rule="distance",
                    detail=f"{dist[j]:.0f} m from home, limit {lim.max_distance_m:g} m"
                    f" (over by {dist[j] - lim.max_distance_m:.0f} m)",
                )
            )

    # legs: home -> first, item -> item, last -> home (return)
    path_idx = [-1, *idx]
    path_x = [0.0, *xs]
    path_y = [0.0, *ys]
    legs_from: list[int] = []
    legs_to: list[int] = []
    coords: list[list[tuple[float, float]]] = []
    for a in range(len(path_x) - 1):
        legs_from.append(path_idx[a])
        legs_to.append(path_idx[a + 1])
        coords.append([(path_x[a], path_y[a]), (path_x[a + 1], path_y[a + 1])])
    ends_at_land = plan.items[-1].kind is ItemKind.LAND
    if not ends_at_land:
        legs_from.append(path_idx[-1])
        legs_to.append(-1)
        coords.append([(path_x[-1], path_y[-1]), (0.0, 0.0)])
    legs = shapely.linestrings(coords)

    def leg_name(j: int) -> str:
        a, b = legs_from[j], legs_to[j]
        return f"leg {'home' if a < 0 else a}→{'home' if b < 0 else b}"

    points = shapely.points(np.column_stack([px, py])) if idx else np.array([])

    # inclusion fences: items inside with margin, legs inside
    if len(inc) > 1:
        warnings.append(
            f"{len(inc)} inclusion fences: PX4 requires the vehicle to be inside all of them"
            " (AND), not any one; merge them into one polygon if that is not what you mean"
        )
    for zone in inc:
        if not zone.geom.covers(Point(0.0, 0.0)):
            warnings.append(
                f"home is outside {zone.label}: PX4 rejects a fence that does not contain home"
            )
        shrunk = zone.geom.buffer(-lim.fence_margin_m) if lim.fence_margin_m else zone.geom
        lenient = shrunk.buffer(_TOL_M)  # on the margin line is inside
        shapely.prepare(lenient)
        if len(points):
            inside = shapely.covers(lenient, points)
            for j in np.nonzero(~inside)[0].tolist():
                out_by = shrunk.exterior.distance(points[j]) if not shrunk.is_empty else math.inf
                violations.append(
                    Violation(
                        where=f"item {idx[j]}",
                        rule="fence",
                        detail=f"{out_by:.1f} m outside {zone.label} less its"
                        f" {lim.fence_margin_m:g} m margin",
                    )
                )
        grown = zone.geom.buffer(_TOL_M)
        shapely.prepare(grown)
        for j in np.nonzero(~shapely.covers(grown, legs))[0].tolist():
            outside = shapely.difference(legs[j], zone.geom).length
            violations.append(
                Violation(
                    where=leg_name(j),
                    rule="fence",
                    detail=f"{outside:.1f} m of the leg is outside {zone.label}",
                )
            )

    # exclusion zones: no leg may cross, no item may be inside
    if exc:
        zones = np.array([z.geom for z in exc], dtype=object)
        zone_i, leg_i = shapely.STRtree(legs).query(zones, predicate="intersects")
        if len(leg_i):
            # length inside, boundary included: a leg only touching a zone has ~0
            lengths = shapely.length(shapely.intersection(legs[leg_i], zones[zone_i]))
            for j, z, length in zip(leg_i.tolist(), zone_i.tolist(), lengths.tolist(), strict=True):
                if length > _TOL_M:
                    violations.append(
                        Violation(
                            where=leg_name(j),
                            rule="no-fly",
                            detail=f"crosses {exc[z].label} for {length:.1f} m",
                        )
                    )
        if len(points):
            pt_i, zone_j = shapely.STRtree(zones).query(points, predicate="within")
            for j, z in zip(pt_i.tolist(), zone_j.tolist(), strict=True):
                depth = exc[z].geom.exterior.distance(points[j])
                violations.append(
                    Violation(
                        where=f"item {idx[j]}",
                        rule="no-fly",
                        detail=f"inside {exc[z].label}, {depth:.1f} m from its edge",
                    )
                )

    estimate = estimate_flight(plan, lim.energy)
    if not estimate.feasible:
        m = lim.energy
        violations.append(
            Violation(
                where="plan",
                rule="energy",
                detail=f"needs {estimate.worst_with_return_wh:.1f} Wh including the return from"
                f" item {estimate.worst_item}, usable {estimate.usable_wh:.1f} Wh"
                f" ({m.capacity_wh:g} Wh less {m.reserve_fraction:.0%} reserve): over by"
                f" {-estimate.margin_wh:.1f} Wh; split it into sorties",
            )
        )
    violations.sort(key=_order)
    return CheckReport(violations=tuple(violations), warnings=tuple(warnings), estimate=estimate)


def _order(v: Violation) -> tuple[int, str]:
    parts = v.where.split()
    if len(parts) == 2 and parts[1].isdigit():
        return int(parts[1]), v.rule
    if v.where.startswith("leg "):
        head = v.where[4:].split("→")[0]
        return (int(head) if head.isdigit() else -1), v.rule
    return 1 << 30, v.rule
