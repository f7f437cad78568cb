"""Areas read from GeoJSON or KML: what generators and checks take as input.

Each polygon, line or point has a role, from a `role` property (GeoJSON) or
`role` ExtendedData / a name prefix (KML): `area` (default for polygons),
`nofly`, `fence`, `home`, `route` (default for lines), `poi` (default for
points). What our own plan exports carry reads back too: `path` is a route,
a `nofly`/`fence` Point with `radius_m` is a circle, and `item`/`rally`
points are plan details, not areas, so area readers pass over them.
"""

from __future__ import annotations

from dataclasses import dataclass

from shapely.geometry import Polygon

from missions.plan import GeoPoint, Home

__all__ = ["PLAN_DETAIL_ROLES", "ROLES", "AreaSet"]

ROLES = ("area", "nofly", "fence", "home", "route", "poi", "path", "item", "rally")
PLAN_DETAIL_ROLES = ("item", "rally")


@dataclass(frozen=True, slots=True, kw_only=True)
class AreaSet:
    """Geometries in lon/lat (GeoJSON axis order), sorted by role."""

    areas: tuple[Polygon, ...] = ()
    nofly: tuple[Polygon, ...] = ()
    fences: tuple[Polygon, ...] = ()
    routes: tuple[tuple[GeoPoint, ...], ...] = ()
    points: tuple[GeoPoint, ...] = ()
    home: Home | None = None
