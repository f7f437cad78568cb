"""Geofence geometry for uploaded fences (MAV_MISSION_TYPE_FENCE items).

PX4's rule: the vehicle must be inside every inclusion zone and outside
every exclusion zone (several inclusion zones combine with AND). Polygons
arrive as consecutive vertex items whose param1 is the vertex count; circles
carry their radius in param1. Work is done in the local north/east frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from sitl.mission import (
    FENCE_CIRCLE_EXCLUSION,
    FENCE_CIRCLE_INCLUSION,
    FENCE_POLYGON_EXCLUSION,
    FENCE_POLYGON_INCLUSION,
    MissionItem,
)

__all__ = ["inside_fence", "point_in_polygon"]

ToNed = Callable[[float, float], tuple[float, float]]


def inside_fence(
    fence: Sequence[MissionItem], point_ne: tuple[float, float], to_ned: ToNed
) -> bool:
    """Whether `point_ne` (north, east metres) satisfies every fence zone."""
    north, east = point_ne
    i = 0
    while i < len(fence):
        item = fence[i]
        cmd = item.command
        if cmd in (FENCE_POLYGON_INCLUSION, FENCE_POLYGON_EXCLUSION):
            n = int(item.params[0])
            poly = [to_ned(v.lat_deg, v.lon_deg) for v in fence[i : i + n]]
            inside = point_in_polygon(north, east, poly)
            if (cmd == FENCE_POLYGON_INCLUSION) != inside:
                return False
            i += n
            continue
        if cmd in (FENCE_CIRCLE_INCLUSION, FENCE_CIRCLE_EXCLUSION):
            cn, ce = to_ned(item.lat_deg, item.lon_deg)
            inside = math.hypot(north - cn, east - ce) <= item.params[0]
            if (cmd == FENCE_CIRCLE_INCLUSION) != inside:
                return False
        i += 1
    return True


def point_in_polygon(x: float, y: float, poly: Sequence[tuple[float, float]]) -> bool:
    """Even-odd ray casting."""
    inside = False
    j = len(poly) - 1
    for k in range(len(poly)):
        xk, yk = poly[k]
        xj, yj = poly[j]
        if (yk > y) != (yj > y) and x < (xj - xk) * (y - yk) / (yj - yk) + xk:
            inside = not inside
        j = k
    return inside
