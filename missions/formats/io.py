"""Pick the file format from the extension."""

from __future__ import annotations

import os

from missions.formats.areas import AreaSet
from missions.formats.errors import FormatError
from missions.formats.geojson import read_geojson_areas, write_geojson
from missions.formats.kml import read_kml_areas, write_kml
from missions.formats.qgc_plan import read_qgc_plan, write_qgc_plan
from missions.formats.waypoints import read_waypoints, write_waypoints
from missions.plan import PatrolPlan

__all__ = ["PLAN_READ", "PLAN_WRITE", "load_areas", "load_plan", "save_plan"]

PLAN_READ = (".plan", ".waypoints")
PLAN_WRITE = (".plan", ".waypoints", ".geojson", ".json", ".kml")
AREA_READ = (".geojson", ".json", ".kml")


def _ext(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def _not_utf8(path: str, exc: UnicodeDecodeError) -> FormatError:
    return FormatError(path, f"byte {exc.start}", "not UTF-8 text; save the file as UTF-8")


def load_plan(path: str) -> PatrolPlan:
    ext = _ext(path)
    try:
        if ext == ".plan":
            return read_qgc_plan(path)
        if ext in (".waypoints", ".txt"):
            return read_waypoints(path)
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from exc
    raise FormatError(
        path,
        "",
        f"cannot read a plan from {ext or 'no extension'}; expected .plan or .waypoints",
    )


def save_plan(plan: PatrolPlan, path: str) -> None:
    ext = _ext(path)
    writers = {
        ".plan": write_qgc_plan,
        ".waypoints": write_waypoints,
        ".geojson": write_geojson,
        ".json": write_geojson,
        ".kml": write_kml,
    }
    writer = writers.get(ext)
    if writer is None:
        raise FormatError(
            path,
            "",
            f"cannot write a plan as {ext or 'no extension'};"
            f" expected one of {', '.join(PLAN_WRITE)}",
        )
    writer(plan, path)


def load_areas(path: str) -> AreaSet:
    ext = _ext(path)
    try:
        if ext in (".geojson", ".json"):
            return read_geojson_areas(path)
        if ext == ".kml":
            return read_kml_areas(path)
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from exc
    raise FormatError(
        path,
        "",
        f"cannot read areas from {ext or 'no extension'}; expected .geojson or .kml",
    )
