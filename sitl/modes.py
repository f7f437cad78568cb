"""PX4 flight modes and how HEARTBEAT encodes them.

custom_mode = (sub_mode << 24) | (main_mode << 16). base_mode is 29 in every
AUTO mode and OFFBOARD (custom | auto | guided | stabilize), 81 in POSCTL and
ALTCTL (custom | stabilize | manual input), +128 when armed.
"""

from __future__ import annotations

from enum import Enum, IntEnum

__all__ = ["FlightMode", "LandedState", "MavState"]

_CUSTOM = 1
_STABILIZE = 16
_GUIDED = 8
_AUTO = 4
_MANUAL_INPUT = 64
ARMED_FLAG = 128


class FlightMode(Enum):
    """(main mode, sub mode, human name as PX4 spells it in STATUSTEXT)."""

    MANUAL = (1, 0, "Manual")
    ALTCTL = (2, 0, "Altitude")
    POSCTL = (3, 0, "Position")
    ACRO = (5, 0, "Acro")
    OFFBOARD = (6, 0, "Offboard")
    STABILIZED = (7, 0, "Stabilized")
    AUTO_READY = (4, 1, "Ready")
    AUTO_TAKEOFF = (4, 2, "Takeoff")
    AUTO_LOITER = (4, 3, "Hold")
    AUTO_MISSION = (4, 4, "Mission")
    AUTO_RTL = (4, 5, "Return")
    AUTO_LAND = (4, 6, "Land")
    AUTO_FOLLOW_TARGET = (4, 8, "Follow Me")
    AUTO_PRECLAND = (4, 9, "Precision Land")

    @property
    def main(self) -> int:
        return self.value[0]

    @property
    def sub(self) -> int:
        return self.value[1]

    @property
    def label(self) -> str:
        return self.value[2]

    @property
    def custom_mode(self) -> int:
        return (self.sub << 24) | (self.main << 16)

    @property
    def is_auto(self) -> bool:
        return self.main == 4 or self is FlightMode.OFFBOARD

    @property
    def needs_rc(self) -> bool:
        """Manual modes need an RC link, which the simulator never has."""
        return not self.is_auto

    def base_mode(self, armed: bool) -> int:
        if self.is_auto:
            base = _CUSTOM | _AUTO | _GUIDED | _STABILIZE
        elif self is FlightMode.ACRO:
            base = _CUSTOM | _MANUAL_INPUT
        else:
            base = _CUSTOM | _STABILIZE | _MANUAL_INPUT
        return base | (ARMED_FLAG if armed else 0)

    @classmethod
    def from_custom(cls, main: int, sub: int) -> FlightMode | None:
        """Decode tolerantly: unknown combinations give None. AUTO without a
        sub mode means Mission, as PX4 treats it."""
        if main == 4 and sub == 0:
            sub = 4
        for mode in cls:
            if mode.main == main and (mode.sub == sub or main != 4):
                return mode
        return None


class LandedState(IntEnum):
    """MAV_LANDED_STATE."""

    UNDEFINED = 0
    ON_GROUND = 1
    IN_AIR = 2
    TAKEOFF = 3
    LANDING = 4


class MavState(IntEnum):
    """MAV_STATE (HEARTBEAT system_status)."""

    UNINIT = 0
    STANDBY = 3
    ACTIVE = 4
    CRITICAL = 5
    EMERGENCY = 6
