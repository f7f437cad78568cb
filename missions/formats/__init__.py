"""Plan and area file formats: QGC `.plan`, `QGC WPL 110`, GeoJSON, KML."""

from missions.formats.areas import ROLES, AreaSet
from missions.formats.errors import FormatError
from missions.formats.geojson import areas_from_geojson, plan_to_geojson
from missions.formats.io import load_areas, load_plan, save_plan
from missions.formats.kml import areas_from_kml, plan_to_kml
from missions.formats.qgc_plan import plan_from_qgc, plan_to_qgc
from missions.formats.waypoints import plan_to_waypoints, waypoints_to_plan

__all__ = [
    "ROLES",
    "AreaSet",
    "FormatError",
    "areas_from_geojson",
    "areas_from_kml",
    "load_areas",
    "load_plan",
    "plan_from_qgc",
    "plan_to_geojson",
    "plan_to_kml",
    "plan_to_qgc",
    "plan_to_waypoints",
    "save_plan",
    "waypoints_to_plan",
]
