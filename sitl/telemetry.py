"""Telemetry builders: one function per streamed message, framed straight
from the physics arrays (wire field order, see `sitl.codec`)."""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from sitl.codec import mavlink as m
from sitl.mission import MissionType
from sitl.modes import FlightMode
from sitl.physics import BATTERY_WH, battery_voltage_v

if TYPE_CHECKING:
    from sitl.link import SimLink
    from sitl.vehicle import SimVehicle

__all__ = ["BUILDERS"]

Builder = Callable[["SimVehicle", "SimLink", bool], bytes | None]
_NAN = math.nan


def _heartbeat(v: SimVehicle, link: SimLink, _: bool) -> bytes:
    mode = v.mode
    return link.framer.frame(
        m.MAVLink_heartbeat_message,
        mode.custom_mode, 2, 12, mode.base_mode(v.armed), v.system_status(), 3,
    )  # fmt: skip


def _battery(v: SimVehicle) -> tuple[float, float, float]:
    """(voltage V, current A, remaining 0..1)."""
    i = v.index
    phys = v._phys
    soc = float(phys.energy_wh[i]) / BATTERY_WH
    volts = float(battery_voltage_v(soc))
    return volts, max(float(phys.power_w[i]), 0.0) / volts, soc


def _sys_status(v: SimVehicle, link: SimLink, _: bool) -> bytes:
    present, enabled, health = v.sensors()
    volts, amps, soc = _battery(v)
    return link.framer.frame(
        m.MAVLink_sys_status_message,
        present, enabled, health, 250, int(volts * 1000), int(amps * 100),
        0, 0, 0, 0, 0, 0, round(soc * 100), 0, 0, 0,
    )  # fmt: skip


def _gps_raw_int(v: SimVehicle, link: SimLink, _: bool) -> bytes:
    i = v.index
    phys = v._phys
    vel = phys.vel[i].tolist()
    if not v.gps_ok:
        return link.framer.frame(
            m.MAVLink_gps_raw_int_message,
            v._clock.time_usec(), 0, 0, 0, 9999, 9999, 0, 65535, 0, 0, 0, 0, 0, 0, 0, 0,
        )  # fmt: skip
    north, east, down = phys.pos[i].tolist()
    noise = v.noise
    lat, lon = phys.ned_to_global(north + noise.gauss(0, 0.3), east + noise.gauss(0, 0.3))
    amsl = phys.ground_amsl_m - down + noise.gauss(0, 0.5)
    speed = math.hypot(vel[0], vel[1])
    cog = round(math.degrees(math.atan2(vel[1], vel[0])) % 360 * 100) % 36000
    return link.framer.frame(
        m.MAVLink_gps_raw_int_message,
        v._clock.time_usec(), round(lat * 1e7), round(lon * 1e7), round(amsl * 1000),
        70, 100, round(speed * 100), cog if speed > 0.2 else 65535, 3, 16,
        round((amsl + 47.0) * 1000), 400, 600, 150, 0, 0,
    )  # fmt: skip


def _global_position_int(v: SimVehicle, link: SimLink, _: bool) -> bytes:
    i = v.index
    phys = v._phys
    north, east, down = phys.pos[i].tolist()
    vn, ve, vd = phys.vel[i].tolist()
    lat, lon = phys.ned_to_global(north, east)
    amsl = phys.ground_amsl_m - down
    hdg = round(math.degrees(float(phys.yaw[i])) % 360 * 100) % 36000
    return link.framer.frame(
        m.MAVLink_global_position_int_message,
        v._clock.time_boot_ms(), round(lat * 1e7), round(lon * 1e7), round(amsl * 1000),
        round((amsl - v.home_amsl_m) * 1000), round(vn * 100), round(ve * 100), round(vd * 100),
        hdg,
    )  # fmt: skip


def _local_position_ned(v: SimVehicle, link: SimLink, _: bool) -> bytes:
    i = v.index
    phys = v._phys
    north, east, down = phys.pos[i].tolist()
    vn, ve, vd = phys.vel[i].tolist()
    return link.framer.frame(
        m.MAVLink_local_position_ned_message,
        v._clock.time_boot_ms(), north - v._boot_n, east - v._boot_e, down, vn, ve, vd,
    )  # fmt: skip


def _attitude(v: SimVehicle, link: SimLink, _: bool) -> bytes:
    i = v.index
    phys = v._phys
    return link.framer.frame(
        m.MAVLink_attitude_message,
        v._clock.time_boot_ms(), float(phys.roll[i]), float(phys.pitch[i]), float(phys.yaw[i]),
        0.0, 0.0, float(phys.yaw_rate[i]),
    )  # fmt: skip


def _quaternion(roll: float, pitch: float, yaw: float) -> tuple[float, float, float, float]:
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    return (
        cr * cp * cy + sr * sp * sy,
        sr * cp * cy - cr * sp * sy,
        cr * sp * cy + sr * cp * sy,
        cr * cp * sy - sr * sp * cy,
    )


def _attitude_quaternion(v: SimVehicle, link: SimLink, _: bool) -> bytes:
    i = v.index
    phys = v._phys
    q = _quaternion(float(phys.roll[i]), float(phys.pitch[i]), float(phys.yaw[i]))
    return link.framer.frame(
        m.MAVLink_attitude_quaternion_message,
        v._clock.time_boot_ms(), *q, 0.0, 0.0, float(phys.yaw_rate[i]), 0.0, 0.0, 0.0, 0.0,
    )  # fmt: skip


def _vfr_hud(v: SimVehicle, link: SimLink, _: bool) -> bytes:
    i = v.index
    phys = v._phys
    vn, ve, vd = phys.vel[i].tolist()
    air = phys.airspeed_ne()[i].tolist()
    hover = 0.5 if phys.flying[i] else 0.0
    return link.framer.frame(
        m.MAVLink_vfr_hud_message,
        math.hypot(air[0], air[1]), math.hypot(vn, ve), v.amsl_m(), -vd,
        round(math.degrees(float(phys.yaw[i])) % 360) % 360, round(hover * 100),
    )  # fmt: skip


def _altitude(v: SimVehicle, link: SimLink, _: bool) -> bytes:
    amsl = v.amsl_m()
    rel = v.alt_m()
    return link.framer.frame(
        m.MAVLink_altitude_message,
        v._clock.time_usec(), amsl, amsl, -float(v._phys.pos[v.index, 2]), rel, _NAN, _NAN,
    )  # fmt: skip


def _extended_sys_state(v: SimVehicle, link: SimLink, _: bool) -> bytes:
    return link.framer.frame(m.MAVLink_extended_sys_state_message, 0, int(v.landed_state))


def _system_time(v: SimVehicle, link: SimLink, _: bool) -> bytes:
    clock = v._clock
    return link.framer.frame(m.MAVLink_system_time_message, clock.unix_usec(), clock.time_boot_ms())


def _mission_current(v: SimVehicle, link: SimLink, resend_reached: bool) -> bytes:
    items = v.mission.items[MissionType.MISSION]
    total = len(items)
    if total == 0:
        state = 1  # NO_MISSION
    elif v.mission_finished:
        state = 5  # COMPLETE
    elif v.mode is FlightMode.AUTO_MISSION and v.armed:
        state = 3  # ACTIVE
    elif v.mission_started:
        state = 4  # PAUSED
    else:
        state = 2  # NOT_STARTED
    in_mission = 1 if v.mode is FlightMode.AUTO_MISSION else 2
    frame = link.framer.frame(
        m.MAVLink_mission_current_message,
        v.mission.current_seq, total if total else 65535, state, in_mission,
    )  # fmt: skip
    if resend_reached and total and v.reached_resend_due(link):
        frame += link.framer.frame(m.MAVLink_mission_item_reached_message, v.mission_reached)
    return frame


def _position_target_global_int(v: SimVehicle, link: SimLink, _: bool) -> bytes | None:
    if not (v.armed and v.in_air()):
        return None
    i = v.index
    phys = v._phys
    north, east, down = phys.target[i].tolist()
    lat, lon = phys.ned_to_global(north, east)
    return link.framer.frame(
        m.MAVLink_position_target_global_int_message,
        v._clock.time_boot_ms(), round(lat * 1e7), round(lon * 1e7),
        phys.ground_amsl_m - down, _NAN, _NAN, _NAN, _NAN, _NAN, _NAN,
        float(phys.yaw[i]), _NAN, 0, 5,
    )  # fmt: skip


def _home_position(v: SimVehicle, link: SimLink, _: bool) -> bytes:
    home = v._phys.home[v.index].tolist()
    return link.framer.frame(
        m.MAVLink_home_position_message,
        round(v.home_lat_deg * 1e7), round(v.home_lon_deg * 1e7), round(v.home_amsl_m * 1000),
        home[0] - v._boot_n, home[1] - v._boot_e, home[2],
        1.0, 0.0, 0.0, 0.0, _NAN, _NAN, _NAN, v._clock.time_usec(),
    )  # fmt: skip


def _battery_status(v: SimVehicle, link: SimLink, _: bool) -> bytes:
    volts, amps, soc = _battery(v)
    cells = [round(volts / 4 * 1000)] * 4 + [65535] * 6
    consumed_wh = float(v._phys.consumed_wh[v.index])
    charge_state = 1
    if soc < v.params.clamped("BAT_EMERGEN_THR"):
        charge_state = 4
    elif soc < v.params.clamped("BAT_CRIT_THR"):
        charge_state = 3
    elif soc < v.params.clamped("BAT_LOW_THR"):
        charge_state = 2
    msg = m.MAVLink_battery_status_message(
        id=0,
        battery_function=1,
        type=3,  # LION
        temperature=2500,
        voltages=cells,
        current_battery=round(amps * 100),
        current_consumed=round(consumed_wh / 14.8 * 1000),
        energy_consumed=round(consumed_wh * 36),  # hJ
        battery_remaining=round(soc * 100),
        time_remaining=0,
        charge_state=charge_state,
    )
    return link.framer.pack(msg)


def _scaled_pressure(v: SimVehicle, link: SimLink, _: bool) -> bytes:
    amsl = v.amsl_m()
    press_hpa = 1013.25 * (1 - 2.25577e-5 * amsl) ** 5.25588
    return link.framer.frame(
        m.MAVLink_scaled_pressure_message, v._clock.time_boot_ms(), press_hpa, 0.0, 2000, 0
    )


def _estimator_status(v: SimVehicle, link: SimLink, _: bool) -> bytes:
    flags = 0x3FF if v.gps_ok else 0x0F
    msg = m.MAVLink_estimator_status_message(
        v._clock.time_usec(), flags, 0.1, 0.1, 0.1, 0.05, 0.0, 0.0, 0.5, 0.8
    )
    return link.framer.pack(msg)


class _CurrentMode:
    """CURRENT_MODE (436): newer than pymavlink's common dialect, framed by hand
    (wire order custom_mode, intended_custom_mode, standard_mode; CRC extra 193)."""

    id = 436
    crc_extra = 193
    unpacker = struct.Struct("<IIB")


CURRENT_MODE_ID = _CurrentMode.id
# MAV_STANDARD_MODE for the PX4 modes that have one.
_STANDARD_MODE = {
    FlightMode.POSCTL: 1,
    FlightMode.ALTCTL: 4,
    FlightMode.AUTO_RTL: 5,
    FlightMode.AUTO_MISSION: 6,
    FlightMode.AUTO_LAND: 7,
    FlightMode.AUTO_TAKEOFF: 8,
}


def _current_mode(v: SimVehicle, link: SimLink, _: bool) -> bytes:
    mode = v.mode
    return link.framer.frame(
        _CurrentMode, mode.custom_mode, mode.custom_mode, _STANDARD_MODE.get(mode, 0)
    )


def _vibration(v: SimVehicle, link: SimLink, _: bool) -> bytes:
    level = 0.02 if v._phys.flying[v.index] else 0.0
    msg = m.MAVLink_vibration_message(v._clock.time_usec(), level, level, level, 0, 0, 0)
    return link.framer.pack(msg)


BUILDERS: dict[int, Builder] = {
    m.MAVLINK_MSG_ID_HEARTBEAT: _heartbeat,
    m.MAVLINK_MSG_ID_SYS_STATUS: _sys_status,
    m.MAVLINK_MSG_ID_GPS_RAW_INT: _gps_raw_int,
    m.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: _global_position_int,
    m.MAVLINK_MSG_ID_LOCAL_POSITION_NED: _local_position_ned,
    m.MAVLINK_MSG_ID_ATTITUDE: _attitude,
    m.MAVLINK_MSG_ID_ATTITUDE_QUATERNION: _attitude_quaternion,
    m.MAVLINK_MSG_ID_VFR_HUD: _vfr_hud,
    m.MAVLINK_MSG_ID_ALTITUDE: _altitude,
    m.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: _extended_sys_state,
    m.MAVLINK_MSG_ID_SYSTEM_TIME: _system_time,
    m.MAVLINK_MSG_ID_MISSION_CURRENT: _mission_current,
    m.MAVLINK_MSG_ID_POSITION_TARGET_GLOBAL_INT: _position_target_global_int,
    m.MAVLINK_MSG_ID_HOME_POSITION: _home_position,
    m.MAVLINK_MSG_ID_BATTERY_STATUS: _battery_status,
    m.MAVLINK_MSG_ID_SCALED_PRESSURE: _scaled_pressure,
    m.MAVLINK_MSG_ID_ESTIMATOR_STATUS: _estimator_status,
    m.MAVLINK_MSG_ID_VIBRATION: _vibration,
    CURRENT_MODE_ID: _current_mode,
}
