"""Turn a schedule's `PlanSource` into the `PatrolPlan` a run flies.

Generators are built around the chosen vehicle's home at run time (a dock
fleet's vehicles each start from their own dock). Supported generators:

- `square`: `side_m` (default 60), `alt_m` (20) — a square route around home;
- `orbit`: `north_m`/`east_m` offset of the centre from home (or `lat`/`lon`),
  `radius_m` (50), `alt_m` (40), `laps` (1);
- `route`: `points` as `lat,lon;lat,lon;...`, `alt_m` (40).

Plan files go through the missions package's readers, by extension:

- `.plan` (QGroundControl) and `.waypoints` (`QGC WPL 110`): flown as written;
- `.geojson`/`.json`/`.kml` areas: a line (or points) is flown as a route, one
  area polygon as a perimeter loop (10 m inside its edge), from the chosen
  vehicle's home at run time, at `alt_m` 40.

`check_plan_file` reads a file the way a run will, so `schedule add` refuses a
bad one at once rather than when the run is due.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from drone_ops.schedule import PlanSource, ScheduleError
from missions.generators import orbit, perimeter, route
from missions.plan import GeoPoint, Home, PatrolPlan

__all__ = ["AREA_SUFFIXES", "GENERATORS", "PLAN_SUFFIXES", "check_plan_file", "load_plan"]

PLAN_SUFFIXES = (".plan", ".waypoints")
AREA_SUFFIXES = (".geojson", ".json", ".kml")
_AREA_ALT_M = 40.0
_AREA_MARGIN_M = 10.0

_M_PER_DEG = 111_195.0


def _offset(home: Home, north_m: float, east_m: float) -> GeoPoint:
    lat = home.lat_deg + north_m / _M_PER_DEG
    lon = home.lon_deg + east_m / (_M_PER_DEG * math.cos(math.radians(home.lat_deg)))
    return GeoPoint(lat_deg=lat, lon_deg=lon)


def _num(params: Mapping[str, Any], key: str, default: float) -> float:
    try:
        return float(params.get(key, default))
    except (TypeError, ValueError):
        raise ScheduleError(f"generator parameter {key}={params[key]!r} is not a number") from None


def _square(params: Mapping[str, Any], home: Home, name: str) -> PatrolPlan:
    half = _num(params, "side_m", 60.0) / 2
    corners = [(half, half), (half, -half), (-half, -half), (-half, half), (half, half)]
    return route(
        [_offset(home, n, e) for n, e in corners],
        home=home,
        alt_m=_num(params, "alt_m", 20.0),
        name=name,
    )


def _orbit(params: Mapping[str, Any], home: Home, name: str) -> PatrolPlan:
    if "lat" in params and "lon" in params:
        center = GeoPoint(lat_deg=_num(params, "lat", 0), lon_deg=_num(params, "lon", 0))
    else:
        center = _offset(home, _num(params, "north_m", 0.0), _num(params, "east_m", 0.0))
    return orbit(
        center,
        home=home,
        radius_m=_num(params, "radius_m", 50.0),
        laps=int(_num(params, "laps", 1)),
        alt_m=_num(params, "alt_m", 40.0),
        name=name,
    )


def _route(params: Mapping[str, Any], home: Home, name: str) -> PatrolPlan:
    text = str(params.get("points", ""))
    points: list[GeoPoint] = []
    for pair in filter(None, text.split(";")):
        lat, _, lon = pair.partition(",")
        try:
            points.append(GeoPoint(lat_deg=float(lat), lon_deg=float(lon)))
        except ValueError:
            raise ScheduleError(f"route point {pair!r} is not LAT,LON") from None
    return route(points, home=home, alt_m=_num(params, "alt_m", 40.0), name=name)


GENERATORS: dict[str, Callable[[Mapping[str, Any], Home, str], PatrolPlan]] = {
    "square": _square,
    "orbit": _orbit,
    "route": _route,
}


def load_plan(source: PlanSource, *, home: Home, name: str) -> PatrolPlan:
    """The plan to fly from `home`; a `ScheduleError` or `MissionsError` says what is wrong."""
    if source.generator is not None:
        make = GENERATORS.get(source.generator)
        if make is None:
            known = ", ".join(sorted(GENERATORS))
            raise ScheduleError(f"unknown generator {source.generator!r}: use one of {known}")
        return make(source.params, home, name)
    assert source.file is not None
    path = Path(source.file)
    if not path.is_file():
        raise ScheduleError(f"plan file {path} does not exist any more: re-add the schedule")
    return _read_file(path, home=home, name=name)


def check_plan_file(path: Path) -> PatrolPlan:
    """Read `path` as a run will (areas planned from the file's home, or the area's
    centre); the error says what is wrong with the file."""
    if not path.is_file():
        raise ScheduleError(f"plan file {path} does not exist: give the path of a plan file")
    return _read_file(path, home=None, name=path.stem)


def _without_home(points: list[GeoPoint], home: Home) -> list[GeoPoint]:
    def at_home(p: GeoPoint) -> bool:
        return abs(p.lat_deg - home.lat_deg) < 1e-6 and abs(p.lon_deg - home.lon_deg) < 1e-6

    while len(points) > 1 and at_home(points[0]):
        points = points[1:]
    while len(points) > 1 and at_home(points[-1]):
        points = points[:-1]
    return points


def _read_file(path: Path, *, home: Home | None, name: str) -> PatrolPlan:
    from missions.formats import load_areas
    from missions.formats import load_plan as read_plan_file

    suffix = path.suffix.lower()
    if suffix in PLAN_SUFFIXES:
        return read_plan_file(str(path))
    if suffix not in AREA_SUFFIXES:
        known = ", ".join((*PLAN_SUFFIXES, *AREA_SUFFIXES))
        raise ScheduleError(f"plan file {path}: unknown type {suffix or '(none)'}; use {known}")
    areas = load_areas(str(path))
    if areas.routes or (areas.points and not areas.areas):
        points = list(areas.routes[0]) if areas.routes else list(areas.points)
        if areas.home is not None:  # an exported plan's path starts (and ends) at its home
            points = _without_home(points, areas.home)
        start = home or areas.home or Home(lat_deg=points[0].lat_deg, lon_deg=points[0].lon_deg)
        return route(points, home=start, alt_m=_AREA_ALT_M, name=name)
    if len(areas.areas) != 1:
        raise ScheduleError(
            f"plan file {path}: {len(areas.areas)} area polygons; a schedule flies one area "
            "or one line (split the file)"
        )
    area = areas.areas[0]
    if home is None:
        centre = area.representative_point()
        home = areas.home or Home(lat_deg=float(centre.y), lon_deg=float(centre.x))
    return perimeter(area, home=home, alt_m=_AREA_ALT_M, margin_m=_AREA_MARGIN_M, name=name)
