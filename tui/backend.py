"""What the console needs from a controller: one feed in, commands out.

The console depends on this protocol, not on a concrete fleet, so it can run
against the in-process controller (`tui.fleet_backend`) or later a remote one.
Errors a user can act on are raised as `drone_ops.DroneOpsError` (message names
the vehicle and its reason); the console shows them as notifications.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from drone_ops.errors import DroneOpsError
from missions.plan import PatrolPlan
from tui.model import IncidentView, PreviewImage, Update

__all__ = [
    "CommandRequest",
    "ConsoleBackend",
    "ConsoleCommandError",
    "DispatchProposal",
    "IncidentAction",
    "VehicleAction",
]


class ConsoleCommandError(DroneOpsError):
    """A console request was malformed before it reached the controller."""


class VehicleAction(StrEnum):
    """Every command an operator can send to a vehicle. Each one moves or may move it."""

    ARM = "arm"
    TAKEOFF = "takeoff"
    START_PATROL = "start_patrol"
    PAUSE = "pause"
    RESUME = "resume"
    GOTO = "goto"
    RTL = "rtl"
    LAND = "land"
    ABORT = "abort"

    @property
    def label(self) -> str:
        return _TITLES[self]


_TITLES = {
    VehicleAction.ARM: "Arm",
    VehicleAction.TAKEOFF: "Take off",
    VehicleAction.START_PATROL: "Start patrol",
    VehicleAction.PAUSE: "Pause",
    VehicleAction.RESUME: "Resume",
    VehicleAction.GOTO: "Go to",
    VehicleAction.RTL: "Return to launch",
    VehicleAction.LAND: "Land",
    VehicleAction.ABORT: "Abort sortie (RTL)",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandRequest:
    """One confirmed operator command, validated before it leaves the console."""

    vehicle_id: str
    action: VehicleAction
    alt_m: float | None = None  # take off / go to altitude, relative to home
    lat_deg: float | None = None  # go to
    lon_deg: float | None = None
    plan: PatrolPlan | None = None  # start patrol

    def __post_init__(self) -> None:
        if not self.vehicle_id:
            raise ConsoleCommandError("no vehicle selected: pick one in the fleet table first")
        if self.action in (VehicleAction.TAKEOFF, VehicleAction.GOTO) and (
            self.alt_m is None or not math.isfinite(self.alt_m) or not 1.0 <= self.alt_m <= 500.0
        ):
            raise ConsoleCommandError(
                f"{self.action.label}: altitude {self.alt_m} m is outside 1..500 m; enter another"
            )
        if self.action is VehicleAction.GOTO and (
            self.lat_deg is None
            or self.lon_deg is None
            or not -90.0 <= self.lat_deg <= 90.0
            or not -180.0 <= self.lon_deg <= 180.0
        ):
            raise ConsoleCommandError(
                f"Go to: position {self.lat_deg}, {self.lon_deg} is not a valid latitude/longitude"
            )
        if self.action is VehicleAction.START_PATROL and self.plan is None:
            raise ConsoleCommandError("Start patrol: no plan loaded; open one in the planner (o)")

    def describe(self) -> str:
        """The words the confirmation dialog shows: action, vehicle and parameters."""
        text = f"{self.action.label} {self.vehicle_id}"
        if self.action is VehicleAction.TAKEOFF:
            text += f" to {self.alt_m:.0f} m"
        elif self.action is VehicleAction.GOTO:
            text += f" → {self.lat_deg:.6f}, {self.lon_deg:.6f} at {self.alt_m:.0f} m"
        elif self.action is VehicleAction.START_PATROL and self.plan is not None:
            text += f" with plan {self.plan.name!r} ({len(self.plan.items)} items)"
        return text


class IncidentAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    NOTE = "note"


@dataclass(frozen=True, slots=True, kw_only=True)
class DispatchProposal:
    """The vehicle the controller would send to a point, shown to the operator to confirm."""

    vehicle_id: str
    lat_deg: float
    lon_deg: float
    distance_m: float
    arrive_s: float  # estimated, from the take-off command to over the point (vehicle s)
    need_wh: float  # there, hold and home
    available_wh: float  # battery now above the reserve

    def __post_init__(self) -> None:
        if not (-90.0 <= self.lat_deg <= 90.0 and -180.0 <= self.lon_deg <= 180.0):
            raise ConsoleCommandError(
                f"dispatch: {self.lat_deg}, {self.lon_deg} is not a valid latitude/longitude"
            )

    def describe(self) -> str:
        return f"Dispatch {self.vehicle_id} to {self.lat_deg:.6f}, {self.lon_deg:.6f}"

    def detail(self) -> str:
        return (
            f"{self.vehicle_id} is the nearest ready vehicle: {self.distance_m:.0f} m away, "
            f"about {self.arrive_s:.0f} s to arrive, needs {self.need_wh:.1f} of "
            f"{self.available_wh:.1f} Wh. It takes off, holds over the point and returns."
        )


class ConsoleBackend(Protocol):
    """The controller as the console sees it."""

    def updates(self) -> AsyncIterator[Update]:
        """Every state change, newest state per vehicle; starts with a full snapshot."""
        ...

    async def send(self, request: CommandRequest) -> None:
        """Send one command; returns when the vehicle accepted it, raises with its reason."""
        ...

    async def raise_incident(self, vehicle_id: str, note: str) -> IncidentView:
        """Mark an incident at the vehicle's current position."""
        ...

    async def update_incident(
        self, incident_id: str, action: IncidentAction, note: str = ""
    ) -> IncidentView: ...

    async def propose_dispatch(self, lat_deg: float, lon_deg: float) -> DispatchProposal:
        """The nearest ready vehicle for a point; sends nothing."""
        ...

    async def dispatch(self, proposal: DispatchProposal) -> str:
        """Send exactly the proposed vehicle (or refuse); returns a line saying what flies."""
        ...

    def video_frames(self, vehicle_id: str) -> AsyncIterator[PreviewImage]:
        """Low-rate live preview of the vehicle's camera while iterated; ends at once
        when the vehicle has no recorded camera."""
        ...
