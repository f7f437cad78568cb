"""Split a plan that one battery cannot fly into sorties that each can.

Each sortie takes off at home, flies a consecutive run of the plan's items
and returns; the run is the longest that stays feasible (energy to every
point plus the return from it within the usable capacity). Feasibility only
grows with fewer items, so the cut is found by bisection.
"""

from __future__ import annotations

import math
from dataclasses import replace

from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry

from missions.energy import EnergyModel, estimate_flight, plan_home
from missions.errors import MissionsError
from missions.generators import detour
from missions.geo import LocalFrame
from missions.plan import CameraAction, GeoPoint, ItemKind, MissionItem, PatrolPlan

__all__ = ["SortieError", "split_sorties"]


class SortieError(MissionsError, ValueError):
    """A plan that cannot be split into feasible sorties."""


def _exclusions(plan: PatrolPlan) -> list[BaseGeometry]:
    """The plan's exclusion polygons and circles as lon/lat shapely polygons."""
    zones: list[BaseGeometry] = [
        Polygon([(v.lon_deg, v.lat_deg) for v in p.vertices])
        for p in plan.fence.polygons
        if not p.inclusion
    ]
    for c in plan.fence.circles:
        if not c.inclusion:
            frame = LocalFrame(c.center.lat_deg, c.center.lon_deg)
            zones.append(frame.geom_to_lonlat(Point(0.0, 0.0).buffer(c.radius_m)))
    return zones


def _transit(
    a: GeoPoint, b: GeoPoint, zones: list[BaseGeometry], margin_m: float, alt_m: float
) -> list[MissionItem]:
    return [
        MissionItem(kind=ItemKind.WAYPOINT, lat_deg=p.lat_deg, lon_deg=p.lon_deg, rel_alt_m=alt_m)
        for p in detour(a, b, zones, margin_m=margin_m)
    ]


def _sortie(plan: PatrolPlan, run: list[MissionItem], speed: float | None, n: int) -> PatrolPlan:
    home = plan_home(plan)
    video = any(i.camera is CameraAction.START_VIDEO for i in plan.items)
    body = list(run)
    if video:
        body[0] = replace(body[0], camera=CameraAction.START_VIDEO)
        body[-1] = replace(body[-1], camera=CameraAction.STOP_VIDEO)
    zones = _exclusions(plan)
    if zones:  # climb-out and return fly straight: keep them out of the zones
        margin = float(plan.params.get("margin_m", 5.0) or 0.0)
        at_home = GeoPoint(lat_deg=home.lat_deg, lon_deg=home.lon_deg)
        first = GeoPoint(lat_deg=body[0].lat_deg, lon_deg=body[0].lon_deg)
        last = GeoPoint(lat_deg=body[-1].lat_deg, lon_deg=body[-1].lon_deg)
        body = [
            *_transit(at_home, first, zones, margin, body[0].rel_alt_m),
            *body,
            *_transit(last, at_home, zones, margin, body[-1].rel_alt_m),
        ]
    takeoff = MissionItem(
        kind=ItemKind.TAKEOFF,
        lat_deg=home.lat_deg,
        lon_deg=home.lon_deg,
        rel_alt_m=body[0].rel_alt_m,
        speed_m_s=speed,
    )
    rtl = MissionItem(
        kind=ItemKind.RETURN_TO_LAUNCH, lat_deg=math.nan, lon_deg=math.nan, rel_alt_m=0.0
    )
    return replace(
        plan,
        name=f"{plan.name} sortie {n}",
        items=(takeoff, *body, rtl),
        params=dict(plan.params) | {"sortie": n},
    )


def split_sorties(plan: PatrolPlan, model: EnergyModel | None = None) -> tuple[PatrolPlan, ...]:
    """The plan itself if feasible, else consecutive sorties that each are."""
    m = model or EnergyModel()
    if estimate_flight(plan, m).feasible:
        return (plan,)
    body = [
        i
        for i in plan.items
        if i.kind not in (ItemKind.TAKEOFF, ItemKind.RETURN_TO_LAUNCH, ItemKind.LAND)
    ]
    speeds: list[float | None] = []
    speed: float | None = None
    for item in plan.items:
        if item.kind not in (ItemKind.TAKEOFF, ItemKind.RETURN_TO_LAUNCH, ItemKind.LAND):
            speeds.append(speed)
        if item.speed_m_s is not None:
            speed = item.speed_m_s
    sorties: list[PatrolPlan] = []
    start = 0
    while start < len(body):
        lo, hi = start + 1, len(body)  # find the largest feasible end in [lo, hi]
        if not estimate_flight(_sortie(plan, body[start:lo], speeds[start], 0), m).feasible:
            raise SortieError(
                f"item {plan.items.index(body[start])} cannot be reached and returned from on one"
                " battery; move it closer to home or use a larger battery"
            )
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if estimate_flight(_sortie(plan, body[start:mid], speeds[start], 0), m).feasible:
                lo = mid
            else:
                hi = mid - 1
        sorties.append(_sortie(plan, body[start:lo], speeds[start], len(sorties) + 1))
        start = lo
    return tuple(sorties)
