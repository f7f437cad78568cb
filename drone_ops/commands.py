"""Vehicle commands: their errors, and the safety checks run before a moving command is sent."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from drone_ops.config import SafetyConfig
from drone_ops.errors import DroneOpsError
from drone_ops.geofence import fence_violation
from drone_ops.state import VehicleState
from missions.plan import Geofence

__all__ = [
    "Command",
    "CommandFailed",
    "CommandRefused",
    "CommandTimeout",
    "LinkDown",
    "VehicleError",
    "check_move",
]


class Command(StrEnum):
    ARM = "arm"
    DISARM = "disarm"
    TAKEOFF = "takeoff"
    GOTO = "goto"
    HOLD = "hold"
    CONTINUE = "continue"
    SET_SPEED = "set_speed"
    RTL = "rtl"
    LAND = "land"
    UPLOAD_PLAN = "upload_plan"
    START_MISSION = "start_mission"
    PAUSE = "pause"
    RESUME = "resume"
    ABORT = "abort"

    @property
    def moves(self) -> bool:
        """Commands that send the vehicle somewhere new (RTL, land and hold make it safer)."""
        return self in _MOVING


_MOVING = frozenset(
    {
        Command.ARM,
        Command.TAKEOFF,
        Command.GOTO,
        Command.CONTINUE,
        Command.SET_SPEED,
        Command.START_MISSION,
        Command.RESUME,
    }
)


class VehicleError(DroneOpsError):
    """Something about one vehicle; the message starts with the vehicle id."""

    def __init__(self, vehicle_id: str, message: str) -> None:
        super().__init__(f"vehicle {vehicle_id}: {message}")
        self.vehicle_id = vehicle_id


class LinkDown(VehicleError):
    """The vehicle is not connected, so nothing can be sent."""


class CommandRefused(VehicleError):
    """The controller refused to send a command: it failed a safety check."""

    def __init__(self, vehicle_id: str, command: Command, why: str) -> None:
        super().__init__(vehicle_id, f"{command} refused by the controller: {why}")
        self.command = command
        self.why = why


class CommandFailed(VehicleError):
    """The vehicle refused or failed a command; `reason` is what it said (STATUSTEXT)."""

    def __init__(
        self, vehicle_id: str, command: Command, result: str, reason: str | None = None
    ) -> None:
        text = f"{command} failed: {result}"
        if reason:
            text += f" ({reason})"
        super().__init__(vehicle_id, text)
        self.command = command
        self.result = result
        self.reason = reason


class CommandTimeout(CommandFailed):
    """No answer in time."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    lat_deg: float
    lon_deg: float
    rel_alt_m: float


def check_move(
    command: Command,
    state: VehicleState,
    safety: SafetyConfig,
    fence: Geofence | None,
    target: Target | None = None,
    speed_m_s: float | None = None,
) -> str | None:
    """Why `command` must not be sent now, or None. Run before anything that moves a vehicle."""
    if not command.moves:
        return None
    pct = state.battery_pct
    if pct is not None and pct < safety.min_battery_pct_to_move:
        reserve = safety.min_battery_pct_to_move
        return f"battery {pct:.0f} % is below the {reserve:.0f} % reserve; use rtl or land"
    if speed_m_s is not None and not (math.isfinite(speed_m_s) and 0 < speed_m_s <= 30):
        return f"speed {speed_m_s} m/s is outside 0..30 m/s"
    if target is None:
        return None
    if not (math.isfinite(target.lat_deg) and math.isfinite(target.lon_deg)):
        return "target position is not a number"
    if not (-90 <= target.lat_deg <= 90 and -180 <= target.lon_deg <= 180):
        return f"target {target.lat_deg}, {target.lon_deg} is not a position on Earth"
    if not math.isfinite(target.rel_alt_m) or target.rel_alt_m < 0:
        return f"altitude {target.rel_alt_m} m above home must be >= 0"
    if target.rel_alt_m > safety.altitude_ceiling_m:
        return (
            f"altitude {target.rel_alt_m:.0f} m is above the ceiling "
            f"{safety.altitude_ceiling_m:.0f} m"
        )
    if fence is not None and not fence.is_empty:
        why = fence_violation(fence, target.lat_deg, target.lon_deg)
        if why is not None:
            return f"target {target.lat_deg:.6f}, {target.lon_deg:.6f} is {why} of the geofence"
    return None
