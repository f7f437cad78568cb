"""Textual operator console: fleet view, map, planner, incidents, confirmed commands."""

from tui.app import ConsoleOptions, DroneOpsConsole
from tui.backend import (
    CommandRequest,
    ConsoleBackend,
    ConsoleCommandError,
    IncidentAction,
    VehicleAction,
)
from tui.model import (
    Alert,
    AlertLevel,
    EvidenceView,
    FleetModel,
    IncidentStatus,
    IncidentView,
    StatusText,
    Update,
    VehicleView,
)
from tui.screens.planner import PlanTools

__all__ = [
    "Alert",
    "AlertLevel",
    "CommandRequest",
    "ConsoleBackend",
    "ConsoleCommandError",
    "ConsoleOptions",
    "DroneOpsConsole",
    "EvidenceView",
    "FleetModel",
    "IncidentAction",
    "IncidentStatus",
    "IncidentView",
    "PlanTools",
    "StatusText",
    "Update",
    "VehicleAction",
    "VehicleView",
]
