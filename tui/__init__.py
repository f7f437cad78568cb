"""Textual operator console: fleet view, map, planner, incidents, confirmed commands."""

from tui.app import ConsoleOptions, DroneOpsConsole
from tui.backend import (
    CommandRequest,
    ConsoleBackend,
    ConsoleCommandError,
    DispatchProposal,
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
    PreviewImage,
    StatusText,
    Update,
    VehicleView,
)
from tui.planning import GenerateRequest, PlanRequestError, generate_plan, parse_request
from tui.screens.planner import PlanTools

__all__ = [
    "Alert",
    "AlertLevel",
    "CommandRequest",
    "ConsoleBackend",
    "ConsoleCommandError",
    "ConsoleOptions",
    "DispatchProposal",
    "DroneOpsConsole",
    "EvidenceView",
    "FleetModel",
    "GenerateRequest",
    "IncidentAction",
    "IncidentStatus",
    "IncidentView",
    "PlanRequestError",
    "PlanTools",
    "PreviewImage",
    "StatusText",
    "Update",
    "VehicleAction",
    "VehicleView",
    "generate_plan",
    "parse_request",
]
