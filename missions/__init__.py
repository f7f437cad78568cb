"""Patrol planning: plans, generators, constraints, energy and file formats.

Leaf package: imports nothing of ours. The controller turns a `PatrolPlan`
into MAVLink items with `mission_items`/`fence_items`/`rally_items` (and
compares a download with `mission_mismatches`); generators and checks work
on shapely geometries in lon/lat.
"""

from missions.constraints import CheckReport, Limits, Violation, check_plan
from missions.energy import EnergyModel, FlightEstimate, estimate_flight
from missions.errors import MissionsError
from missions.formats import AreaSet, FormatError, load_areas, load_plan, save_plan
from missions.generators import (
    CoverageSpec,
    GeneratorError,
    coverage,
    orbit,
    perimeter,
    route,
    split,
)
from missions.geo import LocalFrame
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
from missions.sorties import SortieError, split_sorties

__all__ = [
    "AreaSet",
    "CameraAction",
    "CheckReport",
    "CoverageSpec",
    "EnergyModel",
    "FenceCircle",
    "FencePolygon",
    "FlightEstimate",
    "FormatError",
    "GeneratorError",
    "GeoPoint",
    "Geofence",
    "Home",
    "ItemKind",
    "Limits",
    "LocalFrame",
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
    "SortieError",
    "Violation",
    "check_plan",
    "coverage",
    "estimate_flight",
    "fence_from_mav_items",
    "fence_items",
    "load_areas",
    "load_plan",
    "mission_items",
    "mission_mismatches",
    "orbit",
    "perimeter",
    "plan_from_mav_items",
    "rally_from_mav_items",
    "rally_items",
    "route",
    "save_plan",
    "split",
    "split_sorties",
]
