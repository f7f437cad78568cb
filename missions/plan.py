"""The patrol plan model: immutable values, validated when built.

Altitudes are relative to home (PX4's MAV_FRAME_GLOBAL_RELATIVE_ALT); the
planned home carries the AMSL altitude. Conversion to MAVLink mission items
lives in one place, `missions.mavlink`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from missions.errors import MissionsError

__all__ = [
    "CameraAction",
    "FenceCircle",
    "FencePolygon",
    "GeoPoint",
    "Geofence",
    "Home",
    "ItemKind",
    "MissionItem",
    "PatrolPlan",
    "PlanError",
    "RallyPoint",
]


class PlanError(MissionsError, ValueError):
    """A plan value is out of range or inconsistent."""


def _check_lat_lon(lat_deg: float, lon_deg: float, what: str) -> None:
    if not (math.isfinite(lat_deg) and -90.0 <= lat_deg <= 90.0):
        raise PlanError(f"{what}: latitude {lat_deg!r} is outside -90..90 degrees")
    if not (math.isfinite(lon_deg) and -180.0 <= lon_deg <= 180.0):
        raise PlanError(f"{what}: longitude {lon_deg!r} is outside -180..180 degrees")


class ItemKind(StrEnum):
    WAYPOINT = "waypoint"
    TAKEOFF = "takeoff"
    LOITER_TIME = "loiter_time"
    LOITER_UNLIM = "loiter_unlim"
    LAND = "land"
    RETURN_TO_LAUNCH = "return_to_launch"


class CameraAction(StrEnum):
    NONE = "none"
    PHOTO = "photo"
    START_VIDEO = "start_video"
    STOP_VIDEO = "stop_video"


@dataclass(frozen=True, slots=True, kw_only=True)
class GeoPoint:
    lat_deg: float
    lon_deg: float

    def __post_init__(self) -> None:
        _check_lat_lon(self.lat_deg, self.lon_deg, "point")


@dataclass(frozen=True, slots=True, kw_only=True)
class Home:
    lat_deg: float
    lon_deg: float
    amsl_m: float = 0.0

    def __post_init__(self) -> None:
        _check_lat_lon(self.lat_deg, self.lon_deg, "home")
        if not math.isfinite(self.amsl_m):
            raise PlanError(f"home: altitude {self.amsl_m!r} is not a number")


@dataclass(frozen=True, slots=True, kw_only=True)
class MissionItem:
    """One step of a patrol. `lat_deg`/`lon_deg` are NaN for RTL (no position)."""

    kind: ItemKind
    lat_deg: float
    lon_deg: float
    rel_alt_m: float
    speed_m_s: float | None = None
    hold_s: float = 0.0
    acceptance_radius_m: float | None = None
    camera: CameraAction = CameraAction.NONE

    def __post_init__(self) -> None:
        if self.kind is not ItemKind.RETURN_TO_LAUNCH:
            _check_lat_lon(self.lat_deg, self.lon_deg, f"{self.kind} item")
        if not math.isfinite(self.rel_alt_m):
            raise PlanError(f"{self.kind} item: altitude {self.rel_alt_m!r} is not a number")
        if self.speed_m_s is not None and not (0.0 < self.speed_m_s <= 30.0):
            raise PlanError(f"{self.kind} item: speed {self.speed_m_s} m/s is outside 0..30")
        if not (math.isfinite(self.hold_s) and self.hold_s >= 0.0):
            raise PlanError(f"{self.kind} item: hold time {self.hold_s} s must be >= 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class FencePolygon:
    vertices: tuple[GeoPoint, ...]
    inclusion: bool = True

    def __post_init__(self) -> None:
        if len(self.vertices) < 3:
            raise PlanError(f"fence polygon needs at least 3 vertices, got {len(self.vertices)}")


@dataclass(frozen=True, slots=True, kw_only=True)
class FenceCircle:
    center: GeoPoint
    radius_m: float
    inclusion: bool = True

    def __post_init__(self) -> None:
        if not (math.isfinite(self.radius_m) and self.radius_m > 0.0):
            raise PlanError(f"fence circle radius {self.radius_m!r} m must be > 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class Geofence:
    polygons: tuple[FencePolygon, ...] = ()
    circles: tuple[FenceCircle, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.polygons and not self.circles


@dataclass(frozen=True, slots=True, kw_only=True)
class RallyPoint:
    lat_deg: float
    lon_deg: float
    rel_alt_m: float

    def __post_init__(self) -> None:
        _check_lat_lon(self.lat_deg, self.lon_deg, "rally point")


@dataclass(frozen=True, slots=True, kw_only=True)
class PatrolPlan:
    """What a sortie flies: items, fence, rally points, planned home, provenance."""

    name: str
    items: tuple[MissionItem, ...]
    kind: str = "route"
    fence: Geofence = field(default_factory=Geofence)
    rally: tuple[RallyPoint, ...] = ()
    home: Home | None = None
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if not self.items:
            raise PlanError(f"plan {self.name!r} has no mission items")
        if not isinstance(self.params, MappingProxyType):
            object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
