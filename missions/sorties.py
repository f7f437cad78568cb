"""Split a plan that one battery cannot fly into sorties that each can.

Each sortie takes off at home, flies a consecutive run of the plan's items
and returns; the run is the longest that stays feasible (energy to every
point plus the return from it within the usable capacity). Feasibility only
grows with fewer items, so the cut is found by bisection.
"""

from __future__ import annotations

import math
from dataclasses import replace

from missions.energy import EnergyModel, estimate_flight, plan_home
from missions.errors import MissionsError
from missions.plan import CameraAction, ItemKind, MissionItem, PatrolPlan

__all__ = ["SortieError", "split_sorties"]


class SortieError(MissionsError, ValueError):
    """A plan that cannot be split into feasible sorties."""


def _sortie(plan: PatrolPlan, run: list[MissionItem], speed: float | None, n: int) -> PatrolPlan:
    home = plan_home(plan)
    video = any(i.camera is CameraAction.START_VIDEO for i in plan.items)
    body = list(run)
    if video:
        body[0] = replace(body[0], camera=CameraAction.START_VIDEO)
        body[-1] = replace(body[-1], camera=CameraAction.STOP_VIDEO)
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
