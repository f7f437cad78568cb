"""QGroundControl `.plan` JSON, read and written.

Written with every field QGC requires (spec: qgroundcontrol
docs/en/qgc-dev-guide/file_formats/plan.md): mission version 2 for PX4
(firmwareType 12) quadrotors (vehicleType 2), relative altitudes
(frame 3, AltitudeMode 1), the planned home only as `plannedHomePosition`
(never as an item), fence polygons clockwise. Complex items (survey,
CorridorScan) are read through the simple items QGC stored inside them;
camera-trigger and gimbal commands inside them are not part of our model,
so they are listed in the plan's `params["skipped_commands"]`.
"""

from __future__ import annotations

import json
import math
from typing import Any

from missions.formats.errors import FormatError
from missions.mavlink import MavFrame, MavItem, MavItemError, mission_items, plan_from_mav_items
from missions.plan import (
    FenceCircle,
    FencePolygon,
    Geofence,
    GeoPoint,
    Home,
    PatrolPlan,
    PlanError,
    RallyPoint,
)

__all__ = ["plan_from_qgc", "plan_to_qgc", "read_qgc_plan", "write_qgc_plan"]

_POSITIONED = {16, 17, 19, 21, 22}
_QGC_FRAME = {int(MavFrame.GLOBAL_RELATIVE_ALT_INT): int(MavFrame.GLOBAL_RELATIVE_ALT)}


def _num(value: float) -> float | None:
    return None if math.isnan(value) else value


def plan_to_qgc(plan: PatrolPlan) -> dict[str, Any]:
    """The plan as a QGC `.plan` document (a JSON-ready dict)."""
    home = plan.home or Home(lat_deg=plan.items[0].lat_deg, lon_deg=plan.items[0].lon_deg)
    items: list[dict[str, Any]] = []
    for mav in mission_items(plan):
        frame = _QGC_FRAME.get(mav.frame, mav.frame)
        positioned = mav.command in _POSITIONED
        item: dict[str, Any] = {
            "autoContinue": bool(mav.autocontinue),
            "command": int(mav.command),
            "doJumpId": mav.seq + 1,
            "frame": frame,
            "params": [
                _num(mav.param1),
                _num(mav.param2),
                _num(mav.param3),
                _num(mav.param4),
                mav.lat_deg if positioned else 0,
                mav.lon_deg if positioned else 0,
                mav.z if positioned else 0,
            ],
            "type": "SimpleItem",
        }
        if positioned:
            item |= {"AMSLAltAboveTerrain": None, "Altitude": mav.z, "AltitudeMode": 1}
        items.append(item)
    polygons = []
    for poly in plan.fence.polygons:
        pts = [[v.lat_deg, v.lon_deg] for v in poly.vertices]
        if _signed_area(pts) > 0:  # counter-clockwise in lon/lat: QGC wants clockwise
            pts.reverse()
        polygons.append({"inclusion": poly.inclusion, "polygon": pts, "version": 1})
    circles = [
        {
            "circle": {"center": [c.center.lat_deg, c.center.lon_deg], "radius": c.radius_m},
            "inclusion": c.inclusion,
            "version": 1,
        }
        for c in plan.fence.circles
    ]
    return {
        "fileType": "Plan",
        "geoFence": {"circles": circles, "polygons": polygons, "version": 2},
        "groundStation": "drone-ops",
        "mission": {
            "cruiseSpeed": 15,
            "firmwareType": 12,
            "globalPlanAltitudeMode": 1,
            "hoverSpeed": _hover_speed(plan),
            "items": items,
            "plannedHomePosition": [home.lat_deg, home.lon_deg, home.amsl_m],
            "vehicleType": 2,
            "version": 2,
        },
        "rallyPoints": {
            "points": [[r.lat_deg, r.lon_deg, r.rel_alt_m] for r in plan.rally],
            "version": 2,
        },
        "version": 1,
        "droneOps": {"name": plan.name, "kind": plan.kind, "params": dict(plan.params)},
    }


def _hover_speed(plan: PatrolPlan) -> float:
    for item in plan.items:
        if item.speed_m_s is not None:
            return item.speed_m_s
    return 5.0


def _signed_area(pts: list[list[float]]) -> float:
    # x = lon, y = lat
    return 0.5 * sum(a[1] * b[0] - b[1] * a[0] for a, b in zip(pts, pts[1:] + pts[:1], strict=True))


def write_qgc_plan(plan: PatrolPlan, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(plan_to_qgc(plan), f, indent=4, allow_nan=False)
        f.write("\n")


# ------------------------------------------------------------------ reading


class _Doc:
    """JSON access that names the path of what is missing or wrong."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, message: str) -> FormatError:
        return FormatError(self.source, path, message)

    def get(
        self, obj: Any, key: str, path: str, kind: type | tuple[type, ...], default: Any = ...
    ) -> Any:
        if not isinstance(obj, dict):
            raise self.fail(path, f"expected an object, got {type(obj).__name__}")
        if key not in obj:
            if default is not ...:
                return default
            raise self.fail(f"{path}.{key}" if path else key, "missing; expected it to be present")
        value = obj[key]
        if not isinstance(value, kind) or (
            isinstance(value, bool) and kind in (int, float, (int, float))
        ):
            names = (
                kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            )
            raise self.fail(
                f"{path}.{key}" if path else key, f"expected {names}, got {json.dumps(value)[:40]}"
            )
        return value

    def number(self, value: Any, path: str) -> float:
        if value is None:
            return math.nan
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(path, f"expected a number or null, got {json.dumps(value)[:40]}")
        return float(value)

    def latlon(self, value: Any, path: str, size: int = 2) -> list[float]:
        if not isinstance(value, list) or len(value) < size:
            raise self.fail(path, f"expected [lat, lon{', alt' if size > 2 else ''}]")
        out = [self.number(v, f"{path}[{i}]") for i, v in enumerate(value[:size])]
        if not (-90 <= out[0] <= 90 and -180 <= out[1] <= 180):
            raise self.fail(path, f"[{out[0]}, {out[1]}] is not a latitude, longitude pair")
        return out


def _simple_item(doc: _Doc, obj: Any, path: str, seq: int) -> MavItem:
    command = doc.get(obj, "command", path, int)
    frame = doc.get(obj, "frame", path, int)
    params = doc.get(obj, "params", path, list)
    if len(params) != 7:
        raise doc.fail(f"{path}.params", f"expected 7 values, got {len(params)}")
    p = [doc.number(v, f"{path}.params[{i}]") for i, v in enumerate(params)]
    x = round(p[4] * 1e7) if math.isfinite(p[4]) else 0
    y = round(p[5] * 1e7) if math.isfinite(p[5]) else 0
    z = p[6] if math.isfinite(p[6]) else 0.0
    return MavItem(
        seq=seq,
        frame=frame,
        command=command,
        autocontinue=int(bool(obj.get("autoContinue", True))),
        param1=p[0],
        param2=p[1],
        param3=p[2],
        param4=p[3],
        x=x,
        y=y,
        z=z,
    )


_SUPPORTED = {16, 17, 19, 20, 21, 22, 178, 2000, 2500, 2501}


def plan_from_qgc(obj: Any, source: str = "<plan>") -> PatrolPlan:
    """A plan from a parsed QGC `.plan` document."""
    doc = _Doc(source)
    if doc.get(obj, "fileType", "", str) != "Plan":
        raise doc.fail("fileType", f'expected "Plan", got {json.dumps(obj["fileType"])}')
    mission = doc.get(obj, "mission", "", dict)
    home_pos = doc.latlon(
        doc.get(mission, "plannedHomePosition", "mission", list), "mission.plannedHomePosition", 3
    )
    home = Home(
        lat_deg=home_pos[0],
        lon_deg=home_pos[1],
        amsl_m=home_pos[2] if math.isfinite(home_pos[2]) else 0.0,
    )
    raw_items = doc.get(mission, "items", "mission", list)
    mav: list[MavItem] = []
    skipped: list[str] = []
    for i, item in enumerate(raw_items):
        path = f"mission.items[{i}]"
        kind = doc.get(item, "type", path, str)
        if kind == "SimpleItem":
            m = _simple_item(doc, item, path, len(mav))
            if m.command not in _SUPPORTED:
                raise doc.fail(
                    f"{path}.command",
                    f"command {m.command} is not supported; expected one of "
                    + ", ".join(str(c) for c in sorted(_SUPPORTED)),
                )
            mav.append(m)
        elif kind == "ComplexItem":
            ctype = doc.get(item, "complexItemType", path, str)
            if ctype not in ("survey", "CorridorScan"):
                raise doc.fail(
                    f"{path}.complexItemType",
                    f"complex item {ctype!r} cannot be read; expected survey or CorridorScan"
                    " (re-plan it with drone-ops plan coverage or perimeter)",
                )
            transect = doc.get(item, "TransectStyleComplexItem", path, dict)
            inner = doc.get(transect, "Items", f"{path}.TransectStyleComplexItem", list)
            for j, sub in enumerate(inner):
                sub_path = f"{path}.TransectStyleComplexItem.Items[{j}]"
                m = _simple_item(doc, sub, sub_path, len(mav))
                if m.command in _SUPPORTED:
                    mav.append(m)
                else:
                    skipped.append(f"{sub_path}: command {m.command}")
        else:
            raise doc.fail(f"{path}.type", f"expected SimpleItem or ComplexItem, got {kind!r}")
    fence = _fence(doc, obj.get("geoFence"))
    rally = _rally(doc, obj.get("rallyPoints"))
    meta = obj.get("droneOps") if isinstance(obj.get("droneOps"), dict) else {}
    try:
        plan = plan_from_mav_items(mav, name=str(meta.get("name", source)), home=home)
    except (MavItemError, PlanError) as exc:
        raise doc.fail("mission.items", str(exc)) from exc
    params = dict(meta.get("params", {})) if isinstance(meta.get("params"), dict) else {}
    if skipped:
        params["skipped_commands"] = skipped
    return PatrolPlan(
        name=plan.name,
        kind=str(meta.get("kind", "route")),
        items=plan.items,
        fence=fence,
        rally=rally,
        home=home,
        params=params,
    )


def _fence(doc: _Doc, obj: Any) -> Geofence:
    if obj is None:
        return Geofence()
    polygons: list[FencePolygon] = []
    for i, poly in enumerate(doc.get(obj, "polygons", "geoFence", list, [])):
        path = f"geoFence.polygons[{i}]"
        pts = doc.get(poly, "polygon", path, list)
        if len(pts) < 3:
            raise doc.fail(f"{path}.polygon", f"expected at least 3 vertices, got {len(pts)}")
        vertices = tuple(
            GeoPoint(lat_deg=ll[0], lon_deg=ll[1])
            for ll in (doc.latlon(p, f"{path}.polygon[{j}]") for j, p in enumerate(pts))
        )
        polygons.append(
            FencePolygon(vertices=vertices, inclusion=doc.get(poly, "inclusion", path, bool, True))
        )
    circles: list[FenceCircle] = []
    for i, circ in enumerate(doc.get(obj, "circles", "geoFence", list, [])):
        path = f"geoFence.circles[{i}]"
        body = doc.get(circ, "circle", path, dict)
        center = doc.latlon(
            doc.get(body, "center", f"{path}.circle", list), f"{path}.circle.center"
        )
        radius = doc.number(
            doc.get(body, "radius", f"{path}.circle", (int, float)), f"{path}.circle.radius"
        )
        if not radius > 0:
            raise doc.fail(f"{path}.circle.radius", f"expected a radius > 0 m, got {radius}")
        circles.append(
            FenceCircle(
                center=GeoPoint(lat_deg=center[0], lon_deg=center[1]),
                radius_m=radius,
                inclusion=doc.get(circ, "inclusion", path, bool, True),
            )
        )
    return Geofence(polygons=tuple(polygons), circles=tuple(circles))


def _rally(doc: _Doc, obj: Any) -> tuple[RallyPoint, ...]:
    if obj is None:
        return ()
    out = []
    for i, p in enumerate(doc.get(obj, "points", "rallyPoints", list, [])):
        ll = doc.latlon(p, f"rallyPoints.points[{i}]", 3)
        out.append(RallyPoint(lat_deg=ll[0], lon_deg=ll[1], rel_alt_m=ll[2]))
    return tuple(out)


def read_qgc_plan(path: str) -> PatrolPlan:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(
            path, f"line {exc.lineno} column {exc.colno}", f"invalid JSON ({exc.msg})"
        ) from exc
    return plan_from_qgc(obj, path)
