"""Turn a schedule's `PlanSource` into the `PatrolPlan` a run flies.

Generators are built around the chosen vehicle's home at run time (a dock
fleet's vehicles each start from their own dock). Supported generators:

- `square`: `side_m` (default 60), `alt_m` (20) — a square route around home;
- `orbit`: `north_m`/`east_m` offset of the centre from home (or `lat`/`lon`),
  `radius_m` (50), `alt_m` (40), `laps` (1);
- `route`: `points` as `lat,lon;lat,lon;...`, `alt_m` (40).

Plan files are read by the missions package's format readers when present.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from drone_ops.schedule import PlanSource, ScheduleError
from missions.generators import orbit, route
from missions.plan import GeoPoint, Home, PatrolPlan

__all__ = ["GENERATORS", "load_plan"]

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
    try:
        formats = importlib.import_module("missions.formats")
    except ModuleNotFoundError:
        raise ScheduleError("this build cannot read plan files yet: use a generator") from None
    reader: Callable[[Path], PatrolPlan] = formats.read_plan
    return reader(path)
