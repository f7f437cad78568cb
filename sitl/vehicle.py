"""One simulated PX4 vehicle: commander (arming, modes, commands), navigator
(takeoff, missions, RTL, land), failsafes, parameters and its two links.

The numbers it flies with come from its parameters (PX4 names), and its
words are PX4's: STATUSTEXT strings end with a tab as PX4 v1.16 sends them.
Physics lives in `sitl.physics` (vectorised for the whole fleet); this class
only moves setpoints, once per tick.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable
from typing import Any

from sitl.clock import SimClock
from sitl.codec import mavlink as m
from sitl.commands import COMMANDS, UNSUPPORTED, request_mode
from sitl.config import VehiclePorts
from sitl.failsafes import Failsafes
from sitl.link import LinkKind, SimLink
from sitl.mission import (
    DO_CHANGE_SPEED,
    DO_JUMP,
    NAV_COMMANDS,
    NAV_DELAY,
    NAV_LAND,
    NAV_LOITER_TIME,
    NAV_LOITER_UNLIM,
    NAV_RETURN_TO_LAUNCH,
    NAV_TAKEOFF,
    MissionItem,
    MissionManager,
    MissionType,
)
from sitl.modes import FlightMode, LandedState, MavState
from sitl.navigation import Phase
from sitl.params import HASH_CHECK_INDEX, ParamStore, ParamType, decode_value, encode_value
from sitl.physics import BATTERY_WH, FleetPhysics
from sitl.pose import Pose
from sitl.telemetry import BUILDERS

__all__ = ["SimVehicle"]

# PX4 AUTOPILOT_VERSION facts (measured).
CAPABILITIES = 0xE8FF
FLIGHT_SW_VERSION = 0x011000FF
# SYS_STATUS sensor bits PX4 reports for a healthy SIH quadrotor.
_GYRO, _ACCEL, _MAG, _BARO = 1, 2, 4, 8
_GPS = 32
_ANGULAR_RATE, _ATTITUDE, _YAW_POS, _Z_ALT, _XY_POS, _MOTORS = 1024, 2048, 4096, 8192, 16384, 32768
_AHRS, _BATTERY, _PREARM = 1 << 21, 1 << 25, 1 << 28
_SENSORS = (
    _GYRO | _ACCEL | _MAG | _BARO | _GPS | _ANGULAR_RATE | _ATTITUDE | _YAW_POS | _Z_ALT
    | _XY_POS | _MOTORS | _AHRS | _BATTERY | _PREARM
)  # fmt: skip
# MAV_SEVERITY
EMERGENCY, CRITICAL, WARNING, NOTICE, INFO = 0, 2, 4, 5, 6
_ALT_ACCEPT_M = 0.8  # PX4's NAV_MC_ALT_RAD
_SPOOLUP_S = 1.5  # motors spin up after arming before the vehicle lifts


class SimVehicle:
    """A PX4-compatible multirotor endpoint (system id `system_id`)."""

    def __init__(
        self,
        *,
        index: int,
        system_id: int,
        ports: VehiclePorts,
        physics: FleetPhysics,
        clock: SimClock,
        set_stream_rate: Callable[[SimLink, int, float], None],
        get_stream_rate: Callable[[SimLink, int], float],
        param_overrides: dict[str, float] | None = None,
        seed: int = 0,
    ) -> None:
        self.index = index
        self.noise = random.Random(seed * 7919 + index)
        self.system_id = system_id
        self.ports = ports
        self._phys = physics
        self._clock = clock
        self._set_stream_rate = set_stream_rate
        self._get_stream_rate = get_stream_rate
        self.params = ParamStore({"MAV_SYS_ID": system_id, **(param_overrides or {})})
        self.links: list[SimLink] = []
        self.mission = MissionManager(
            sysid=system_id,
            statustext=self.statustext,
            on_mission_changed=self._on_mission_changed,
        )
        i = index
        self.home_lat_deg, self.home_lon_deg = physics.ned_to_global(
            float(physics.pos[i, 0]), float(physics.pos[i, 1])
        )
        self.home_amsl_m = physics.ground_amsl_m
        physics.home[i] = physics.pos[i]
        self.mode = FlightMode.AUTO_LOITER
        self.armed = False
        self.landed_state = LandedState.ON_GROUND
        self.phase = Phase.IDLE
        self.gps_ok = True
        self.statustexts: deque[tuple[float, int, str]] = deque(maxlen=200)
        # (sim time, event) for diagnosing tests: commands received, mode changes.
        self.history: deque[tuple[float, str]] = deque(maxlen=200)
        self._takeoff_alt_m = 2.5
        self._spool_until_s = 0.0
        self._armed_at_s = 0.0
        self._touchdown_at_s: float | None = None
        self._hold_until_s: float | None = None
        self._arrived = False
        self._speed_override_m_s: float | None = None
        self._mission_started = False
        self.mission_finished = False
        self.mission_reached = -1
        self._reached_resends: dict[int, int] = {}
        self._jumps_left: dict[int, int] = {}
        self._rtl_return_alt_m = 30.0
        self._statustext_id = 0
        self._mission_announced = False
        self._announced_state: tuple[FlightMode, bool] = (self.mode, self.armed)
        self._announced_landed = self.landed_state
        self._limits_key: tuple[object, ...] = ()
        self._airborne = False
        self.failsafes = Failsafes(self)
        self._param_queue: deque[tuple[SimLink, int]] = deque()
        self._boot_n, self._boot_e = float(physics.pos[i, 0]), float(physics.pos[i, 1])

    # ================================================================ queries
    @property
    def i(self) -> int:
        return self.index

    def now_s(self) -> float:
        return self._clock.time_s()

    def alt_m(self) -> float:
        """Altitude above home (PX4's relative altitude)."""
        return self.amsl_m() - self.home_amsl_m

    def amsl_m(self) -> float:
        return self._phys.ground_amsl_m - float(self._phys.pos[self.i, 2])

    def height_m(self) -> float:
        return self._phys.alt_m(self.i)

    def position(self) -> tuple[float, float]:
        return self._phys.ned_to_global(
            float(self._phys.pos[self.i, 0]), float(self._phys.pos[self.i, 1])
        )

    def _soc(self) -> float:
        return float(self._phys.energy_wh[self.i]) / BATTERY_WH

    def battery_pct(self) -> float:
        return self._soc() * 100.0

    def pose(self) -> Pose:
        lat, lon = self.position()
        p = self._phys
        i = self.i
        return Pose(
            lat_deg=lat,
            lon_deg=lon,
            rel_alt_m=self.alt_m(),
            amsl_m=self.amsl_m(),
            heading_deg=math.degrees(float(p.yaw[i])) % 360.0,
            time_s=self.now_s(),
            roll_deg=math.degrees(float(p.roll[i])),
            pitch_deg=math.degrees(float(p.pitch[i])),
            ground_speed_m_s=math.hypot(float(p.vel[i, 0]), float(p.vel[i, 1])),
        )

    def in_air(self) -> bool:
        return self.height_m() > 0.05 or bool(self._phys.flying[self.i])

    def system_status(self) -> int:
        if self.armed:
            return MavState.CRITICAL if self.failsafes.battery_level >= 3 else MavState.ACTIVE
        return MavState.STANDBY if self._arm_block_reason() is None else MavState.UNINIT

    def sensors(self) -> tuple[int, int, int]:
        """SYS_STATUS present/enabled/health bits (GPS and pre-arm reflect health)."""
        present = enabled = _SENSORS
        health = _SENSORS
        if not self.gps_ok:
            health &= ~(_GPS | _XY_POS)
        if self._arm_block_reason() is not None and not self.armed:
            health &= ~_PREARM
        return present, enabled, health

    # ================================================================ output
    def statustext(self, text: str, severity: int = INFO) -> None:
        """Announce as PX4 does: text ending with a tab, split over two
        messages when longer than 50 bytes, on every link."""
        self.statustexts.append((self.now_s(), severity, text))
        raw = (text + "\t").encode()
        chunks = [raw[i : i + 50] for i in range(0, len(raw), 50)]
        msg_id = 0
        if len(chunks) > 1:
            if len(chunks[-1]) == 50:
                chunks.append(b"")  # a short chunk ends a chunked text
            self._statustext_id = self._statustext_id % 0xFFFF + 1
            msg_id = self._statustext_id
        for n, chunk in enumerate(chunks):
            msg = m.MAVLink_statustext_message(severity, chunk, msg_id, n)
            for link in self.links:
                link.send_msg(msg)

    def _broadcast(self, msg: Any) -> None:
        for link in self.links:
            link.send_msg(msg)

    # ================================================================ input
    def handle(self, link: SimLink, msg: Any) -> None:
        """Dispatch one message received on `link`."""
        kind = msg.get_type()
        if kind == "HEARTBEAT":
            if msg.get_srcSystem() != self.system_id:
                self._on_heartbeat(link, msg)
            return
        handler = _HANDLERS.get(kind)
        if handler is not None:
            handler(self, link, msg)
        elif kind.startswith("MISSION_"):
            self.mission.handle(link, msg)

    def _on_heartbeat(self, link: SimLink, msg: Any) -> None:
        # PX4 forwards a client's heartbeat to its other links.
        raw = msg.get_msgbuf()
        for other in self.links:
            if other is not link:
                other.forward(bytes(raw))
        if msg.type == 6:  # MAV_TYPE_GCS
            self.failsafes.gcs_heartbeat()

    def _targets_us(self, msg: Any) -> bool:
        return bool(msg.target_system in (0, self.system_id))

    # ---------------------------------------------------------------- params
    def _on_param_request_list(self, link: SimLink, msg: Any) -> None:
        if not self._targets_us(msg):
            return
        for index in range(len(self.params)):
            self._param_queue.append((link, index))
        self._param_queue.append((link, HASH_CHECK_INDEX))

    def _on_param_request_read(self, link: SimLink, msg: Any) -> None:
        if not self._targets_us(msg):
            return
        if msg.param_index >= 0:
            index: int | None = msg.param_index if msg.param_index < len(self.params) else None
        else:
            name = _param_name(msg.param_id)
            index = HASH_CHECK_INDEX if name == "_HASH_CHECK" else self.params.index_of(name)
        if index is not None:
            link.send_msg(self._param_value(index))

    def _on_param_set(self, link: SimLink, msg: Any) -> None:
        if not self._targets_us(msg):
            return
        name = _param_name(msg.param_id)
        index = self.params.index_of(name)
        if index is None:
            return  # PX4 ignores unknown names
        spec = self.params.spec(index)
        self.params.set(name, decode_value(spec.type, float(msg.param_value)))
        self._broadcast(self._param_value(index))

    def _param_value(self, index: int) -> Any:
        count = len(self.params)
        if index == HASH_CHECK_INDEX:
            value = encode_value(ParamType.UINT32, self.params.hash_check())
            return m.MAVLink_param_value_message(
                b"_HASH_CHECK", value, ParamType.UINT32, count, HASH_CHECK_INDEX
            )
        spec = self.params.spec(index)
        return m.MAVLink_param_value_message(
            spec.name.encode(),
            encode_value(spec.type, self.params.value(index)),
            int(spec.type),
            count,
            index,
        )

    def pump_params(self, budget: int = 10) -> None:
        """Stream queued PARAM_VALUEs, a few per tick (PX4 takes ~0.9 s for its list)."""
        queue = self._param_queue
        for _ in range(min(budget, len(queue))):
            link, index = queue.popleft()
            link.send_msg(self._param_value(index))

    # ---------------------------------------------------------------- misc
    def _on_timesync(self, link: SimLink, msg: Any) -> None:
        if msg.tc1 == 0:
            link.send_msg(m.MAVLink_timesync_message(self._clock.time_usec() * 1000, msg.ts1))

    def _on_ping(self, link: SimLink, msg: Any) -> None:
        if msg.target_system == 0:
            link.send_msg(
                m.MAVLink_ping_message(
                    msg.time_usec, msg.seq, msg.get_srcSystem(), msg.get_srcComponent()
                )
            )

    def _on_set_mode(self, link: SimLink, msg: Any) -> None:
        if msg.target_system != self.system_id:
            return
        main = (msg.custom_mode >> 16) & 0xFF
        sub = (msg.custom_mode >> 24) & 0xFF
        mode = FlightMode.from_custom(main, sub)
        if mode is not None:
            request_mode(self, mode)

    # ---------------------------------------------------------------- commands
    def _on_command_long(self, link: SimLink, msg: Any) -> None:
        if not self._targets_us(msg) or msg.target_component not in (0, 1):
            return
        params = (
            msg.param1, msg.param2, msg.param3, msg.param4, msg.param5, msg.param6, msg.param7
        )  # fmt: skip
        self._command(link, msg, msg.command, params, frame=None)

    def _on_command_int(self, link: SimLink, msg: Any) -> None:
        if not self._targets_us(msg) or msg.target_component not in (0, 1):
            return
        global_frame = msg.frame in (0, 3, 5, 6, 10, 11)
        x = msg.x * 1e-7 if global_frame else float(msg.x)
        y = msg.y * 1e-7 if global_frame else float(msg.y)
        if global_frame and msg.x == 0 and msg.y == 0:
            x = y = math.nan
        params = (msg.param1, msg.param2, msg.param3, msg.param4, x, y, msg.z)
        self._command(link, msg, msg.command, params, frame=msg.frame)

    def _ack(self, msg: Any, command: int, result: int) -> None:
        ack = m.MAVLink_command_ack_message(
            command, result, 0, 0, msg.get_srcSystem(), msg.get_srcComponent()
        )
        self._broadcast(ack)

    def _command(
        self,
        link: SimLink,
        msg: Any,
        command: int,
        p: tuple[float, ...],
        *,
        frame: int | None,
    ) -> None:
        self.history.append((self.now_s(), f"command {command} {[round(x, 3) for x in p]}"))
        handler = COMMANDS.get(command)
        if handler is None:
            self._ack(msg, command, UNSUPPORTED)
            return
        result = handler(self, link, msg, p, frame)
        if result is not None:
            self._ack(msg, command, result)

    # ================================================================ commander
    def _arm_block_reason(self) -> str | None:
        if self.mode.needs_rc:
            return "Resolve system health failures first"
        if not self.gps_ok:
            return "Resolve system health failures first"
        if self._soc() < self.params.clamped("BAT_CRIT_THR"):
            return "Resolve system health failures first"
        return None

    def arm(self, reason: str, *, forced: bool = False) -> bool:
        if self.armed:
            return True
        block = self._arm_block_reason()
        if block is not None and not forced:
            if not self.gps_ok:
                self.statustext("Preflight Fail: No valid global position", CRITICAL)
            self.statustext(f"Arming denied: {block}", CRITICAL)
            return False
        self.armed = True
        now = self.now_s()
        self._armed_at_s = now
        self._spool_until_s = now + _SPOOLUP_S
        self._phys.armed[self.i] = True
        lat, lon = self.position()
        self._set_home(lat, lon, self.amsl_m())
        self.statustext(f"Armed by {reason}", INFO)
        if self.mode in (FlightMode.AUTO_TAKEOFF, FlightMode.AUTO_MISSION):
            self._enter(self.mode)
        return True

    def disarm(self, reason: str, *, forced: bool = False) -> bool:
        if not self.armed:
            return True
        if self.in_air() and not forced and self.height_m() > 0.05:
            self.statustext("Disarming denied: not landed", CRITICAL)
            return False
        self.armed = False
        self._phys.armed[self.i] = False
        self._phys.flying[self.i] = False
        self._phys.landing[self.i] = False
        self._touchdown_at_s = None
        self.statustext(f"Disarmed by {reason}", INFO)
        self.history.append((self.now_s(), f"disarmed in phase {self.phase.name}"))
        self.mode = FlightMode.AUTO_LOITER
        self._mission_announced = False
        self.phase = Phase.IDLE
        self._speed_override_m_s = None
        if self.height_m() <= 0.05:
            self.landed_state = LandedState.ON_GROUND
        return True

    def _set_home(self, lat: float, lon: float, amsl: float) -> None:
        self.home_lat_deg, self.home_lon_deg, self.home_amsl_m = lat, lon, amsl
        north, east = self._phys.global_to_ned(lat, lon)
        self._phys.home[self.i] = (north, east, self._phys.ground_amsl_m - amsl)

    # ================================================================ navigator
    def _down_for_amsl(self, amsl: float) -> float:
        return min(self._phys.ground_amsl_m - amsl, 0.0)

    def _down_for_rel(self, rel_alt: float) -> float:
        return self._down_for_amsl(self.home_amsl_m + rel_alt)

    def _goto(self, north: float, east: float, down: float) -> None:
        t = self._phys.target[self.i]
        t[0], t[1], t[2] = north, east, down
        self._phys.landing[self.i] = False
        self._arrived = False

    def _hold_here(self) -> None:
        pos = self._phys.pos[self.i]
        self._goto(float(pos[0]), float(pos[1]), float(pos[2]))

    def _enter(self, mode: FlightMode) -> None:
        """Switch mode and set up its navigator (also used to restart a mode)."""
        was = self.mode
        self.history.append((self.now_s(), f"mode {mode.name} (armed={self.armed})"))
        if mode is not FlightMode.AUTO_MISSION:
            self._mission_announced = False
        self.mode = mode
        self._hold_until_s = None
        self._phys.target_yaw[self.i] = math.nan
        if mode is not FlightMode.AUTO_MISSION or was is not FlightMode.AUTO_MISSION:
            self._phys.landing[self.i] = False
        flying = self.in_air() and self.armed
        if mode is FlightMode.AUTO_LOITER:
            if flying:
                self._hold_here()
                self.phase = Phase.HOLD
            else:
                self.phase = Phase.IDLE
        elif mode is FlightMode.AUTO_TAKEOFF:
            if self.armed:
                self._start_climb(self._takeoff_alt_m)
            else:
                self.phase = Phase.IDLE
        elif mode is FlightMode.AUTO_MISSION:
            if not self.armed:
                self.phase = Phase.IDLE
                return
            self._mission_started = True
            self.mission_finished = False
            if not self._mission_announced:
                self._mission_announced = True
                self.statustext("Executing Mission", INFO)
                self._command_payload()
            if not flying:
                self._start_climb(max(self.params["MIS_TAKEOFF_ALT"], 1.0))
                if self._current_item() is not None and self._current_item().command == NAV_TAKEOFF:  # type: ignore[union-attr]
                    self.phase = Phase.ITEM
                    self._begin_item()
            else:
                self.phase = Phase.ITEM
                self._begin_item()
        elif mode is FlightMode.AUTO_RTL:
            if flying:
                self._start_rtl()
            else:
                self.phase = Phase.IDLE
        elif mode is FlightMode.AUTO_LAND:
            if flying:
                self.statustext("Landing at current position", INFO)
                self._start_land()
            else:
                self.phase = Phase.IDLE
        else:
            self.phase = Phase.IDLE

    def _start_climb(self, rel_alt: float) -> None:
        pos = self._phys.pos[self.i]
        self._goto(float(pos[0]), float(pos[1]), self._down_for_rel(rel_alt))
        on_ground = self.height_m() <= 0.05
        self.phase = Phase.SPOOLUP if on_ground else Phase.TAKEOFF
        if on_ground:
            self._spool_until_s = max(self._spool_until_s, self.now_s() + _SPOOLUP_S)

    def _start_land(self) -> None:
        self._hold_here()
        self._phys.landing[self.i] = True
        self._phys.flying[self.i] = True
        self.phase = Phase.LAND
        self._touchdown_at_s = None

    def _command_payload(self) -> None:
        """PX4's navigator re-commands its payload when a mission or a return
        starts: gimbal manager take-over and neutral attitude, camera trigger
        off. These COMMAND_LONGs from 1/1 target the gimbal (154) and camera
        (100) components; there are none here, so nobody acks them."""
        sysid = self.system_id
        nan = math.nan
        for command, comp, params in (
            (1001, 154, (-2.0, -2.0, -1.0, -1.0, nan, nan, 0.0)),  # GIMBAL_MANAGER_CONFIGURE
            (1000, 154, (0.0, 0.0, nan, nan, 0.0, nan, 0.0)),  # GIMBAL_MANAGER_PITCHYAW
            (2003, 100, (0.0, -1.0, -1.0, nan, nan, nan, nan)),  # DO_TRIGGER_CONTROL off
        ):
            self._broadcast(m.MAVLink_command_long_message(sysid, comp, command, 0, *params))

    def _start_rtl(self) -> None:
        rel = self.alt_m()
        ret_alt = max(self.params["RTL_RETURN_ALT"], rel)
        self._rtl_return_alt_m = ret_alt
        self.statustext("Returning to launch", INFO)
        self._command_payload()
        self.statustext(
            f"RTL: start return at {math.ceil(self.home_amsl_m + ret_alt)} m "
            f"({math.ceil(ret_alt)} m above destination)",
            INFO,
        )
        pos = self._phys.pos[self.i]
        self._goto(float(pos[0]), float(pos[1]), self._down_for_rel(ret_alt))
        self.phase = Phase.RTL_CLIMB

    def _current_item(self) -> MissionItem | None:
        items = self.mission.items[MissionType.MISSION]
        seq = self.mission.current_seq
        return items[seq] if 0 <= seq < len(items) else None

    def _on_mission_changed(self, replaced: bool) -> None:
        """A new plan or a new current item: report it, re-plan if flying it.

        A replaced plan also forgets the old plan's last reached item, so its
        MISSION_ITEM_REACHED re-sends cannot pass for progress in the new one.
        """
        self._jumps_left = {}
        self.mission_finished = False
        if replaced:
            self.mission_reached = -1
            self._reached_resends = {}
        if not self.mission.items[MissionType.MISSION]:
            self._mission_started = False
            self.mission_reached = -1
        self._send_mission_current()
        if self.mode is FlightMode.AUTO_MISSION and self.phase is Phase.ITEM:
            self._begin_item()

    def _send_mission_current(self) -> None:
        for link in self.links:
            frame = self.build(link, m.MAVLINK_MSG_ID_MISSION_CURRENT, resend_reached=False)
            if frame is not None:
                link.send_now(frame)

    def _set_reached(self, seq: int) -> None:
        self.mission_reached = seq
        self._reached_resends = {id(link): 0 for link in self.links}
        self._broadcast(m.MAVLink_mission_item_reached_message(seq))

    def _advance(self) -> None:
        """Go to the next item, executing DO items on the way."""
        items = self.mission.items[MissionType.MISSION]
        seq = self.mission.current_seq + 1
        for _ in range(len(items) + 100):  # bounded: DO_JUMP loops
            if seq >= len(items):
                self._finish_mission()
                return
            item = items[seq]
            if item.command == DO_JUMP:
                target = int(item.params[0])
                repeat = int(item.params[1])
                left = self._jumps_left.setdefault(seq, repeat)
                if (left > 0 or repeat < 0) and 0 <= target < len(items):
                    if repeat >= 0:
                        self._jumps_left[seq] = left - 1
                    seq = target
                    continue
                seq += 1
                continue
            if item.command == DO_CHANGE_SPEED:
                speed = item.params[1]
                if math.isfinite(speed):
                    self._speed_override_m_s = float(speed) if speed > 0 else None
                seq += 1
                continue
            if item.command not in NAV_COMMANDS and item.command != NAV_DELAY:
                seq += 1
                continue
            break
        self.mission.current_seq = seq
        self._send_mission_current()
        self._begin_item()

    def _finish_mission(self) -> None:
        self.mission_finished = True
        if self.in_air():
            self.statustext("Mission finished, loitering", INFO)
            self._enter(FlightMode.AUTO_LOITER)
        else:
            self.phase = Phase.LANDED

    def _begin_item(self) -> None:
        item = self._current_item()
        if item is None:
            self._finish_mission()
            return
        if item.command not in NAV_COMMANDS and item.command != NAV_DELAY:
            self._advance_from_do(item)
            return
        self._hold_until_s = None
        self._arrived = False
        if item.command == NAV_DELAY:
            self._hold_here()
            return
        if item.command == NAV_RETURN_TO_LAUNCH:
            self._start_rtl()
            return
        pos = self._phys.pos[self.i]
        if item.is_global and not (item.lat_deg == 0.0 and item.lon_deg == 0.0):
            north, east = self._phys.global_to_ned(item.lat_deg, item.lon_deg)
        else:
            north, east = float(pos[0]), float(pos[1])
        if math.isfinite(item.alt_m):
            amsl = self.home_amsl_m + item.alt_m if item.relative_alt else item.alt_m
            down = self._down_for_amsl(amsl)
        else:
            down = float(pos[2])
        if item.command == NAV_TAKEOFF:
            north, east = float(pos[0]), float(pos[1])
            if self.height_m() <= 0.05:
                self._start_climb(max(-down, 1.0))  # SPOOLUP, then ITEM once flying
                return
        if item.command == NAV_LAND:
            self._goto(north, east, float(pos[2]) if self.in_air() else 0.0)
            return
        yaw = item.params[3]
        self._phys.target_yaw[self.i] = (
            math.radians(yaw) if math.isfinite(yaw) and item.command != NAV_TAKEOFF else math.nan
        )
        self._goto(north, east, down)

    def _advance_from_do(self, item: MissionItem) -> None:
        self.mission.current_seq = item.seq - 1
        self._advance()

    def _item_progress(self, now: float) -> None:
        """Check the current mission item; move on when it is done."""
        item = self._current_item()
        if item is None:
            self._finish_mission()
            return
        i = self.i
        phys = self._phys
        pos = phys.pos[i]
        target = phys.target[i]
        dist_h = math.hypot(float(target[0] - pos[0]), float(target[1] - pos[1]))
        dist_v = abs(float(target[2] - pos[2]))
        cmd = item.command
        if cmd == NAV_RETURN_TO_LAUNCH:
            return  # the RTL phases run it; touchdown reports it reached
        if cmd == NAV_LAND:
            if not phys.landing[i] and dist_h < 1.0:
                self._start_land()
                self.phase = Phase.ITEM
            return
        if cmd == NAV_DELAY:
            if self._hold_until_s is None:
                self._hold_until_s = now + max(item.params[0], 0.0)
            if now >= self._hold_until_s:
                self._item_done()
            return
        acc_rad = item.params[1] if cmd == 16 and item.params[1] > 0 else self.params["NAV_ACC_RAD"]
        if cmd == NAV_TAKEOFF:
            arrived = dist_v < _ALT_ACCEPT_M
        else:
            arrived = dist_h < max(acc_rad, 0.05) and dist_v < _ALT_ACCEPT_M
        if not arrived and not self._arrived:
            return
        self._arrived = True
        if cmd == NAV_LOITER_UNLIM:
            if self.mission_reached != item.seq:
                self._set_reached(item.seq)
            return
        hold = item.params[0] if cmd in (16, NAV_LOITER_TIME) else 0.0
        if self._hold_until_s is None:
            self._hold_until_s = now + (hold if math.isfinite(hold) and hold > 0 else 0.0)
        if now >= self._hold_until_s:
            self._item_done()

    def _item_done(self) -> None:
        self._set_reached(self.mission.current_seq)
        self._advance()

    # ================================================================ tick
    def update(self, now: float, tick: int = 0) -> None:
        """Once per tick, after physics: failsafes (every 5th tick, staggered
        across the fleet), then the navigator."""
        if (tick + self.index) % 5 == 0:
            self.failsafes.check(now)
        self._navigate(now)
        self._apply_limits()
        self._update_landed_state()
        if self._param_queue:
            self.pump_params()
        state = (self.mode, self.armed)
        if state != self._announced_state:
            # Announce a mode or arming change at once (with the next flush),
            # besides the 1 Hz HEARTBEAT: at high --speedup a short-lived mode
            # would otherwise never show in a heartbeat.
            self._announced_state = state
            for link in self.links:
                link.queue(BUILDERS[0](self, link, False) or b"")
        if self.landed_state is not self._announced_landed:
            # Likewise the landed state: streams are paced in wall time, so at 50x a
            # 1 Hz EXTENDED_SYS_STATE comes once per 50 vehicle seconds and can miss
            # a whole short flight.
            self._announced_landed = self.landed_state
            ext = m.MAVLINK_MSG_ID_EXTENDED_SYS_STATE
            for link in self.links:
                link.queue(BUILDERS[ext](self, link, False) or b"")

    def _apply_limits(self) -> None:
        key = (self.params.version, self.phase, self.mode, self._speed_override_m_s)
        if key == self._limits_key:
            return
        self._limits_key = key
        p = self.params
        phys = self._phys
        i = self.i
        cruise = self._speed_override_m_s or p.clamped("MPC_XY_CRUISE")
        phys.cruise_m_s[i] = min(max(cruise, 0.5), p.clamped("MPC_XY_VEL_MAX") or 20.0)
        phys.acc_h_m_s2[i] = p.clamped("MPC_ACC_HOR")
        taking_off = self.phase in (Phase.TAKEOFF, Phase.SPOOLUP) or (
            self.mode is FlightMode.AUTO_TAKEOFF
        )
        phys.up_m_s[i] = p.clamped("MPC_TKO_SPEED") if taking_off else p.clamped("MPC_Z_VEL_MAX_UP")
        # PX4 ramps the climb rate up over MPC_TKO_RAMP_T (3 s) on takeoff.
        phys.vert_acc_m_s2[i] = 0.4 if taking_off else 3.0
        phys.down_m_s[i] = p.clamped("MPC_Z_VEL_MAX_DN")
        phys.land_m_s[i] = p.clamped("MPC_LAND_SPEED")
        phys.land_alt1_m[i] = p.clamped("MPC_LAND_ALT1")
        phys.yaw_rate_max[i] = math.radians(p.clamped("MPC_YAWRAUTO_MAX"))

    def _navigate(self, now: float) -> None:
        i = self.i
        phys = self._phys
        if not self.armed:
            phys.flying[i] = False
            return
        phase = self.phase
        if phase is Phase.SPOOLUP:
            if now >= self._spool_until_s:
                phys.flying[i] = True
                self.phase = (
                    Phase.TAKEOFF
                    if self.mode is not FlightMode.AUTO_MISSION
                    or (
                        self._current_item() is None or self._current_item().command != NAV_TAKEOFF  # type: ignore[union-attr]
                    )
                    else Phase.ITEM
                )
            return
        if phase is Phase.IDLE:
            limit = self.params["COM_DISARM_PRFLT"]
            if self.height_m() <= 0.05 and limit > 0 and now - self._armed_at_s > limit:
                self.disarm("auto preflight disarming")
            return
        if phase is Phase.TAKEOFF:
            dist_v = abs(float(phys.target[i, 2] - phys.pos[i, 2]))
            if dist_v < _ALT_ACCEPT_M * 0.5:
                if self.mode is FlightMode.AUTO_MISSION:
                    self.phase = Phase.ITEM
                    self._begin_item()
                else:  # hold at the takeoff altitude
                    self.mode = FlightMode.AUTO_LOITER
                    self.phase = Phase.HOLD
            return
        if phase is Phase.ITEM:
            self._item_progress(now)
            if phys.landing[i]:
                self._check_touchdown(now)
            return
        if phase is Phase.RTL_CLIMB:
            if abs(float(phys.target[i, 2] - phys.pos[i, 2])) < _ALT_ACCEPT_M:
                home = phys.home[i]
                self._goto(float(home[0]), float(home[1]), float(phys.target[i, 2]))
                self.phase = Phase.RTL_RETURN
            return
        if phase is Phase.RTL_RETURN:
            home = phys.home[i]
            if math.hypot(float(home[0] - phys.pos[i, 0]), float(home[1] - phys.pos[i, 1])) < 1.0:
                self.statustext("RTL: land at destination", INFO)
                descend = min(self.params["RTL_DESCEND_ALT"], self.alt_m())
                self._goto(float(home[0]), float(home[1]), self._down_for_rel(descend))
                self.phase = Phase.RTL_DESCEND
            return
        if phase is Phase.RTL_DESCEND:
            if abs(float(phys.target[i, 2] - phys.pos[i, 2])) < _ALT_ACCEPT_M:
                delay = self.params["RTL_LAND_DELAY"]
                self._hold_until_s = now + delay if delay >= 0 else math.inf
                self.phase = Phase.RTL_DELAY
            return
        if phase is Phase.RTL_DELAY:
            if self._hold_until_s is not None and now >= self._hold_until_s:
                home = phys.home[i]
                self._goto(float(home[0]), float(home[1]), float(phys.pos[i, 2]))
                phys.landing[i] = True
                self.phase = Phase.LAND
            return
        if phase is Phase.LAND:
            self._check_touchdown(now)
            return
        if phase is Phase.LANDED:
            limit = self.params["COM_DISARM_LAND"]
            if (
                self._touchdown_at_s is not None
                and limit > 0
                and now - self._touchdown_at_s >= limit
            ):
                self.disarm("landing")
            return

    def _check_touchdown(self, now: float) -> None:
        i = self.i
        phys = self._phys
        if self.height_m() <= 0.02 and abs(float(phys.vel[i, 2])) < 0.1:
            phys.landing[i] = False
            phys.flying[i] = False
            self._touchdown_at_s = now
            self.statustext("Landing detected", INFO)
            if self.mode is FlightMode.AUTO_MISSION:
                self._set_reached(self.mission.current_seq)
                self.mission_finished = True
            self.phase = Phase.LANDED

    def _update_landed_state(self) -> None:
        i = self.i
        phys = self._phys
        height = self.height_m()
        if not phys.flying[i] and height <= 0.05:
            self.landed_state = LandedState.ON_GROUND
            self._airborne = False
            return
        if phys.landing[i]:
            self.landed_state = LandedState.LANDING
            return
        if not self._airborne and height > 0.3:
            self._airborne = True
            self.statustext("Takeoff detected", INFO)
        climbing = self.phase in (Phase.SPOOLUP, Phase.TAKEOFF) or (
            self.phase is Phase.ITEM and self.mode is FlightMode.AUTO_MISSION and not self._airborne
        )
        if not self._airborne or (climbing and height < min(2.0, 0.8 * self._takeoff_alt_m)):
            self.landed_state = LandedState.TAKEOFF
        else:
            self.landed_state = LandedState.IN_AIR

    # ================================================================ failsafes
    def enter_failsafe(
        self, reason: str, action: FlightMode | None, *, terminate: bool = False
    ) -> None:
        """Act on a failsafe as PX4 does: a mode change (never from landing
        back to a return), a warning only, or flight termination."""
        if terminate:
            self.statustext(f"Failsafe: {reason}, terminating flight", EMERGENCY)
            self.disarm("failsafe", forced=True)
            return
        if action is None:
            self.statustext(f"Failsafe: {reason}, warning only", WARNING)
            return
        if not (self.armed and self.in_air()) or self.mode is action:
            return
        if action is FlightMode.AUTO_RTL and self.mode is FlightMode.AUTO_LAND:
            return  # never climb away from a landing
        self.statustext(f"Failsafe: {reason}, executing {action.label}", CRITICAL)
        self._enter(action)

    @property
    def link_lost(self) -> bool:
        return self.failsafes.link_lost

    def fence_breach(self) -> str | None:
        """Why the vehicle is outside its geofence, or None when inside."""
        return self.failsafes.fence_breach()

    # ================================================================ test hooks
    def set_link_down(self, duration_s: float) -> None:
        """Both links silent both ways for `duration_s` simulated seconds."""
        until = self.now_s() + duration_s
        for link in self.links:
            link.set_down_until(until)

    # ================================================================ messages
    def autopilot_version(self) -> Any:
        uid = 0x5349_4D00_0000_0000 | self.system_id
        return m.MAVLink_autopilot_version_message(
            CAPABILITIES, FLIGHT_SW_VERSION, 0, 0, 1, [0] * 8, [0] * 8, [0] * 8, 0, 0, uid,
            [0] * 18,
        )  # fmt: skip

    def build_on_request(self, link: SimLink, msgid: int) -> bytes | None:
        if msgid == m.MAVLINK_MSG_ID_AUTOPILOT_VERSION:
            return link.framer.pack(self.autopilot_version())
        return self.build(link, msgid, resend_reached=False)

    def build(self, link: SimLink, msgid: int, *, resend_reached: bool = True) -> bytes | None:
        """Frame one telemetry message for `link` from the current state."""
        builder = BUILDERS.get(msgid)
        if builder is None:
            return None
        return builder(self, link, resend_reached)

    def reached_resend_due(self, link: SimLink) -> bool:
        """PX4 re-sends the last MISSION_ITEM_REACHED at 1 Hz, up to 10 more times."""
        key = id(link)
        count = self._reached_resends.get(key, 10)
        if self.mission_reached < 0 or count >= 10:
            return False
        self._reached_resends[key] = count + 1
        return True

    @property
    def mission_started(self) -> bool:
        return self._mission_started

    @property
    def gcs_link(self) -> SimLink:
        return next(link for link in self.links if link.kind is LinkKind.GCS)

    @property
    def api_link(self) -> SimLink:
        return next(link for link in self.links if link.kind is LinkKind.API)


def _param_name(raw: Any) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode(errors="replace")
    return str(raw).split("\x00", 1)[0]


_HANDLERS: dict[str, Callable[[SimVehicle, SimLink, Any], None]] = {
    "COMMAND_LONG": SimVehicle._on_command_long,
    "COMMAND_INT": SimVehicle._on_command_int,
    "PARAM_REQUEST_LIST": SimVehicle._on_param_request_list,
    "PARAM_REQUEST_READ": SimVehicle._on_param_request_read,
    "PARAM_SET": SimVehicle._on_param_set,
    "TIMESYNC": SimVehicle._on_timesync,
    "PING": SimVehicle._on_ping,
    "SET_MODE": SimVehicle._on_set_mode,
}
