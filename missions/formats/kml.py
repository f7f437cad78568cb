"""KML 2.2: areas in (Placemarks), plans out (for Google Earth).

Input: every Placemark's Polygon (outer and inner boundaries), LineString
and Point, in any folder depth, with or without the KML namespace. Roles
as in GeoJSON, from `<ExtendedData><Data name="role">` or a Placemark name
starting with a role word (`nofly: park pond`, `home`). Coordinates are
`lon,lat[,alt]` tuples separated by whitespace.
Output: the path as a LineString with relativeToGround altitudes, a Point
per mission item, fence polygons, rally points and home.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from shapely.geometry import Polygon
from shapely.validation import explain_validity

from missions.formats.areas import PLAN_DETAIL_ROLES, ROLES, AreaSet
from missions.formats.errors import FormatError
from missions.plan import GeoPoint, Home, ItemKind, PatrolPlan

__all__ = ["areas_from_kml", "plan_to_kml", "read_kml_areas", "write_kml"]

KML_NS = "http://www.opengis.net/kml/2.2"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el.iter() if _local(c.tag) == name]


def _coords(
    source: str, el: ET.Element | None, where: str
) -> list[tuple[float, float, float | None]]:
    if el is None or not (el.text or "").strip():
        raise FormatError(source, where, "missing <coordinates>; expected lon,lat[,alt] tuples")
    out = []
    for k, tup in enumerate(el.text.split() if el.text else [], 1):
        parts = tup.split(",")
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise FormatError(
                source, f"{where} tuple {k}", f"{tup!r} is not lon,lat[,alt]"
            ) from None
        if len(values) not in (2, 3) or not (-180 <= values[0] <= 180 and -90 <= values[1] <= 90):
            raise FormatError(source, f"{where} tuple {k}", f"{tup!r} is not lon,lat[,alt]")
        out.append((values[0], values[1], values[2] if len(values) == 3 else None))
    return out


def _first(el: ET.Element, name: str) -> ET.Element | None:
    for c in el.iter():
        if _local(c.tag) == name:
            return c
    return None


def _role(placemark: ET.Element) -> str | None:
    for data in _children(placemark, "Data"):
        if data.get("name") == "role":
            value = _first(data, "value")
            return (value.text or "").strip() if value is not None else None
    name = _first(placemark, "name")
    if name is not None and name.text:
        word = name.text.strip().split(":")[0].split()[0].lower().replace("-", "")
        if word in ROLES:
            return word
    return None


def areas_from_kml(text: str, source: str = "<kml>") -> AreaSet:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        line, col = exc.position
        raise FormatError(
            source, f"line {line} column {col}", f"invalid XML ({exc.msg.split(':')[0]})"
        ) from exc
    areas: list[Polygon] = []
    nofly: list[Polygon] = []
    fences: list[Polygon] = []
    routes: list[tuple[GeoPoint, ...]] = []
    points: list[GeoPoint] = []
    home: Home | None = None
    placemarks = _children(root, "Placemark")
    if not placemarks:
        raise FormatError(source, "", "no <Placemark>; expected polygons, lines or points")
    for n, pm in enumerate(placemarks, 1):
        name_el = _first(pm, "name")
        where = f"Placemark {n}" + (
            f" ({name_el.text.strip()})" if name_el is not None and name_el.text else ""
        )
        role = _role(pm)
        if role is not None and role not in ROLES:
            raise FormatError(source, where, f"role {role!r}; expected one of {', '.join(ROLES)}")
        if role in PLAN_DETAIL_ROLES:
            continue
        for poly_el in _children(pm, "Polygon"):
            outer = _first(poly_el, "outerBoundaryIs")
            if outer is None:
                raise FormatError(source, where, "Polygon without <outerBoundaryIs>")
            shell = [
                c[:2]
                for c in _coords(source, _first(outer, "coordinates"), f"{where} outer boundary")
            ]
            holes = [
                [
                    c[:2]
                    for c in _coords(
                        source, _first(inner, "coordinates"), f"{where} inner boundary {k}"
                    )
                ]
                for k, inner in enumerate(_children(poly_el, "innerBoundaryIs"), 1)
            ]
            if len(shell) < 3:
                raise FormatError(source, where, "polygon outer boundary needs at least 3 points")
            poly = Polygon(shell, holes)
            if not poly.is_valid:
                raise FormatError(source, where, f"invalid polygon ({explain_validity(poly)})")
            target = {"area": areas, "nofly": nofly, "fence": fences}.get(role or "area")
            if target is None:
                raise FormatError(source, where, f"role {role!r} does not fit a polygon")
            target.append(poly)
        for line_el in _children(pm, "LineString"):
            pts = _coords(source, _first(line_el, "coordinates"), f"{where} LineString")
            routes.append(tuple(GeoPoint(lat_deg=p[1], lon_deg=p[0]) for p in pts))
        for pt_el in _children(pm, "Point"):
            p = _coords(source, _first(pt_el, "coordinates"), f"{where} Point")[0]
            if role == "home":
                home = Home(lat_deg=p[1], lon_deg=p[0], amsl_m=p[2] or 0.0)
            else:
                points.append(GeoPoint(lat_deg=p[1], lon_deg=p[0]))
    return AreaSet(
        areas=tuple(areas),
        nofly=tuple(nofly),
        fences=tuple(fences),
        routes=tuple(routes),
        points=tuple(points),
        home=home,
    )


def read_kml_areas(path: str) -> AreaSet:
    with open(path, encoding="utf-8") as f:
        return areas_from_kml(f.read(), path)


def _c(lon: float, lat: float, alt: float | None = None) -> str:
    return f"{lon:.8f},{lat:.8f}" + (f",{alt:.2f}" if alt is not None else "")


def _point(lon: float, lat: float, rel_alt_m: float | None = None) -> str:
    mode = "" if rel_alt_m is None else "<altitudeMode>relativeToGround</altitudeMode>"
    return f"<Point>{mode}<coordinates>{_c(lon, lat, rel_alt_m)}</coordinates></Point>"


def _placemark(name: str, role: str, geometry: str) -> str:
    return (
        f"<Placemark><name>{escape(name)}</name>"
        f'<ExtendedData><Data name="role"><value>{role}</value></Data></ExtendedData>'
        f"{geometry}</Placemark>"
    )


def plan_to_kml(plan: PatrolPlan) -> str:
    marks: list[str] = []
    if plan.home is not None:
        marks.append(
            _placemark(
                "home",
                "home",
                _point(plan.home.lon_deg, plan.home.lat_deg),
            )
        )
    path = [i for i in plan.items if i.kind is not ItemKind.RETURN_TO_LAUNCH]
    if len(path) >= 2:
        coords = " ".join(_c(i.lon_deg, i.lat_deg, i.rel_alt_m) for i in path)
        marks.append(
            _placemark(
                plan.name,
                "path",
                "<LineString><altitudeMode>relativeToGround</altitudeMode>"
                f"<coordinates>{coords}</coordinates></LineString>",
            )
        )
    for k, item in enumerate(plan.items):
        if item.kind is ItemKind.RETURN_TO_LAUNCH or math.isnan(item.lat_deg):
            continue
        marks.append(
            _placemark(
                f"{k} {item.kind}",
                "item",
                _point(item.lon_deg, item.lat_deg, item.rel_alt_m),
            )
        )
    for k, poly in enumerate(plan.fence.polygons, 1):
        ring = [*poly.vertices, poly.vertices[0]]
        coords = " ".join(_c(v.lon_deg, v.lat_deg) for v in ring)
        role = "fence" if poly.inclusion else "nofly"
        marks.append(
            _placemark(
                f"{role} {k}",
                role,
                f"<Polygon><outerBoundaryIs><LinearRing><coordinates>{coords}</coordinates>"
                "</LinearRing></outerBoundaryIs></Polygon>",
            )
        )
    for k, r in enumerate(plan.rally, 1):
        marks.append(
            _placemark(
                f"rally {k}",
                "rally",
                _point(r.lon_deg, r.lat_deg, r.rel_alt_m),
            )
        )
    body = "".join(marks)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<kml xmlns="{KML_NS}"><Document><name>{escape(plan.name)}</name>{body}</Document></kml>\n'
    )


def write_kml(plan: PatrolPlan, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(plan_to_kml(plan))
