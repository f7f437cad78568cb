"""MAVLink messages → the fields of `VehicleState` and `TelemetrySample`.

Called once per decoded message on the telemetry path, so it only assigns
attributes; snapshots are built when someone asks (and cached until the next
message), not per message.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from pymavlink.dialects.v20 import common as mavlink2

from drone_ops.link.frames import Decoded
from drone_ops.link.policy import LinkState
from drone_ops.link.stats import LinkStats
from drone_ops.state import FlightMode, GpsFix, Home, LandedState, VehicleState, px4_mode
from telemetry.sample import TelemetrySample

__all__ = ["TRACKED_MSGIDS", "StateTracker", "StatusText"]

_M = mavlink2
TRACKED_MSGIDS = (
    _M.MAVLINK_MSG_ID_HEARTBEAT,
    _M.MAVLINK_MSG_ID_SYS_STATUS,
    _M.MAVLINK_MSG_ID_GPS_RAW_INT,
    _M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT,
    _M.MAVLINK_MSG_ID_EXTENDED_SYS_STATE,
    _M.MAVLINK_MSG_ID_BATTERY_STATUS,
    _M.MAVLINK_MSG_ID_HOME_POSITION,
    _M.MAVLINK_MSG_ID_MISSION_CURRENT,
    _M.MAVLINK_MSG_ID_MISSION_ITEM_REACHED,
    _M.MAVLINK_MSG_ID_STATUSTEXT,
    _M.MAVLINK_MSG_ID_COMMAND_ACK,
)

_SENSOR_NAMES = {
    bit: entry.name.removeprefix("MAV_SYS_STATUS_")
    for bit, entry in _M.enums["MAV_SYS_STATUS_SENSOR"].items()
    if bit and not bit & (bit - 1)
}
_PREARM = _M.MAV_SYS_STATUS_PREARM_CHECK
_ARMED = 128  # MAV_MODE_FLAG_SAFETY_ARMED


class StatusText:
    """A vehicle message with the controller's receive time (for matching to commands)."""

    __slots__ = ("mono", "severity", "text")

    def __init__(self, mono: float, severity: int, text: str) -> None:
        self.mono = mono
        self.severity = severity
        self.text = text

    def __repr__(self) -> str:
        return f"StatusText({self.severity}, {self.text!r})"


class StateTracker:
    """Holds the latest values for one vehicle; `snapshot()` makes the immutable view."""

    def __init__(self, vehicle_id: str, *, statustext_keep: int = 20) -> None:
        self.vehicle_id = vehicle_id
        self.system_id: int | None = None
        self.link = LinkState.CONNECTING
        self._cache: VehicleState | None = None
        self.mode = FlightMode.UNKNOWN
        self.armed = False
        self.landed = LandedState.UNKNOWN
        self.lat_deg: float | None = None
        self.lon_deg: float | None = None
        self.alt_amsl_m: float | None = None
        self.rel_alt_m: float | None = None
        self.home: Home | None = None
        self.vn_m_s: float | None = None
        self.ve_m_s: float | None = None
        self.vd_m_s: float | None = None
        self.heading_deg: float | None = None
        self.battery_pct: float | None = None
        self.battery_v: float | None = None
        self.battery_min_left: float | None = None
        self._battery_s_left: float | None = None
        self._drain: tuple[float, float] | None = None  # (boot s, pct) when the drain window began
        self.gps_fix = GpsFix.UNKNOWN
        self.satellites: int | None = None
        self.health_ok: bool | None = None
        self.health_failures: tuple[str, ...] = ()
        self.mission_seq: int | None = None
        self.mission_total: int | None = None
        self.mission_reached: int | None = None
        self.mission_state: int = 0
        self.boot_time_ms: int | None = None
        self.reboots = 0
        self.statustexts: deque[StatusText] = deque(maxlen=statustext_keep)
        self.acks: deque[tuple[float, int, int]] = deque(maxlen=16)  # (mono, command, result)
        self._text_chunks: dict[int, list[str]] = {}
        self.stats: LinkStats | None = None
        self.on_reboot: Callable[[], None] | None = None
        self._handlers: dict[int, Callable[[Decoded], None]] = {
            _M.MAVLINK_MSG_ID_HEARTBEAT: self._heartbeat,
            _M.MAVLINK_MSG_ID_SYS_STATUS: self._sys_status,
            _M.MAVLINK_MSG_ID_GPS_RAW_INT: self._gps,
            _M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: self._position,
            _M.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: self._ext_state,
            _M.MAVLINK_MSG_ID_BATTERY_STATUS: self._battery,
            _M.MAVLINK_MSG_ID_HOME_POSITION: self._home,
            _M.MAVLINK_MSG_ID_MISSION_CURRENT: self._mission_current,
            _M.MAVLINK_MSG_ID_MISSION_ITEM_REACHED: self._reached,
            _M.MAVLINK_MSG_ID_STATUSTEXT: self._statustext,
            _M.MAVLINK_MSG_ID_COMMAND_ACK: self._ack,
        }

    # ------------------------------------------------------------ input
    def handle(self, msgid: int, msg: Decoded) -> None:
        handler = self._handlers.get(msgid)
        if handler is not None:
            handler(msg)
            self._cache = None

    def set_stats(self, stats: LinkStats) -> None:
        self.stats = stats
        self._cache = None

    def set_link(self, link: LinkState, stats: LinkStats | None = None) -> None:
        self.link = link
        if stats is not None:
            self.stats = stats
        self._cache = None

    def _heartbeat(self, m: Decoded) -> None:
        self.mode = px4_mode(m["base_mode"], m["custom_mode"])
        self.armed = bool(m["base_mode"] & _ARMED)

    def _sys_status(self, m: Decoded) -> None:
        present = m["onboard_control_sensors_present"]
        enabled = m["onboard_control_sensors_enabled"]
        healthy = m["onboard_control_sensors_health"]
        failing = present & enabled & ~healthy
        if present & _PREARM and not healthy & _PREARM:
            failing |= _PREARM  # PX4 reports "pre-arm checks pass" as a health bit
        self.health_ok = failing == 0
        self.health_failures = tuple(name for bit, name in _SENSOR_NAMES.items() if failing & bit)
        if m["voltage_battery"] not in (0, 0xFFFF):
            self.battery_v = m["voltage_battery"] / 1000.0
        if m["battery_remaining"] >= 0:
            self._battery_pct(float(m["battery_remaining"]))

    def _battery(self, m: Decoded) -> None:
        if m["battery_remaining"] >= 0:
            self._battery_pct(float(m["battery_remaining"]))
        t = m.get("time_remaining", 0)
        self._battery_s_left = float(t) if t and t > 0 else None
        cells = m.get("voltages") or []
        if cells and cells[0] not in (0xFFFF, 0):
            total = sum(c for c in cells if c != 0xFFFF)
            self.battery_v = total / 1000.0
        self._update_minutes_left()

    def _battery_pct(self, pct: float) -> None:
        self.battery_pct = pct
        now_s = (self.boot_time_ms or 0) / 1000.0
        if not self.armed or self._drain is None or pct > self._drain[1]:
            self._drain = (now_s, pct)
        self._update_minutes_left()

    def _update_minutes_left(self) -> None:
        """Minutes left: the vehicle's own estimate, else the drain rate while armed."""
        if self._battery_s_left is not None:
            self.battery_min_left = self._battery_s_left / 60.0
            return
        if self._drain is None or self.battery_pct is None or not self.armed:
            self.battery_min_left = None
            return
        t0, p0 = self._drain
        dt = (self.boot_time_ms or 0) / 1000.0 - t0
        dp = p0 - self.battery_pct
        if dt >= 10.0 and dp > 0:
            self.battery_min_left = self.battery_pct / (dp / dt) / 60.0

    def _gps(self, m: Decoded) -> None:
        self.gps_fix = GpsFix.from_mavlink(m["fix_type"])
        sats = m["satellites_visible"]
        self.satellites = None if sats == 255 else sats

    def _position(self, m: Decoded) -> None:
        boot = m["time_boot_ms"]
        if self.boot_time_ms is not None and boot + 5000 < self.boot_time_ms:
            self.reboots += 1
            if self.on_reboot is not None:
                self.on_reboot()
        self.boot_time_ms = boot
        self.lat_deg = m["lat"] / 1e7
        self.lon_deg = m["lon"] / 1e7
        self.alt_amsl_m = m["alt"] / 1000.0
        self.rel_alt_m = m["relative_alt"] / 1000.0
        self.vn_m_s = m["vx"] / 100.0
        self.ve_m_s = m["vy"] / 100.0
        self.vd_m_s = m["vz"] / 100.0
        hdg = m["hdg"]
        self.heading_deg = None if hdg == 0xFFFF else hdg / 100.0

    def _ext_state(self, m: Decoded) -> None:
        self.landed = LandedState.from_mavlink(m["landed_state"])

    def _home(self, m: Decoded) -> None:
        self.home = Home(
            lat_deg=m["latitude"] / 1e7, lon_deg=m["longitude"] / 1e7, amsl_m=m["altitude"] / 1000.0
        )

    def _mission_current(self, m: Decoded) -> None:
        self.mission_seq = m["seq"]
        total = m.get("total", 0xFFFF)
        self.mission_total = None if total == 0xFFFF else total
        self.mission_state = m.get("mission_state", 0)

    def _reached(self, m: Decoded) -> None:
        self.mission_reached = m["seq"]

    def _statustext(self, m: Decoded) -> None:
        text = str(m["text"]).rstrip("\t\x00 ")
        ident = m.get("id", 0)
        if ident:  # long texts come in chunks sharing an id; the last is shorter than 50
            parts = self._text_chunks.setdefault(ident, [])
            parts.append(text)
            if len(str(m["text"])) >= 50:
                return
            text = "".join(self._text_chunks.pop(ident))
        self.statustexts.append(StatusText(time.monotonic(), m["severity"], text))

    def _ack(self, m: Decoded) -> None:
        self.acks.append((time.monotonic(), m["command"], m["result"]))

    def reset_mission_progress(self) -> None:
        self.mission_reached = None
        self.mission_state = 0
        self._cache = None

    # ------------------------------------------------------------ output
    def snapshot(self) -> VehicleState:
        if self._cache is not None:
            return self._cache
        stats = self.stats
        last = self.statustexts[-1].text if self.statustexts else None
        state = VehicleState(
            vehicle_id=self.vehicle_id,
            system_id=self.system_id,
            link=self.link,
            mode=self.mode,
            armed=self.armed,
            landed=self.landed,
            lat_deg=self.lat_deg,
            lon_deg=self.lon_deg,
            alt_amsl_m=self.alt_amsl_m,
            rel_alt_m=self.rel_alt_m,
            home=self.home,
            vn_m_s=self.vn_m_s,
            ve_m_s=self.ve_m_s,
            vd_m_s=self.vd_m_s,
            heading_deg=self.heading_deg,
            battery_pct=self.battery_pct,
            battery_v=self.battery_v,
            battery_min_left=self.battery_min_left,
            gps_fix=self.gps_fix,
            satellites=self.satellites,
            health_ok=self.health_ok,
            health_failures=self.health_failures,
            mission_seq=self.mission_seq,
            mission_total=self.mission_total,
            mission_reached=self.mission_reached,
            heartbeat_age_s=stats.heartbeat_age_s if stats else None,
            link_rate_hz=stats.rate_hz if stats else None,
            link_loss_pct=stats.loss_pct if stats else None,
            boot_time_ms=self.boot_time_ms,
            reboots=self.reboots,
            last_message=last,
        )
        self._cache = state
        return state

    def sample(self) -> TelemetrySample:
        stats = self.stats
        return TelemetrySample(
            vehicle_id=self.vehicle_id,
            time_unix_us=time.time_ns() // 1000,
            boot_time_ms=self.boot_time_ms or 0,
            lat_deg=self.lat_deg,
            lon_deg=self.lon_deg,
            alt_amsl_m=self.alt_amsl_m,
            rel_alt_m=self.rel_alt_m,
            vn_m_s=self.vn_m_s,
            ve_m_s=self.ve_m_s,
            vd_m_s=self.vd_m_s,
            heading_deg=self.heading_deg,
            battery_pct=self.battery_pct,
            battery_v=self.battery_v,
            battery_min_left=self.battery_min_left,
            gps_fix=None if self.gps_fix is GpsFix.UNKNOWN else int(self.gps_fix),
            satellites=self.satellites,
            mode=self.mode.value,
            armed=self.armed,
            landed_state=self.landed.value,
            mission_seq=self.mission_seq,
            mission_total=self.mission_total,
            link_rate_hz=stats.rate_hz if stats else None,
            link_loss_pct=stats.loss_pct if stats else None,
        )
