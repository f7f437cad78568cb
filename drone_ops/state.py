"""`VehicleState`: one immutable snapshot of everything the controller knows about a vehicle.

Values the vehicle has not reported yet are None; values it reports that we
do not know decode to UNKNOWN instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

from drone_ops.link.policy import LinkState

__all__ = ["FlightMode", "GpsFix", "Home", "LandedState", "VehicleState", "px4_mode"]


class FlightMode(StrEnum):
    """PX4 flight modes by the names PX4 and QGroundControl show."""

    MANUAL = "MANUAL"
    ALTCTL = "ALTCTL"
    POSCTL = "POSCTL"
    ACRO = "ACRO"
    OFFBOARD = "OFFBOARD"
    STABILIZED = "STABILIZED"
    TERMINATION = "TERMINATION"
    AUTO_READY = "AUTO.READY"
    AUTO_TAKEOFF = "AUTO.TAKEOFF"
    AUTO_LOITER = "AUTO.LOITER"
    AUTO_MISSION = "AUTO.MISSION"
    AUTO_RTL = "AUTO.RTL"
    AUTO_LAND = "AUTO.LAND"
    AUTO_FOLLOW_TARGET = "AUTO.FOLLOW_TARGET"
    AUTO_PRECLAND = "AUTO.PRECLAND"
    UNKNOWN = "UNKNOWN"


_MAIN = {
    1: FlightMode.MANUAL,
    2: FlightMode.ALTCTL,
    3: FlightMode.POSCTL,
    5: FlightMode.ACRO,
    6: FlightMode.OFFBOARD,
    7: FlightMode.STABILIZED,
    10: FlightMode.TERMINATION,
}
_AUTO = {
    1: FlightMode.AUTO_READY,
    2: FlightMode.AUTO_TAKEOFF,
    3: FlightMode.AUTO_LOITER,
    4: FlightMode.AUTO_MISSION,
    5: FlightMode.AUTO_RTL,
    6: FlightMode.AUTO_LAND,
    8: FlightMode.AUTO_FOLLOW_TARGET,
    9: FlightMode.AUTO_PRECLAND,
}


def px4_mode(base_mode: int, custom_mode: int) -> FlightMode:
    """Decode HEARTBEAT mode fields (PX4: custom_mode = sub << 24 | main << 16)."""
    if not base_mode & 1:  # MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
        return FlightMode.UNKNOWN
    main = (custom_mode >> 16) & 0xFF
    if main == 4:
        return _AUTO.get((custom_mode >> 24) & 0xFF, FlightMode.UNKNOWN)
    return _MAIN.get(main, FlightMode.UNKNOWN)


class LandedState(StrEnum):
    UNKNOWN = "UNKNOWN"
    ON_GROUND = "ON_GROUND"
    IN_AIR = "IN_AIR"
    TAKEOFF = "TAKEOFF"
    LANDING = "LANDING"

    @classmethod
    def from_mavlink(cls, value: int) -> LandedState:
        return _LANDED.get(value, cls.UNKNOWN)


_LANDED = {
    1: LandedState.ON_GROUND,
    2: LandedState.IN_AIR,
    3: LandedState.TAKEOFF,
    4: LandedState.LANDING,
}


class GpsFix(IntEnum):
    """MAVLink GPS_FIX_TYPE."""

    NO_GPS = 0
    NO_FIX = 1
    FIX_2D = 2
    FIX_3D = 3
    DGPS = 4
    RTK_FLOAT = 5
    RTK_FIXED = 6
    STATIC = 7
    PPP = 8
    UNKNOWN = 255

    @classmethod
    def from_mavlink(cls, value: int) -> GpsFix:
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN


@dataclass(frozen=True, slots=True, kw_only=True)
class Home:
    lat_deg: float
    lon_deg: float
    amsl_m: float


@dataclass(frozen=True, slots=True, kw_only=True)
class VehicleState:
    """What one vehicle looks like right now. Built by its `VehicleSession`."""

    vehicle_id: str
    system_id: int | None = None
    link: LinkState = LinkState.CONNECTING
    mode: FlightMode = FlightMode.UNKNOWN
    armed: bool = False
    landed: LandedState = LandedState.UNKNOWN
    lat_deg: float | None = None
    lon_deg: float | None = None
    alt_amsl_m: float | None = None
    rel_alt_m: float | None = None
    home: Home | None = None
    vn_m_s: float | None = None
    ve_m_s: float | None = None
    vd_m_s: float | None = None
    heading_deg: float | None = None
    battery_pct: float | None = None
    battery_v: float | None = None
    battery_min_left: float | None = None
    gps_fix: GpsFix = GpsFix.UNKNOWN
    satellites: int | None = None
    health_ok: bool | None = None  # None: no SYS_STATUS yet
    health_failures: tuple[str, ...] = ()  # failing sensors / checks, MAVLink names
    mission_seq: int | None = None  # current item
    mission_total: int | None = None
    mission_reached: int | None = None  # last item reached
    heartbeat_age_s: float | None = None
    link_rate_hz: float | None = None
    link_loss_pct: float | None = None
    boot_time_ms: int | None = None
    reboots: int = 0  # times the vehicle's boot clock went backwards while we watched
    last_message: str | None = None  # latest STATUSTEXT

    @property
    def in_air(self) -> bool:
        return self.landed in (LandedState.IN_AIR, LandedState.TAKEOFF, LandedState.LANDING)

    @property
    def ground_speed_m_s(self) -> float | None:
        if self.vn_m_s is None or self.ve_m_s is None:
            return None
        return float((self.vn_m_s**2 + self.ve_m_s**2) ** 0.5)
