"""Navigator phases: what a vehicle is doing inside its current flight mode."""

from __future__ import annotations

from enum import Enum

__all__ = ["Phase"]


class Phase(Enum):
    """What the navigator is doing inside the current mode."""

    IDLE = "idle"
    SPOOLUP = "spoolup"
    TAKEOFF = "takeoff"
    HOLD = "hold"
    GOTO = "goto"
    ITEM = "item"
    RTL_CLIMB = "rtl_climb"
    RTL_RETURN = "rtl_return"
    RTL_DESCEND = "rtl_descend"
    RTL_DELAY = "rtl_delay"
    LAND = "land"
    LANDED = "landed"
