"""Commands over COMMAND_LONG and COMMAND_INT, answered like PX4 v1.16.

Each handler returns the MAV_RESULT to acknowledge with (the vehicle sends
the COMMAND_ACK on every link, addressed to the requester), or None when it
acknowledged itself (DO_SET_MODE's two acks; requests answered with a
message after the ack). Parameters arrive as floats, NaN meaning unset.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sitl.codec import mavlink as m
from sitl.link import SimLink
from sitl.mission import MissionType
from sitl.modes import FlightMode
from sitl.physics import BATTERY_WH
from sitl.streams import default_rate
from sitl.telemetry import BUILDERS

if TYPE_CHECKING:
    from sitl.vehicle import SimVehicle

from sitl.navigation import Phase

__all__ = ["COMMANDS", "FORCE_MAGIC", "UNSUPPORTED", "as_int", "request_mode"]

# MAV_RESULT
ACCEPTED, TEMP_REJECTED, DENIED, UNSUPPORTED, FAILED = 0, 1, 2, 3, 4
FORCE_MAGIC = 21196
# INJECT_FAILURE
FAILURE_UNIT_GPS = 4
FAILURE_UNIT_BATTERY = 100
FAILURE_UNIT_MAVLINK_SIGNAL = 105
FAILURE_OK, FAILURE_OFF, FAILURE_GARBAGE, FAILURE_WRONG = 0, 1, 3, 4
CRITICAL, INFO = 2, 6  # MAV_SEVERITY


def as_int(value: float, default: int = -1) -> int:
    """Command parameters arrive as floats, NaN meaning "unset"."""
    return round(value) if math.isfinite(value) and abs(value) < 2**31 else default


def cmd_arm(v: SimVehicle, link: SimLink, msg: Any, p: tuple[float, ...], frame: int | None) -> int:
    forced = as_int(p[1]) == FORCE_MAGIC
    if p[0] >= 0.5:
        return ACCEPTED if v.arm("external command", forced=forced) else TEMP_REJECTED
    return ACCEPTED if v.disarm("external command", forced=forced) else TEMP_REJECTED


def cmd_takeoff(
    v: SimVehicle, link: SimLink, msg: Any, p: tuple[float, ...], frame: int | None
) -> int:
    if math.isfinite(p[6]):
        relative = frame in (3, 6, 11)
        alt = p[6] if relative else p[6] - v.home_amsl_m
    else:
        alt = v.params["MIS_TAKEOFF_ALT"]
        v.statustext(f"Using default takeoff altitude: {alt:.1f} m", INFO)
    if not v.gps_ok:
        return TEMP_REJECTED
    v._takeoff_alt_m = max(alt, 1.0)
    v._enter(FlightMode.AUTO_TAKEOFF)
    return ACCEPTED


def cmd_land(
    v: SimVehicle, link: SimLink, msg: Any, p: tuple[float, ...], frame: int | None
) -> int:
    v._enter(FlightMode.AUTO_LAND)
    return ACCEPTED


def cmd_rtl(v: SimVehicle, link: SimLink, msg: Any, p: tuple[float, ...], frame: int | None) -> int:
    v._enter(FlightMode.AUTO_RTL)
    return ACCEPTED


def cmd_mission_start(
    v: SimVehicle, link: SimLink, msg: Any, p: tuple[float, ...], frame: int | None
) -> int:
    items = v.mission.items[MissionType.MISSION]
    if not items:
        v.statustext("Mission start denied: no valid mission", CRITICAL)
        return DENIED
    first = as_int(p[0]) if math.isfinite(p[0]) and 0 <= p[0] < len(items) else None
    if first is not None and first > 0:
        v.mission.set_current(first)
    elif v.mission_finished:
        v.mission.set_current(0)
    if not v.armed and not v.arm("mission start"):
        return TEMP_REJECTED
    v._enter(FlightMode.AUTO_MISSION)
    return ACCEPTED


def cmd_set_mode(
    v: SimVehicle, link: SimLink, msg: Any, p: tuple[float, ...], frame: int | None
) -> None:
    # PX4 acks DO_SET_MODE twice: at once, then with the verdict.
    v._ack(msg, 176, ACCEPTED)
    mode = (
        FlightMode.from_custom(as_int(p[1]), as_int(p[2], 0))
        if as_int(p[0], 0) > 0 and as_int(p[0], 0) & 1
        else None
    )
    result = DENIED if mode is None else request_mode(v, mode)
    v._ack(msg, 176, result)


def request_mode(v: SimVehicle, mode: FlightMode) -> int:
    """A mode change asked for by a client: PX4's availability rules."""
    in_air = v.in_air()
    unavailable = (
        (mode.needs_rc and in_air)
        or mode is FlightMode.OFFBOARD
        or (mode is FlightMode.AUTO_MISSION and not v.mission.items[MissionType.MISSION])
        or (mode in (FlightMode.AUTO_FOLLOW_TARGET, FlightMode.AUTO_PRECLAND))
        or (not v.gps_ok and mode.is_auto and mode is not FlightMode.AUTO_LAND)
    )
    if unavailable:
        v.statustext(f"Switching to {mode.label} is currently not available", CRITICAL)
        return TEMP_REJECTED
    if mode is FlightMode.AUTO_TAKEOFF:
        v._takeoff_alt_m = max(v.params["MIS_TAKEOFF_ALT"], 1.0)
    v._enter(mode)
    return ACCEPTED


def cmd_reposition(
    v: SimVehicle, link: SimLink, msg: Any, p: tuple[float, ...], frame: int | None
) -> int:
    if as_int(p[1], 0) < 0 or not (as_int(p[1], 0) & 1):
        return UNSUPPORTED  # PX4 needs the change-mode flag
    lat, lon, alt = p[4], p[5], p[6]
    if not v.gps_ok:
        return TEMP_REJECTED
    if math.isfinite(lat) and math.isfinite(lon):
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            return DENIED
        north, east = v._phys.global_to_ned(lat, lon)
    else:
        north, east = float(v._phys.pos[v.i, 0]), float(v._phys.pos[v.i, 1])
    if math.isfinite(alt):
        relative = frame in (3, 6, 11)
        amsl = v.home_amsl_m + alt if relative else alt
    else:
        amsl = v.amsl_m()
    if math.isfinite(p[0]) and p[0] > 0:
        v._speed_override_m_s = float(p[0])
    v._enter(FlightMode.AUTO_LOITER)
    if v.in_air():
        v._goto(north, east, v._down_for_amsl(amsl))
        v.phase = Phase.GOTO
    return ACCEPTED


def cmd_pause_continue(
    v: SimVehicle, link: SimLink, msg: Any, p: tuple[float, ...], frame: int | None
) -> int:
    if p[0] < 0.5:
        v._enter(FlightMode.AUTO_LOITER)
        return ACCEPTED
    if not v.mission.items[MissionType.MISSION]:
        return DENIED
    v._enter(FlightMode.AUTO_MISSION)
    return ACCEPTED


def cmd_change_speed(
    v: SimVehicle, link: SimLink, msg: Any, p: tuple[float, ...], frame: int | None
) -> int:
    speed = p[1]
    if not math.isfinite(speed):
        return DENIED
    v._speed_override_m_s = float(speed) if speed > 0 else None
    return ACCEPTED


def cmd_set_home(
    v: SimVehicle, link: SimLink, msg: Any, p: tuple[float, ...], frame: int | None
) -> int:
    if p[0] >= 0.5:
        lat, lon = v.position()
        amsl = v.amsl_m()
    else:
        lat, lon, amsl = p[4], p[5], p[6]
        if not (
            math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90
            and -180 <= lon <= 180
        ):  # fmt: skip
            return DENIED
        if not math.isfinite(amsl):
            amsl = v.home_amsl_m
    v._set_home(lat, lon, amsl)
    return ACCEPTED


def cmd_request_message(
    v: SimVehicle, link: SimLink, msg: Any, p: tuple[float, ...], frame: int | None
) -> None:
    msgid = as_int(p[0]) if math.isfinite(p[0]) else -1
    reply = v.build_on_request(link, msgid)
    v._ack(msg, msg.command, ACCEPTED if reply is not None else DENIED)
    if reply is not None:
        link.send_now(reply)


def cmd_autopilot_caps(
    v: SimVehicle, link: SimLink, msg: Any, p: tuple[float, ...], frame: int | None
) -> None:
    v._ack(msg, msg.command, ACCEPTED)
    link.send_msg(v.autopilot_version())


def cmd_get_home(
    v: SimVehicle, link: SimLink, msg: Any, p: tuple[float, ...], frame: int | None
) -> None:
    v._ack(msg, msg.command, ACCEPTED)
    reply = v.build_on_request(link, m.MAVLINK_MSG_ID_HOME_POSITION)
    if reply is not None:
        link.send_now(reply)


def cmd_set_interval(
    v: SimVehicle, link: SimLink, msg: Any, p: tuple[float, ...], frame: int | None
) -> int:
    msgid = as_int(p[0]) if math.isfinite(p[0]) else -1
    if v.build_on_request(link, msgid) is None and msgid != m.MAVLINK_MSG_ID_HOME_POSITION:
        return DENIED
    interval_us = p[1]
    if interval_us < 0:
        rate = 0.0
    elif interval_us == 0:
        rate = default_rate(link.kind, msgid)
    else:
        rate = 1e6 / interval_us
    v._set_stream_rate(link, msgid, rate)
    return ACCEPTED


def cmd_get_interval(
    v: SimVehicle, link: SimLink, msg: Any, p: tuple[float, ...], frame: int | None
) -> None:
    msgid = as_int(p[0]) if math.isfinite(p[0]) else -1
    if not 0 <= msgid <= 0xFFFFFF or msgid not in BUILDERS:
        v._ack(msg, msg.command, DENIED)
        return
    v._ack(msg, msg.command, ACCEPTED)
    rate = v._get_stream_rate(link, msgid)
    interval = int(1e6 / rate) if rate > 0 else -1
    link.send_msg(m.MAVLink_message_interval_message(msgid, interval))


def cmd_inject_failure(
    v: SimVehicle, link: SimLink, msg: Any, p: tuple[float, ...], frame: int | None
) -> int:
    if int(v.params["SYS_FAILURE_EN"]) != 1:
        v.statustext("Failure injection disabled", CRITICAL)
        return DENIED
    unit, kind = as_int(p[0]), as_int(p[1])
    if unit == FAILURE_UNIT_GPS and kind in (FAILURE_OK, FAILURE_OFF):
        v.gps_ok = kind == FAILURE_OK
        return ACCEPTED
    if unit == FAILURE_UNIT_BATTERY and kind in (FAILURE_WRONG, FAILURE_OFF, FAILURE_GARBAGE):
        threshold = {
            FAILURE_WRONG: "BAT_LOW_THR",
            FAILURE_OFF: "BAT_CRIT_THR",
            FAILURE_GARBAGE: "BAT_EMERGEN_THR",
        }[kind]
        soc = max(v.params.clamped(threshold) - 0.005, 0.0)
        energy = v._phys.energy_wh
        energy[v.i] = min(float(energy[v.i]), soc * BATTERY_WH)
        return ACCEPTED
    if unit == FAILURE_UNIT_MAVLINK_SIGNAL and kind == FAILURE_OFF:
        # Both links fall silent long enough for the data-link failsafe to
        # trigger, then come back (a real PX4 stays silent until reboot).
        v.set_link_down(float(v.params["COM_DL_LOSS_T"]) + 30.0)
        return ACCEPTED
    return UNSUPPORTED


CommandHandler = Callable[["SimVehicle", SimLink, Any, tuple[float, ...], int | None], int | None]
COMMANDS: dict[int, CommandHandler] = {
    400: cmd_arm,
    22: cmd_takeoff,
    21: cmd_land,
    20: cmd_rtl,
    300: cmd_mission_start,
    176: cmd_set_mode,
    192: cmd_reposition,
    193: cmd_pause_continue,
    178: cmd_change_speed,
    179: cmd_set_home,
    512: cmd_request_message,
    520: cmd_autopilot_caps,
    410: cmd_get_home,
    511: cmd_set_interval,
    510: cmd_get_interval,
    420: cmd_inject_failure,
}
