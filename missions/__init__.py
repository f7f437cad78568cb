"""Patrol planning: plans, generators, constraints, energy and file formats.

Leaf package: imports nothing of ours. Importing `missions` is cheap on
purpose (the plan model and its MAVLink form, no shapely or pyproj): the
controller and the CLI load it at start-up. The heavier parts are their own
modules: `missions.generators` (route, perimeter, coverage, orbit, split,
detour), `missions.constraints` (check_plan), `missions.energy`
(estimate_flight), `missions.sorties` (split_sorties), `missions.formats`
(load_plan, save_plan, load_areas), `missions.geo` (LocalFrame).
"""

from missions.errors import MissionsError
from missions.mavlink import (
    MavCmd,
    MavFrame,
    MavItem,
    MavItemError,
    MissionType,
    fence_from_mav_items,
    fence_items,
    mission_items,
    mission_mismatches,
    plan_from_mav_items,
    rally_from_mav_items,
    rally_items,
)
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
    PlanError,
    RallyPoint,
)

__all__ = [
    "CameraAction",
    "FenceCircle",
    "FencePolygon",
    "GeoPoint",
    "Geofence",
    "Home",
    "ItemKind",
    "MavCmd",
    "MavFrame",
    "MavItem",
    "MavItemError",
    "MissionItem",
    "MissionType",
    "MissionsError",
    "PatrolPlan",
    "PlanError",
    "RallyPoint",
    "fence_from_mav_items",
    "fence_items",
    "mission_items",
    "mission_mismatches",
    "plan_from_mav_items",
    "rally_from_mav_items",
    "rally_items",
]
