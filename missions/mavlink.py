"""The one place a `PatrolPlan` becomes MAVLink mission items, and back.

`MavItem` is a neutral value (no pymavlink objects) shaped like
MISSION_ITEM_INT: x/y are integer degE7, z is metres. What we emit, and why:

* Mission (mission_type 0): navigation items use frame 6
  (GLOBAL_RELATIVE_ALT_INT), which PX4 echoes on download. Per plan item we
  emit, in MAVSDK's order: the navigation command, then DO_CHANGE_SPEED (178)
  when the item sets a speed ("speed from this item on"), then the camera
  command. Camera actions use the camera-protocol commands PX4 accepts inside
  missions: IMAGE_START_CAPTURE (2000, one photo), VIDEO_START_CAPTURE (2500),
  VIDEO_STOP_CAPTURE (2501). Non-positional commands use frame 2 (MISSION).
* Hold time is NAV_WAYPOINT param1; acceptance radius is param2.
* The planned home is never item 0 (the MAVSDK-Python issue 644 trap).
* Fence (mission_type 1): polygons as runs of 5001/5002 vertices (param1 =
  vertex count), circles as 5003/5004 (param1 = radius m), frame 0 (GLOBAL).
* Rally (mission_type 2): 5100 with frame 6, z = altitude above home.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import IntEnum

from missions.errors import MissionsError
from missions.plan import (
    CameraAction,
    FenceCircle,
    FencePolygon,
    Geofence,
    GeoPoint,
    Home,
    ItemKind,
    MissionItem,
    PatrolPlan,
    RallyPoint,
)

__all__ = [
    "MavCmd",
    "MavFrame",
    "MavItem",
    "MavItemError",
    "MissionType",
    "fence_from_mav_items",
    "fence_items",
    "mission_items",
    "mission_mismatches",
    "plan_from_mav_items",
    "rally_from_mav_items",
    "rally_items",
]


class MavItemError(MissionsError, ValueError):
    """MAVLink mission items that cannot be turned into a plan."""


class MissionType(IntEnum):
    MISSION = 0
    FENCE = 1
    RALLY = 2


class MavFrame(IntEnum):
    GLOBAL = 0
    LOCAL_NED = 1
    MISSION = 2
    GLOBAL_RELATIVE_ALT = 3
    GLOBAL_INT = 5
    GLOBAL_RELATIVE_ALT_INT = 6


class MavCmd(IntEnum):
    NAV_WAYPOINT = 16
    NAV_LOITER_UNLIM = 17
    NAV_LOITER_TIME = 19
    NAV_RETURN_TO_LAUNCH = 20
    NAV_LAND = 21
    NAV_TAKEOFF = 22
    DO_CHANGE_SPEED = 178
    IMAGE_START_CAPTURE = 2000
    VIDEO_START_CAPTURE = 2500
    VIDEO_STOP_CAPTURE = 2501
    NAV_FENCE_POLYGON_VERTEX_INCLUSION = 5001
    NAV_FENCE_POLYGON_VERTEX_EXCLUSION = 5002
    NAV_FENCE_CIRCLE_INCLUSION = 5003
    NAV_FENCE_CIRCLE_EXCLUSION = 5004
    NAV_RALLY_POINT = 5100


_NAV_BY_KIND = {
    ItemKind.WAYPOINT: MavCmd.NAV_WAYPOINT,
    ItemKind.TAKEOFF: MavCmd.NAV_TAKEOFF,
    ItemKind.LOITER_TIME: MavCmd.NAV_LOITER_TIME,
    ItemKind.LOITER_UNLIM: MavCmd.NAV_LOITER_UNLIM,
    ItemKind.LAND: MavCmd.NAV_LAND,
    ItemKind.RETURN_TO_LAUNCH: MavCmd.NAV_RETURN_TO_LAUNCH,
}
_KIND_BY_NAV = {int(cmd): kind for kind, cmd in _NAV_BY_KIND.items()}
_CAMERA_CMD = {
    CameraAction.PHOTO: MavCmd.IMAGE_START_CAPTURE,
    CameraAction.START_VIDEO: MavCmd.VIDEO_START_CAPTURE,
    CameraAction.STOP_VIDEO: MavCmd.VIDEO_STOP_CAPTURE,
}
_CAMERA_BY_CMD = {int(cmd): action for action, cmd in _CAMERA_CMD.items()}
_RELATIVE_FRAMES = {int(MavFrame.GLOBAL_RELATIVE_ALT), int(MavFrame.GLOBAL_RELATIVE_ALT_INT)}
_AMSL_FRAMES = {int(MavFrame.GLOBAL), int(MavFrame.GLOBAL_INT)}


@dataclass(frozen=True, slots=True, kw_only=True)
class MavItem:
    """One MISSION_ITEM_INT's worth of fields; x/y are degE7, z is metres."""

    seq: int
    frame: int
    command: int
    current: int = 0
    autocontinue: int = 1
    param1: float = 0.0
    param2: float = 0.0
    param3: float = 0.0
    param4: float = 0.0
    x: int = 0
    y: int = 0
    z: float = 0.0
    mission_type: int = MissionType.MISSION

    @property
    def lat_deg(self) -> float:
        return self.x / 1e7

    @property
    def lon_deg(self) -> float:
        return self.y / 1e7


def deg_e7(value_deg: float) -> int:
    """Degrees to MAVLink's integer degE7 (rounded, not truncated)."""
    return round(value_deg * 1e7)


def _nav_item(seq: int, item: MissionItem) -> MavItem:
    cmd = _NAV_BY_KIND[item.kind]
    nan = math.nan
    if item.kind is ItemKind.RETURN_TO_LAUNCH:
        return MavItem(seq=seq, frame=MavFrame.MISSION, command=cmd)
    p1 = p2 = p3 = 0.0
    p4 = nan  # yaw: keep the vehicle's heading logic
    if item.kind is ItemKind.WAYPOINT:
        p1 = item.hold_s
        p2 = item.acceptance_radius_m or 0.0
    elif item.kind is ItemKind.LOITER_TIME:
        p1 = item.hold_s
    elif item.kind is ItemKind.TAKEOFF:
        p1 = 0.0  # pitch (fixed-wing only)
    return MavItem(
        seq=seq,
        frame=MavFrame.GLOBAL_RELATIVE_ALT_INT,
        command=cmd,
        param1=p1,
        param2=p2,
        param3=p3,
        param4=p4,
        x=deg_e7(item.lat_deg),
        y=deg_e7(item.lon_deg),
        z=item.rel_alt_m,
    )


def mission_items(plan: PatrolPlan) -> tuple[MavItem, ...]:
    """The plan's mission as MAVLink items, seq from 0, no home item."""
    out: list[MavItem] = []
    for item in plan.items:
        out.append(_nav_item(len(out), item))
        if item.speed_m_s is not None:
            out.append(
                MavItem(
                    seq=len(out),
                    frame=MavFrame.MISSION,
                    command=MavCmd.DO_CHANGE_SPEED,
                    param1=1.0,  # ground speed
                    param2=item.speed_m_s,
                    param3=-1.0,  # throttle unchanged
                )
            )
        if item.camera is not CameraAction.NONE:
            cam = _CAMERA_CMD[item.camera]
            p3 = 1.0 if cam is MavCmd.IMAGE_START_CAPTURE else 0.0  # one image
            out.append(MavItem(seq=len(out), frame=MavFrame.MISSION, command=cam, param3=p3))
    return tuple(out)


def fence_items(plan: PatrolPlan) -> tuple[MavItem, ...]:
    """The plan's geofence as MAVLink fence items (mission_type 1)."""
    return _fence_items(plan.fence)


def _fence_items(fence: Geofence) -> tuple[MavItem, ...]:
    out: list[MavItem] = []
    for poly in fence.polygons:
        cmd = (
            MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION
            if poly.inclusion
            else MavCmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION
        )
        for vertex in poly.vertices:
            out.append(
                MavItem(
                    seq=len(out),
                    frame=MavFrame.GLOBAL,
                    command=cmd,
                    param1=float(len(poly.vertices)),
                    x=deg_e7(vertex.lat_deg),
                    y=deg_e7(vertex.lon_deg),
                    mission_type=MissionType.FENCE,
                )
            )
    for circle in fence.circles:
        cmd = (
            MavCmd.NAV_FENCE_CIRCLE_INCLUSION
            if circle.inclusion
            else MavCmd.NAV_FENCE_CIRCLE_EXCLUSION
        )
        out.append(
            MavItem(
                seq=len(out),
                frame=MavFrame.GLOBAL,
                command=cmd,
                param1=circle.radius_m,
                x=deg_e7(circle.center.lat_deg),
                y=deg_e7(circle.center.lon_deg),
                mission_type=MissionType.FENCE,
            )
        )
    return tuple(out)


def rally_items(plan: PatrolPlan) -> tuple[MavItem, ...]:
    """The plan's rally points as MAVLink rally items (mission_type 2)."""
    return tuple(
        MavItem(
            seq=i,
            frame=MavFrame.GLOBAL_RELATIVE_ALT_INT,
            command=MavCmd.NAV_RALLY_POINT,
            x=deg_e7(point.lat_deg),
            y=deg_e7(point.lon_deg),
            z=point.rel_alt_m,
            mission_type=MissionType.RALLY,
        )
        for i, point in enumerate(plan.rally)
    )


def _rel_alt(item: MavItem, home: Home | None, where: str) -> float:
    if item.frame in _RELATIVE_FRAMES:
        return float(item.z)
    if item.frame in _AMSL_FRAMES:
        if home is None:
            raise MavItemError(
                f"{where}: frame {item.frame} is AMSL altitude; give the home position"
                " to convert it to altitude above home"
            )
        return float(item.z) - home.amsl_m
    raise MavItemError(
        f"{where}: frame {item.frame} is not supported; expected 0, 3, 5 or 6 (global frames)"
    )


def _mission_from_items(items: Sequence[MavItem], home: Home | None) -> list[MissionItem]:
    plan_items: list[MissionItem] = []
    for item in sorted(items, key=lambda i: i.seq):
        where = f"mission item {item.seq} (command {item.command})"
        kind = _KIND_BY_NAV.get(item.command)
        if kind is not None:
            if kind is ItemKind.RETURN_TO_LAUNCH:
                plan_items.append(
                    MissionItem(kind=kind, lat_deg=math.nan, lon_deg=math.nan, rel_alt_m=0.0)
                )
                continue
            hold = item.param1 if kind in (ItemKind.WAYPOINT, ItemKind.LOITER_TIME) else 0.0
            radius = item.param2 if kind is ItemKind.WAYPOINT and item.param2 > 0 else None
            plan_items.append(
                MissionItem(
                    kind=kind,
                    lat_deg=item.lat_deg,
                    lon_deg=item.lon_deg,
                    rel_alt_m=_rel_alt(item, home, where),
                    hold_s=hold if math.isfinite(hold) and hold > 0 else 0.0,
                    acceptance_radius_m=radius,
                )
            )
            continue
        if not plan_items:
            raise MavItemError(f"{where}: expected a navigation command before it")
        last = plan_items[-1]
        if item.command == MavCmd.DO_CHANGE_SPEED:
            if not (math.isfinite(item.param2) and item.param2 > 0):
                continue  # -1 / 0 mean "no change" in MAVLink
            plan_items[-1] = replace(last, speed_m_s=float(item.param2))
        elif item.command in _CAMERA_BY_CMD:
            plan_items[-1] = replace(last, camera=_CAMERA_BY_CMD[item.command])
        else:
            raise MavItemError(
                f"{where}: command {item.command} is not supported; expected one of "
                + ", ".join(str(int(c)) for c in (*_NAV_BY_KIND.values(), *_CAMERA_CMD.values()))
                + ", 178"
            )
    return plan_items


def fence_from_mav_items(items: Iterable[MavItem]) -> Geofence:
    """Rebuild a geofence from fence items (vertex runs sized by param1)."""
    ordered = sorted(items, key=lambda i: i.seq)
    polygons: list[FencePolygon] = []
    circles: list[FenceCircle] = []
    i = 0
    while i < len(ordered):
        item = ordered[i]
        where = f"fence item {item.seq} (command {item.command})"
        if item.command in (
            MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION,
            MavCmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
        ):
            count = int(item.param1)
            run = ordered[i : i + count]
            if count < 3 or len(run) < count or any(v.command != item.command for v in run):
                raise MavItemError(
                    f"{where}: polygon announces {count} vertices; expected that many"
                    " consecutive vertices of the same kind (at least 3)"
                )
            polygons.append(
                FencePolygon(
                    vertices=tuple(GeoPoint(lat_deg=v.lat_deg, lon_deg=v.lon_deg) for v in run),
                    inclusion=item.command == MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                )
            )
            i += count
            continue
        if item.command in (MavCmd.NAV_FENCE_CIRCLE_INCLUSION, MavCmd.NAV_FENCE_CIRCLE_EXCLUSION):
            circles.append(
                FenceCircle(
                    center=GeoPoint(lat_deg=item.lat_deg, lon_deg=item.lon_deg),
                    radius_m=float(item.param1),
                    inclusion=item.command == MavCmd.NAV_FENCE_CIRCLE_INCLUSION,
                )
            )
            i += 1
            continue
        raise MavItemError(f"{where}: expected a fence command 5001..5004")
    return Geofence(polygons=tuple(polygons), circles=tuple(circles))


def rally_from_mav_items(
    items: Iterable[MavItem], home: Home | None = None
) -> tuple[RallyPoint, ...]:
    """Rebuild rally points from rally items (command 5100)."""
    out: list[RallyPoint] = []
    for item in sorted(items, key=lambda i: i.seq):
        where = f"rally item {item.seq} (command {item.command})"
        if item.command != MavCmd.NAV_RALLY_POINT:
            raise MavItemError(f"{where}: expected command 5100 (NAV_RALLY_POINT)")
        out.append(
            RallyPoint(
                lat_deg=item.lat_deg, lon_deg=item.lon_deg, rel_alt_m=_rel_alt(item, home, where)
            )
        )
    return tuple(out)


def plan_from_mav_items(
    mission: Sequence[MavItem],
    fence: Sequence[MavItem] = (),
    rally: Sequence[MavItem] = (),
    *,
    name: str = "downloaded",
    home: Home | None = None,
) -> PatrolPlan:
    """Inverse of `mission_items`/`fence_items`/`rally_items` (download-and-compare).

    Coordinates come back quantised to degE7 (about 1 cm).
    """
    items = _mission_from_items(mission, home)
    if not items:
        raise MavItemError("mission has no navigation items; expected at least one")
    return PatrolPlan(
        name=name,
        items=tuple(items),
        fence=fence_from_mav_items(fence),
        rally=rally_from_mav_items(rally, home),
        home=home,
    )


_POSITIONED_CMDS = {16, 17, 19, 21, 22, 5001, 5002, 5003, 5004, 5100}
_SAME_FRAME = {3: 6, 6: 6, 0: 5, 5: 5}


def _same_float(a: float, b: float, tol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tol


def mission_mismatches(sent: Sequence[MavItem], received: Sequence[MavItem]) -> tuple[str, ...]:
    """What differs between items uploaded and items downloaded back (empty: same).

    Tolerates what PX4 legitimately changes: the `current` flag, the float and
    INT twins of a frame (3/6, 0/5), the frame of non-positional items, and
    float rounding (params to 1e-4, altitude to 1 cm).
    """
    out: list[str] = []
    if len(sent) != len(received):
        out.append(f"count: sent {len(sent)} items, vehicle has {len(received)}")
    for a, b in zip(
        sorted(sent, key=lambda i: i.seq), sorted(received, key=lambda i: i.seq), strict=False
    ):
        where = f"item {a.seq}"
        if a.command != b.command:
            out.append(f"{where}: command {a.command} sent, {b.command} on the vehicle")
            continue
        if a.command in _POSITIONED_CMDS:
            if _SAME_FRAME.get(a.frame, a.frame) != _SAME_FRAME.get(b.frame, b.frame):
                out.append(f"{where}: frame {a.frame} sent, {b.frame} on the vehicle")
            if (a.x, a.y) != (b.x, b.y):
                out.append(f"{where}: position {a.x},{a.y} sent, {b.x},{b.y} on the vehicle")
            if not _same_float(a.z, b.z, 0.01):
                out.append(f"{where}: altitude {a.z} sent, {b.z} on the vehicle")
        for k, (pa, pb) in enumerate(
            zip(
                (a.param1, a.param2, a.param3, a.param4),
                (b.param1, b.param2, b.param3, b.param4),
                strict=True,
            ),
            1,
        ):
            if not _same_float(pa, pb, 1e-4):
                out.append(f"{where}: param{k} {pa} sent, {pb} on the vehicle")
    return tuple(out)
