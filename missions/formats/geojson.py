"""GeoJSON (RFC 7946): areas in, plans out.

Input: a FeatureCollection, a Feature or a bare geometry. Polygons and
MultiPolygons are areas unless their `role` property says `nofly` or
`fence`; LineStrings are routes; Points are points of interest, or home
with `role: home` (optional third coordinate = AMSL altitude).
Output: the plan's path as a LineString (altitudes relative to home in the
third coordinate), one Point per mission item with its properties, the
fence polygons/circles and rally points, and home.
"""

from __future__ import annotations

import json
import math
from typing import Any

from shapely.geometry import Point, Polygon
from shapely.validation import explain_validity

from missions.formats.areas import PLAN_DETAIL_ROLES, ROLES, AreaSet
from missions.formats.errors import FormatError
from missions.geo import LocalFrame
from missions.plan import GeoPoint, Home, ItemKind, PatrolPlan

__all__ = ["areas_from_geojson", "plan_to_geojson", "read_geojson_areas", "write_geojson"]


def _fail(source: str, path: str, message: str) -> FormatError:
    return FormatError(source, path, message)


def _position(source: str, value: Any, path: str) -> tuple[float, float, float | None]:
    if (
        not isinstance(value, list)
        or len(value) < 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise _fail(
            source, path, f"expected a position [lon, lat(, alt)], got {json.dumps(value)[:40]}"
        )
    lon, lat = float(value[0]), float(value[1])
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise _fail(source, path, f"[{lon}, {lat}] is not [longitude, latitude] (GeoJSON order)")
    return lon, lat, float(value[2]) if len(value) > 2 else None


def _ring(source: str, value: Any, path: str) -> list[tuple[float, float]]:
    if not isinstance(value, list) or len(value) < 4:
        raise _fail(source, path, "expected a closed ring of at least 4 positions")
    pts = [_position(source, p, f"{path}[{i}]")[:2] for i, p in enumerate(value)]
    if pts[0] != pts[-1]:
        raise _fail(
            source, path, "ring is not closed; expected the last position to repeat the first"
        )
    return pts


def _polygon(source: str, coords: Any, path: str) -> Polygon:
    if not isinstance(coords, list) or not coords:
        raise _fail(source, path, "expected a list of rings")
    rings = [_ring(source, r, f"{path}[{i}]") for i, r in enumerate(coords)]
    poly = Polygon(rings[0], rings[1:])
    if not poly.is_valid:
        raise _fail(
            source, path, f"invalid polygon ({explain_validity(poly)}); expected a simple ring"
        )
    return poly


def areas_from_geojson(obj: Any, source: str = "<geojson>") -> AreaSet:
    features: list[tuple[str, Any]] = []
    if not isinstance(obj, dict) or "type" not in obj:
        raise _fail(source, "", 'expected a GeoJSON object with a "type"')
    if obj["type"] == "FeatureCollection":
        feats = obj.get("features")
        if not isinstance(feats, list):
            raise _fail(source, "features", "expected a list of features")
        features = [(f"features[{i}]", f) for i, f in enumerate(feats)]
    elif obj["type"] == "Feature":
        features = [("", obj)]
    else:
        features = [("", {"type": "Feature", "geometry": obj, "properties": {}})]
    areas: list[Polygon] = []
    nofly: list[Polygon] = []
    fences: list[Polygon] = []
    routes: list[tuple[GeoPoint, ...]] = []
    points: list[GeoPoint] = []
    home: Home | None = None
    for path, feat in features:
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            raise _fail(source, path, "expected a Feature")
        props = feat.get("properties") or {}
        geom = feat.get("geometry")
        gpath = f"{path}.geometry" if path else "geometry"
        role = props.get("role") if isinstance(props, dict) else None
        if role is not None and role not in ROLES:
            raise _fail(
                source,
                f"{path}.properties.role",
                f"{role!r} is not a role; expected one of {', '.join(ROLES)}",
            )
        if role in PLAN_DETAIL_ROLES:
            continue
        if not isinstance(geom, dict) or "type" not in geom:
            raise _fail(source, gpath, "expected a geometry object")
        gtype = geom["type"]
        coords = geom.get("coordinates")
        cpath = f"{gpath}.coordinates"
        if gtype in ("Polygon", "MultiPolygon"):
            polys = (
                [_polygon(source, coords, cpath)]
                if gtype == "Polygon"
                else [
                    _polygon(source, c, f"{cpath}[{i}]")
                    for i, c in enumerate(coords if isinstance(coords, list) else [None])
                ]
            )
            role = role or "area"
            target = {"area": areas, "nofly": nofly, "fence": fences}.get(role)
            if target is None:
                raise _fail(
                    source,
                    f"{path}.properties.role",
                    f"{role!r} does not fit a polygon; expected area, nofly or fence",
                )
            target.extend(polys)
        elif gtype == "LineString" and role in (None, "route", "path"):
            if not isinstance(coords, list) or len(coords) < 2:
                raise _fail(source, cpath, "expected at least 2 positions")
            pts = [_position(source, p, f"{cpath}[{i}]") for i, p in enumerate(coords)]
            routes.append(tuple(GeoPoint(lat_deg=p[1], lon_deg=p[0]) for p in pts))
        elif gtype == "Point":
            lon, lat, alt = _position(source, coords, cpath)
            radius = props.get("radius_m") if isinstance(props, dict) else None
            if role == "home":
                home = Home(lat_deg=lat, lon_deg=lon, amsl_m=alt or 0.0)
            elif role in ("nofly", "fence"):
                if isinstance(radius, bool) or not isinstance(radius, (int, float)) or radius <= 0:
                    raise _fail(
                        source,
                        f"{path}.properties.radius_m",
                        f"a {role} Point needs radius_m > 0 (a circle); got {radius!r}",
                    )
                frame = LocalFrame(lat, lon)
                circle = frame.geom_to_lonlat(Point(0.0, 0.0).buffer(float(radius), quad_segs=16))
                (nofly if role == "nofly" else fences).append(circle)
            else:
                points.append(GeoPoint(lat_deg=lat, lon_deg=lon))
        else:
            raise _fail(
                source,
                f"{gpath}.type",
                f"{gtype!r} is not supported; expected Polygon, MultiPolygon, LineString or Point",
            )
    return AreaSet(
        areas=tuple(areas),
        nofly=tuple(nofly),
        fences=tuple(fences),
        routes=tuple(routes),
        points=tuple(points),
        home=home,
    )


def read_geojson_areas(path: str) -> AreaSet:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(
            path, f"line {exc.lineno} column {exc.colno}", f"invalid JSON ({exc.msg})"
        ) from exc
    return areas_from_geojson(obj, path)


def _closed(coords: list[list[float]]) -> list[list[float]]:
    return [*coords, coords[0]]


def plan_to_geojson(plan: PatrolPlan) -> dict[str, Any]:
    feats: list[dict[str, Any]] = []
    path = [
        [i.lon_deg, i.lat_deg, i.rel_alt_m]
        for i in plan.items
        if i.kind is not ItemKind.RETURN_TO_LAUNCH
    ]
    if plan.home is not None:
        feats.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "Point",
                    "coordinates": [plan.home.lon_deg, plan.home.lat_deg, plan.home.amsl_m],
                },
                "properties": {"role": "home"},
            }
        )
    if len(path) >= 2:
        feats.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": path},
                "properties": {"role": "path", "name": plan.name, "kind": plan.kind},
            }
        )
    for k, item in enumerate(plan.items):
        if item.kind is ItemKind.RETURN_TO_LAUNCH:
            geom: dict[str, Any] | None = None
        else:
            geom = {"type": "Point", "coordinates": [item.lon_deg, item.lat_deg, item.rel_alt_m]}
        feats.append(
            {
                "type": "Feature",
                "geometry": geom,
                "properties": {
                    "role": "item",
                    "index": k,
                    "kind": str(item.kind),
                    "rel_alt_m": item.rel_alt_m,
                    "speed_m_s": item.speed_m_s,
                    "hold_s": item.hold_s,
                    "camera": str(item.camera),
                },
            }
        )
    for poly in plan.fence.polygons:
        ring = [[v.lon_deg, v.lat_deg] for v in poly.vertices]
        feats.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [_closed(ring)]},
                "properties": {"role": "fence" if poly.inclusion else "nofly"},
            }
        )
    for circle in plan.fence.circles:
        feats.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "Point",
                    "coordinates": [circle.center.lon_deg, circle.center.lat_deg],
                },
                "properties": {
                    "role": "fence" if circle.inclusion else "nofly",
                    "radius_m": circle.radius_m,
                },
            }
        )
    for r in plan.rally:
        feats.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [r.lon_deg, r.lat_deg, r.rel_alt_m]},
                "properties": {"role": "rally"},
            }
        )
    return {"type": "FeatureCollection", "features": feats}


def write_geojson(plan: PatrolPlan, path: str) -> None:
    doc = plan_to_geojson(plan)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(_no_nan(doc), f, indent=2, allow_nan=False)
        f.write("\n")


def _no_nan(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return value
