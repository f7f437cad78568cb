"""`QGC WPL 110` `.waypoints` text, read as pymavlink's mavwp reads it.

One item per line: INDEX CURRENT FRAME COMMAND P1 P2 P3 P4 X Y Z
AUTOCONTINUE, X = latitude, Y = longitude, split on any whitespace, `#`
lines are comments. Line 0 is the home position when it is a global (AMSL,
frame 0) item at index 0 with command 0 or 16, as Mission Planner and QGC
write it; we write home that way too, so the file opens in both.
"""

from __future__ import annotations

import math

from missions.formats.errors import FormatError
from missions.mavlink import MavItem, MavItemError, mission_items, plan_from_mav_items
from missions.plan import Home, PatrolPlan, PlanError

__all__ = ["plan_to_waypoints", "read_waypoints", "waypoints_to_plan", "write_waypoints"]

HEADER = "QGC WPL 110"
_MAV_FRAME_TO_WPL = {6: 3, 5: 0}  # the *_INT frames written as their float twins


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "nan"
    return f"{value:.8f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def plan_to_waypoints(plan: PatrolPlan) -> str:
    home = plan.home or Home(lat_deg=plan.items[0].lat_deg, lon_deg=plan.items[0].lon_deg)
    lines = [HEADER]
    row = [0, 1, 0, 16, 0, 0, 0, 0, home.lat_deg, home.lon_deg, home.amsl_m, 1]
    lines.append("\t".join(_fmt(float(v)) for v in row))
    for mav in mission_items(plan):
        positioned = mav.frame != 2
        row = [
            mav.seq + 1,
            0,
            _MAV_FRAME_TO_WPL.get(mav.frame, mav.frame),
            int(mav.command),
            mav.param1,
            mav.param2,
            mav.param3,
            mav.param4,
            mav.lat_deg if positioned else 0.0,
            mav.lon_deg if positioned else 0.0,
            mav.z,
            mav.autocontinue,
        ]
        lines.append("\t".join(_fmt(float(v)) for v in row))
    return "\n".join(lines) + "\n"


def write_waypoints(plan: PatrolPlan, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(plan_to_waypoints(plan))


def waypoints_to_plan(text: str, source: str = "<waypoints>") -> PatrolPlan:
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None or not lines[first].strip().startswith("QGC WPL"):
        raise FormatError(source, "line 1", f"expected the header {HEADER!r}")
    version = lines[first].split()[-1]
    if version != "110":
        raise FormatError(
            source, f"line {first + 1}", f"version {version} is not supported; expected 110"
        )
    home: Home | None = None
    items: list[MavItem] = []
    for n, raw in enumerate(lines[first + 1 :], start=first + 2):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 12:
            raise FormatError(
                source,
                f"line {n}",
                f"{len(fields)} values; expected 12 (INDEX CURRENT FRAME COMMAND P1 P2 P3 P4"
                " X/lat Y/lon Z AUTOCONTINUE)",
            )
        try:
            seq, current, frame, command = (int(float(v)) for v in fields[:4])
            p1, p2, p3, p4, lat, lon, z = (float(v) for v in fields[4:11])
            autocontinue = int(float(fields[11]))
        except (ValueError, OverflowError) as exc:  # OverflowError: "inf" in an int column
            raise FormatError(source, f"line {n}", f"{exc}; expected numbers") from exc
        if seq == 0 and not items and home is None and frame == 0 and command in (0, 16):
            try:
                home = Home(lat_deg=lat, lon_deg=lon, amsl_m=z)
            except PlanError as exc:
                raise FormatError(source, f"line {n}", f"home: {exc}") from exc
            continue
        if not (
            math.isfinite(lat) and -90 <= lat <= 90 and math.isfinite(lon) and -180 <= lon <= 180
        ):
            if frame != 2:
                raise FormatError(
                    source, f"line {n}", f"X={lat} Y={lon} is not a latitude, longitude"
                )
            lat = lon = 0.0
        items.append(
            MavItem(
                seq=len(items),
                frame=frame,
                command=command,
                current=current,
                autocontinue=autocontinue,
                param1=p1,
                param2=p2,
                param3=p3,
                param4=p4,
                x=round(lat * 1e7),
                y=round(lon * 1e7),
                z=z,
            )
        )
    try:
        return plan_from_mav_items(items, name=source, home=home)
    except (MavItemError, PlanError) as exc:
        raise FormatError(source, "", str(exc)) from exc


def read_waypoints(path: str) -> PatrolPlan:
    with open(path, encoding="utf-8") as f:
        return waypoints_to_plan(f.read(), path)
