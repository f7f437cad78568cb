"""Is a point inside a plan's geofence? PX4's rules: every inclusion zone, no exclusion zone.

PX4 combines several inclusion fences with AND (PX4 issue 27099), so a point
must be inside each of them and outside every exclusion zone.
"""

from __future__ import annotations

import math
from functools import lru_cache

from shapely.geometry import Point, Polygon
from shapely.prepared import PreparedGeometry, prep

from missions.plan import FencePolygon, Geofence

__all__ = ["distance_m", "fence_violation"]

_EARTH_R_M = 6_371_008.8


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine); plenty for fences and distance-to-go."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_R_M * math.asin(min(1.0, math.sqrt(a)))


@lru_cache(maxsize=256)
def _prepared(poly: FencePolygon) -> PreparedGeometry:
    return prep(Polygon([(v.lon_deg, v.lat_deg) for v in poly.vertices]))


def fence_violation(fence: Geofence, lat_deg: float, lon_deg: float) -> str | None:
    """None when the point is allowed, else which zone it breaks (for the error message)."""
    pt = Point(lon_deg, lat_deg)
    for i, poly in enumerate(fence.polygons):
        inside = _prepared(poly).covers(pt)
        if poly.inclusion and not inside:
            return f"outside inclusion polygon {i + 1}"
        if not poly.inclusion and inside:
            return f"inside exclusion polygon {i + 1}"
    for i, circle in enumerate(fence.circles):
        d = distance_m(circle.center.lat_deg, circle.center.lon_deg, lat_deg, lon_deg)
        if circle.inclusion and d > circle.radius_m:
            return (
                f"{d:.0f} m from the centre of inclusion circle {i + 1} "
                f"(radius {circle.radius_m:.0f} m)"
            )
        if not circle.inclusion and d <= circle.radius_m:
            return f"inside exclusion circle {i + 1}"
    return None
