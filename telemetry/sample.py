"""The one normalized telemetry record.

Produced by the controller's vehicle session from MAVLink, consumed by the
bus, the store, the MQTT bridge, the TUI and the incident rules. Units are in
the field names; a value the vehicle has not reported yet is None.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TelemetrySample"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TelemetrySample:
    vehicle_id: str
    time_unix_us: int  # controller's UTC clock when the sample was formed
    boot_time_ms: int  # vehicle's time since boot (from the MAVLink message)
    lat_deg: float | None = None
    lon_deg: float | None = None
    alt_amsl_m: float | None = None
    rel_alt_m: float | None = None
    vn_m_s: float | None = None
    ve_m_s: float | None = None
    vd_m_s: float | None = None
    roll_deg: float | None = None
    pitch_deg: float | None = None
    heading_deg: float | None = None
    battery_pct: float | None = None
    battery_v: float | None = None
    battery_min_left: float | None = None
    gps_fix: int | None = None  # MAVLink GPS_FIX_TYPE (3 = 3D)
    satellites: int | None = None
    mode: str = "UNKNOWN"  # PX4 flight mode, e.g. "AUTO.MISSION"
    armed: bool = False
    landed_state: str = "UNKNOWN"  # ON_GROUND, TAKEOFF, IN_AIR, LANDING
    mission_seq: int | None = None
    mission_total: int | None = None
    link_rate_hz: float | None = None  # MAVLink messages per second received
    link_loss_pct: float | None = None  # from MAVLink 2 sequence gaps
