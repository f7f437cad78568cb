"""`VehicleSession`: one vehicle's link, state and commands.

Layers: transport (bytes) → frames (counts, tlog, the few decoded messages)
→ `StateTracker` (fields) → `VehicleState` snapshots; the same bytes feed the
fleet's shared MAVSDK instance, which runs the command and mission protocols.
Commands go one at a time per vehicle (an `asyncio.Lock`: FIFO, the sender
waits), each written to the audit chain before it is sent and after it is
answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from mavsdk.plugins.action import Action, ActionResult
from mavsdk.plugins.mavlink_direct import MavlinkDirect
from mavsdk.plugins.mavlink_direct.mavlink_direct import MavlinkDirectResult, MavlinkMessage
from mavsdk.plugins.mission_raw import MissionRaw, MissionRawResult
from pymavlink.dialects.v20 import common as mavlink2

from drone_ops.audit import AuditLog
from drone_ops.commands import (
    Command,
    CommandFailed,
    CommandRefused,
    CommandTimeout,
    LinkDown,
    Target,
    VehicleError,
    check_move,
)
from drone_ops.config import ControllerConfig
from drone_ops.link.address import LinkAddress, parse_address
from drone_ops.link.frames import FrameDecoder, FrameSplitter
from drone_ops.link.hub import HubError, MavsdkHub
from drone_ops.link.mission_transfer import (
    MISSION_PROTOCOL_MSGIDS,
    MissionClient,
    MissionTransferError,
)
from drone_ops.link.policy import LinkState, ReconnectPolicy
from drone_ops.link.signing import LinkSigner, LinkVerifier, SigningStats
from drone_ops.link.stats import LinkCounters
from drone_ops.link.transport import Transport, TransportError, open_transport
from drone_ops.plan_sync import first_difference
from drone_ops.state import VehicleState
from drone_ops.tracker import TRACKED_MSGIDS, StateTracker, StatusText
from missions.mavlink import MavItem, MissionType, fence_items, mission_items, rally_items
from missions.plan import Geofence, PatrolPlan
from telemetry.bus import Bus
from telemetry.errors import BusClosedError, TelemetryError
from telemetry.sample import TelemetrySample
from telemetry.tlog import TlogWriter

__all__ = ["TELEMETRY_ONLY", "LinkEvent", "MissionMismatch", "VehicleSession"]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

_HEARTBEAT = mavlink2.MAVLINK_MSG_ID_HEARTBEAT
_URGENT = frozenset(
    {
        _HEARTBEAT,
        mavlink2.MAVLINK_MSG_ID_EXTENDED_SYS_STATE,
        mavlink2.MAVLINK_MSG_ID_MISSION_CURRENT,
        mavlink2.MAVLINK_MSG_ID_MISSION_ITEM_REACHED,
        mavlink2.MAVLINK_MSG_ID_STATUSTEXT,
    }
)
# High-rate streams MAVSDK's action and mission services never read: handing them to
# MAVSDK costs ~100 µs a message (measured, bench/controller_cpu.py) for nothing. The
# session decodes what it needs from them itself.
TELEMETRY_ONLY = frozenset(
    {
        mavlink2.MAVLINK_MSG_ID_ATTITUDE,
        mavlink2.MAVLINK_MSG_ID_ATTITUDE_QUATERNION,
        mavlink2.MAVLINK_MSG_ID_GLOBAL_POSITION_INT,
        mavlink2.MAVLINK_MSG_ID_LOCAL_POSITION_NED,
        mavlink2.MAVLINK_MSG_ID_ATTITUDE_TARGET,
        mavlink2.MAVLINK_MSG_ID_POSITION_TARGET_LOCAL_NED,
        mavlink2.MAVLINK_MSG_ID_POSITION_TARGET_GLOBAL_INT,
        mavlink2.MAVLINK_MSG_ID_SERVO_OUTPUT_RAW,
        mavlink2.MAVLINK_MSG_ID_HIGHRES_IMU,
        mavlink2.MAVLINK_MSG_ID_ODOMETRY,
        mavlink2.MAVLINK_MSG_ID_VFR_HUD,
        mavlink2.MAVLINK_MSG_ID_ALTITUDE,
        mavlink2.MAVLINK_MSG_ID_GPS_RAW_INT,
        mavlink2.MAVLINK_MSG_ID_SYS_STATUS,
        mavlink2.MAVLINK_MSG_ID_EXTENDED_SYS_STATE,
        mavlink2.MAVLINK_MSG_ID_SCALED_PRESSURE,
        mavlink2.MAVLINK_MSG_ID_ESTIMATOR_STATUS,
        mavlink2.MAVLINK_MSG_ID_VIBRATION,
        mavlink2.MAVLINK_MSG_ID_DISTANCE_SENSOR,
        mavlink2.MAVLINK_MSG_ID_BATTERY_STATUS,
        mavlink2.MAVLINK_MSG_ID_SYSTEM_TIME,
        mavlink2.MAVLINK_MSG_ID_PING,
        mavlink2.MAVLINK_MSG_ID_TIMESYNC,
        mavlink2.MAVLINK_MSG_ID_OPEN_DRONE_ID_LOCATION,
        mavlink2.MAVLINK_MSG_ID_OPEN_DRONE_ID_SYSTEM,
        8,  # LINK_NODE_STATUS (development dialect)
        380,  # TIME_ESTIMATE_TO_TARGET (development dialect)
        436,  # CURRENT_MODE (development dialect)
    }
)
_MAV_TYPE_GCS = 6
_MAV_AUTOPILOT_INVALID = 8
_AUTOPILOT_COMPID = 1
_REASON_GRACE_S = 0.3  # a refusal's STATUSTEXT may trail its COMMAND_ACK
_MAV_CMD_MISSION_START = 300
_MAV_RESULTS = ("ACCEPTED", "TEMPORARILY_REJECTED", "DENIED", "UNSUPPORTED", "FAILED")


class MissionMismatch(CommandFailed):
    """The vehicle does not hold exactly the plan that was uploaded."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkEvent:
    """A change of the link or of the vehicle behind it, for the sortie record."""

    kind: str  # "connected", "lost", "recovered", "rebooted", "system_id_changed"
    time_unix_s: float
    detail: str = ""


def _decode_result(result: object) -> str:
    name = getattr(result, "name", None)
    return str(name) if name else str(result)


class VehicleSession:
    """`async with VehicleSession(...) as s`: one vehicle, from its connection string."""

    def __init__(
        self,
        vehicle_id: str,
        address: str | LinkAddress,
        *,
        hub: MavsdkHub,
        audit: AuditLog,
        config: ControllerConfig | None = None,
        state_bus: Bus[VehicleState] | None = None,
        sample_bus: Bus[TelemetrySample] | None = None,
        actor: str = "controller",
        system_id: int | None = None,
        signing_key: bytes | None = None,
    ) -> None:
        self.vehicle_id = vehicle_id
        # MAVLink 2 signing (drone_ops.link.signing): MAVSDK cannot sign, so frames are
        # signed on their way out and checked on their way in, here.
        self._signer = LinkSigner(signing_key) if signing_key is not None else None
        self._verifier = LinkVerifier(signing_key) if signing_key is not None else None
        self.address = address if isinstance(address, LinkAddress) else parse_address(address)
        self.config = config or ControllerConfig()
        self._hub = hub
        self._audit = audit
        self._state_bus = state_bus
        self._sample_bus = sample_bus
        self._actor = actor
        self._expected_sysid = system_id
        self._tracker = StateTracker(vehicle_id, statustext_keep=self.config.link.statustext_keep)
        self._tracker.on_reboot = self._rebooted
        self._counters = LinkCounters()
        self._decoder = FrameDecoder(TRACKED_MSGIDS)
        self._splitter: FrameSplitter | None = None
        self._transport: Transport | None = None
        self._stack = AsyncExitStack()
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._sysid: int | None = None
        self._sysid_heartbeat_mono = 0.0
        self._system: Any = None
        self._action: Any = None
        self._mission: Any = None
        self._direct: Any = None
        self._command_lock = asyncio.Lock()
        self._changed = asyncio.Event()
        self._connected = asyncio.Event()
        self._tlog: TlogWriter | None = None
        self.tlog_errors = 0
        self._last_sample_mono = 0.0
        self.link_events: deque[LinkEvent] = deque(maxlen=256)
        self.link_event_count = 0  # events ever recorded (the deque keeps the newest)
        self.fence: Geofence | None = None  # the fence of the plan the vehicle holds
        self._foreign_autopilots = 0
        self._reconnect = ReconnectPolicy()
        self._reopen_attempts = 0
        self._reopen_at = 0.0
        # Mission, fence and rally transfers: our own client (MAVSDK's gives up on lossy
        # links), on this session's socket, signed like every other frame.
        self._missions = MissionClient(self._send, stall_s=self.config.timeouts.mission_upload_s)

    # ------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> Self:
        await self._stack.__aenter__()
        try:
            self._transport = await open_transport(self.address, self._on_bytes)
            self._stack.callback(lambda: self._transport.close() if self._transport else None)
            self._splitter = FrameSplitter(stream=self._transport.stream)
            self._tg = await self._stack.enter_async_context(asyncio.TaskGroup())
            self._tasks.append(
                self._tg.create_task(self._monitor(), name=f"session-monitor-{self.vehicle_id}")
            )
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        for task in self._tasks:
            task.cancel()
        if self._sysid is not None and self._transport is not None:
            self._hub.unregister(self._sysid, self._send)
        self._tracker.set_link(LinkState.CLOSED)
        self._publish()
        await self._stack.__aexit__(et, e, tb)

    @property
    def local_port(self) -> int:
        return self._transport.local_port if self._transport else 0

    @property
    def system_id(self) -> int | None:
        return self._sysid

    @property
    def state(self) -> VehicleState:
        """The current snapshot, link statistics as of now."""
        self._refresh_stats()
        return self._tracker.snapshot()

    def _refresh_stats(self) -> None:
        self._tracker.set_stats(
            self._counters.snapshot(
                skipped_bytes=self._splitter.skipped_bytes if self._splitter else 0,
                crc_errors=self._decoder.crc_errors,
                signing_rejected=self._verifier.stats().rejected if self._verifier else 0,
            )
        )

    @property
    def signing_stats(self) -> SigningStats | None:
        """What signature checking dropped on this link; None when the link is unsigned."""
        return self._verifier.stats() if self._verifier is not None else None

    def reset_mission_progress(self) -> None:
        """Forget 'item reached' from an earlier mission (a new one was uploaded)."""
        self._tracker.reset_mission_progress()

    @property
    def statustexts(self) -> tuple[StatusText, ...]:
        return tuple(self._tracker.statustexts)

    async def wait_connected(self, timeout_s: float | None = None) -> VehicleState:
        """Wait for the vehicle's heartbeat and MAVSDK's discovery of it."""
        limit = self.config.timeouts.connect_s if timeout_s is None else timeout_s
        try:
            async with asyncio.timeout(limit):
                await self._connected.wait()
                while self._action is None:
                    await self._bind_mavsdk(limit)
        except TimeoutError:
            raise LinkDown(
                self.vehicle_id,
                f"no heartbeat on {self.address} within {limit:.0f} s; "
                "check the vehicle is on and sending to this address",
            ) from None
        return self.state

    async def _bind_mavsdk(self, timeout_s: float) -> None:
        sysid = self._sysid
        assert sysid is not None
        try:
            system = await self._hub.system(sysid, timeout_s=timeout_s)
        except HubError as exc:
            raise LinkDown(self.vehicle_id, str(exc)) from exc
        if sysid != self._sysid:
            return  # changed while we waited: bind the new one
        self._system = system
        self._action = Action(system)
        self._mission = MissionRaw(system)
        self._direct = MavlinkDirect(system)

    # ------------------------------------------------------------ raw side
    def _send(self, data: bytes) -> None:
        if self._signer is not None:
            signed = self._signer.sign(data)
            if signed is None:
                return
            data = signed
        if self._transport is not None:
            self._transport.send(data)
            if self._tlog is not None:
                self._record(data)

    def _on_bytes(self, data: bytes) -> None:
        splitter = self._splitter
        if splitter is None:
            return
        urgent = False
        counters = self._counters
        tlog = self._tlog
        sysid = self._sysid
        verifier = self._verifier
        for_mavsdk: list[bytes] = []
        for frame in splitter.feed(data):
            if verifier is not None and not verifier.accept(frame):
                continue  # unsigned, forged or replayed: not counted, recorded or obeyed
            if frame.sysid == sysid or sysid is None:  # loss and rate of the vehicle itself,
                counters.count(frame.sysid, frame.compid, frame.seq)  # not of relayed GCS frames
            if tlog is not None:
                self._record(frame.raw)
            if frame.msgid in MISSION_PROTOCOL_MSGIDS:
                self._missions.handle(frame)  # our transfers; MAVSDK runs none
                continue
            if frame.msgid not in TELEMETRY_ONLY:
                for_mavsdk.append(frame.raw)
            if frame.compid != _AUTOPILOT_COMPID:
                continue
            if frame.sysid != sysid:
                if not (frame.msgid == _HEARTBEAT and self._autopilot_heartbeat(frame)):
                    continue
                sysid = self._sysid  # adopted: handle this heartbeat like any other
            msgid = frame.msgid
            if not self._decoder.wants(msgid):
                continue
            msg = self._decoder.decode(frame)
            if msg is None:
                continue
            if msgid == _HEARTBEAT:
                if msg["type"] == _MAV_TYPE_GCS or msg["autopilot"] == _MAV_AUTOPILOT_INVALID:
                    continue
                counters.heartbeat()
                self._sysid_heartbeat_mono = time.monotonic()
                if self._tracker.link is not LinkState.CONNECTED:
                    self._link_up()
            self._tracker.handle(msgid, msg)
            if msgid in _URGENT:
                urgent = True
                if msgid == mavlink2.MAVLINK_MSG_ID_STATUSTEXT:
                    _log.info("%s: %s", self.vehicle_id, self._tracker.statustexts[-1].text)
        if for_mavsdk:
            self._hub.feed(b"".join(for_mavsdk))
        if urgent:
            self._publish()

    def _record(self, frame: bytes) -> None:
        assert self._tlog is not None
        try:
            self._tlog.write(frame)
        except TelemetryError:  # disk full: the recorder said so once; the link goes on
            self.tlog_errors += 1

    def _autopilot_heartbeat(self, frame: Any) -> bool:
        """A heartbeat from a system id we do not follow: adopt it, or notice the change."""
        msg = self._decoder.decode(frame)
        if (
            msg is None
            or msg["type"] == _MAV_TYPE_GCS
            or msg["autopilot"] == _MAV_AUTOPILOT_INVALID
        ):
            return False
        if self._expected_sysid is not None and frame.sysid != self._expected_sysid:
            self._foreign_autopilots += 1
            return False
        old = self._sysid
        silent_for = time.monotonic() - self._sysid_heartbeat_mono
        if old is not None and silent_for < self.config.wall_s(
            self.config.timeouts.heartbeat_loss_s
        ):
            self._foreign_autopilots += 1  # two autopilots on one link: keep the first
            return False
        if old is not None:
            self._hub.unregister(old, self._send)
            self._event("system_id_changed", f"system id {old} → {frame.sysid}")
            self._action = self._mission = self._system = self._direct = None
        try:
            self._hub.register(frame.sysid, self._send)
        except HubError as exc:
            self._event("refused", str(exc))
            return False
        self._sysid = frame.sysid
        self._tracker.system_id = frame.sysid
        self._connected.set()
        return True

    def _link_up(self) -> None:
        was = self._tracker.link
        self._counters.forget_sequences()
        self._tracker.set_link(LinkState.CONNECTED)
        self._event("recovered" if was is LinkState.LOST else "connected")

    def _rebooted(self) -> None:
        self._event("rebooted", "the vehicle's boot clock went backwards")
        self._tracker.reset_mission_progress()

    def _event(self, kind: str, detail: str = "") -> None:
        self.link_events.append(LinkEvent(kind=kind, time_unix_s=time.time(), detail=detail))
        self.link_event_count += 1
        _log.info("%s: link %s %s", self.vehicle_id, kind, detail)

    def _publish(self) -> None:
        self._refresh_stats()
        state = self._tracker.snapshot()
        if self._state_bus is not None:
            with contextlib.suppress(BusClosedError):  # the fleet is shutting down
                self._state_bus.publish(state)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _monitor(self) -> None:
        """Heartbeat-loss detection, periodic state publication and decimated samples."""
        cfg = self.config
        interval = min(cfg.link.state_interval_s, cfg.link.sample_interval_s)
        loss_s = cfg.timeouts.heartbeat_loss_s
        while True:
            await asyncio.sleep(interval)
            if self._transport is not None and self._transport.failed:
                await self._reopen()
            age = self._counters.snapshot().heartbeat_age_s
            if self._tracker.link is LinkState.CONNECTED and age is not None and age > loss_s:
                self._tracker.set_link(LinkState.LOST)
                self._event("lost", f"no heartbeat for {age:.1f} s")
            self._publish()
            now = time.monotonic()
            if (
                self._sample_bus is not None
                and self._tracker.boot_time_ms is not None
                and now - self._last_sample_mono >= cfg.link.sample_interval_s
            ):
                self._last_sample_mono = now
                with contextlib.suppress(BusClosedError):  # a closed bus must not stop the link
                    self._sample_bus.publish(self._tracker.sample())

    async def _reopen(self) -> None:
        """Reopen a transport whose device went away, backing off per `ReconnectPolicy`."""
        now = time.monotonic()
        if now < self._reopen_at:
            return
        try:
            transport = await open_transport(self.address, self._on_bytes)
        except TransportError as exc:
            delay = self._reconnect.delay_s(self._reopen_attempts)
            self._reopen_attempts += 1
            self._reopen_at = now + delay
            if self._reopen_attempts == 1:
                self._event("transport_failed", f"{exc}; retrying")
            return
        self._transport = transport
        self._splitter = FrameSplitter(stream=transport.stream)
        self._reopen_attempts = 0
        self._event("transport_reopened", str(self.address))

    # ------------------------------------------------------------ waiting on state
    async def wait_for(
        self, predicate: Callable[[VehicleState], bool], *, timeout_s: float | None = None
    ) -> VehicleState:
        """Return the first state satisfying `predicate` (timeout in wall seconds)."""
        async with asyncio.timeout(timeout_s):
            while True:
                changed = self._changed
                state = self._tracker.snapshot()
                if predicate(state):
                    return state
                await changed.wait()

    def link_events_since(self, count: int) -> list[LinkEvent]:
        """Events recorded after the first `count` (as many as are still kept)."""
        new = self.link_event_count - count
        return list(self.link_events)[-new:] if new > 0 else []

    async def next_change(self) -> VehicleState:
        """The next published state (at least every `link.state_interval_s`)."""
        changed = self._changed
        await changed.wait()
        return self._tracker.snapshot()

    @asynccontextmanager
    async def recording(self, path: Path) -> AsyncIterator[TlogWriter]:
        """Write every frame in and out to a `.tlog` at `path` while the block runs."""
        async with TlogWriter(path) as writer:
            self._tlog = writer
            try:
                yield writer
            finally:
                self._tlog = None

    # ------------------------------------------------------------ commands
    def _require_link(self, command: Command) -> None:
        if self._action is None or self._tracker.link is not LinkState.CONNECTED:
            raise LinkDown(
                self.vehicle_id,
                f"cannot send {command}: link is {self._tracker.link.value}; "
                "wait for the vehicle to reconnect",
            )

    async def _reason(self, since_mono: float) -> str | None:
        """The vehicle's explanation: a warning-or-worse STATUSTEXT received since the command."""

        def find() -> str | None:
            texts = [
                t.text
                for t in self._tracker.statustexts
                if t.mono >= since_mono and t.severity <= 4
            ]
            return "; ".join(texts[-2:]) if texts else None

        if (found := find()) is not None:
            return found
        with contextlib.suppress(TimeoutError):
            await self.wait_for(lambda _s: find() is not None, timeout_s=_REASON_GRACE_S)
        return find()

    async def _run(
        self,
        command: Command,
        params: Mapping[str, Any],
        send: Callable[[], Awaitable[None]],
        *,
        actor: str | None,
        target: Target | None = None,
        speed_m_s: float | None = None,
    ) -> None:
        who = actor or self._actor
        where = f"vehicle:{self.vehicle_id}"
        async with self._command_lock:
            await self._audit.append(
                actor=who, action=f"command.{command}.request", target=where, payload=dict(params)
            )
            outcome: dict[str, Any] = {"result": "ok"}
            try:
                self._require_link(command)
                why = check_move(
                    command, self.state, self.config.safety, self.fence, target, speed_m_s
                )
                if why is not None:
                    raise CommandRefused(self.vehicle_id, command, why)
                since = time.monotonic()
                try:
                    await send()
                except _VehicleSaidNo as no:
                    reason = await self._reason(since)
                    raise CommandFailed(self.vehicle_id, command, no.result, reason) from None
                except TimeoutError:
                    raise CommandTimeout(
                        self.vehicle_id, command, "no answer from the vehicle in time"
                    ) from None
            except CommandFailed as exc:
                outcome = {"result": "failed", "vehicle_result": exc.result, "reason": exc.reason}
                raise
            except (CommandRefused, LinkDown) as exc:
                outcome = {"result": "refused", "reason": str(exc)}
                raise
            except BaseException as exc:
                outcome = {"result": "error", "reason": type(exc).__name__}
                raise
            finally:
                await asyncio.shield(
                    self._audit.append(
                        actor=who, action=f"command.{command}.result", target=where, payload=outcome
                    )
                )

    async def _action_call(self, name: str, *args: Any) -> None:
        start = getattr(self._action, f"{name}_async")
        (result, _ud) = await self._hub.call(
            start, *args, timeout_s=self.config.timeouts.command_ack_s
        )
        if result != ActionResult.SUCCESS:
            raise _VehicleSaidNo(_decode_result(result))

    async def _mission_call(
        self, name: str, *args: Any, timeout_s: float | None = None
    ) -> tuple[Any, ...]:
        start = getattr(self._mission, f"{name}_async")
        res = await self._hub.call(
            start, *args, timeout_s=timeout_s or self.config.timeouts.command_ack_s
        )
        if res[0] != MissionRawResult.SUCCESS:
            raise _VehicleSaidNo(_decode_result(res[0]))
        return res

    async def arm(self, *, actor: str | None = None) -> None:
        await self._run(Command.ARM, {}, lambda: self._action_call("arm"), actor=actor)

    async def disarm(self, *, actor: str | None = None) -> None:
        await self._run(Command.DISARM, {}, lambda: self._action_call("disarm"), actor=actor)

    async def takeoff(self, rel_alt_m: float, *, actor: str | None = None) -> None:
        here = self.state
        target = Target(
            lat_deg=here.lat_deg if here.lat_deg is not None else math.nan,
            lon_deg=here.lon_deg if here.lon_deg is not None else math.nan,
            rel_alt_m=rel_alt_m,
        )

        async def send() -> None:
            await self._action_call("set_takeoff_altitude", float(rel_alt_m))
            await self._action_call("takeoff")

        await self._run(Command.TAKEOFF, {"rel_alt_m": rel_alt_m}, send, actor=actor, target=target)

    async def goto(
        self, lat_deg: float, lon_deg: float, rel_alt_m: float, *, actor: str | None = None
    ) -> None:
        target = Target(lat_deg=lat_deg, lon_deg=lon_deg, rel_alt_m=rel_alt_m)

        async def send() -> None:
            home = self.state.home
            if home is None:
                raise _VehicleSaidNo("home position unknown")
            await self._action_call(
                "goto_location", lat_deg, lon_deg, home.amsl_m + rel_alt_m, math.nan
            )

        await self._run(
            Command.GOTO,
            {"lat_deg": lat_deg, "lon_deg": lon_deg, "rel_alt_m": rel_alt_m},
            send,
            actor=actor,
            target=target,
        )

    async def hold(self, *, actor: str | None = None) -> None:
        await self._run(Command.HOLD, {}, lambda: self._action_call("hold"), actor=actor)

    async def set_speed(self, speed_m_s: float, *, actor: str | None = None) -> None:
        await self._run(
            Command.SET_SPEED,
            {"speed_m_s": speed_m_s},
            lambda: self._action_call("set_current_speed", float(speed_m_s)),
            actor=actor,
            speed_m_s=speed_m_s,
        )

    async def return_to_launch(self, *, actor: str | None = None) -> None:
        await self._run(Command.RTL, {}, lambda: self._action_call("return_to_launch"), actor=actor)

    async def land(self, *, actor: str | None = None) -> None:
        await self._run(Command.LAND, {}, lambda: self._action_call("land"), actor=actor)

    async def abort(self, *, actor: str | None = None) -> None:
        """Abort whatever the vehicle does: return to launch."""
        await self._run(
            Command.ABORT, {}, lambda: self._action_call("return_to_launch"), actor=actor
        )

    async def _mission_start_call(self) -> None:
        """MAV_CMD_MISSION_START (MAVSDK's `start_mission` only switches the mode).

        PX4 arms a disarmed vehicle on MISSION_START and takes off at once, so a
        start that arrives after the preflight auto-disarm (COM_DISARM_PRFLT, 10
        vehicle seconds: 0.2 wall seconds at 50x) still flies; a mode switch would
        leave the vehicle on the ground in AUTO.MISSION."""
        if self._direct is None or self._sysid is None:
            raise _VehicleSaidNo("not bound to the vehicle yet")
        fields = {
            "target_system": self._sysid,
            "target_component": _AUTOPILOT_COMPID,
            "command": _MAV_CMD_MISSION_START,
            "confirmation": 0,
            **{f"param{n}": 0.0 for n in range(1, 8)},
        }
        command = MavlinkMessage(
            message_name="COMMAND_LONG",
            target_system_id=self._sysid,
            target_component_id=_AUTOPILOT_COMPID,
            fields_json=json.dumps(fields),
        )
        result, ack, _ud = await self._hub.call(
            self._direct.send_command_async, command, timeout_s=self.config.timeouts.command_ack_s
        )
        if result != MavlinkDirectResult.SUCCESS:
            if result == MavlinkDirectResult.TIMEOUT:
                raise TimeoutError
            raise _VehicleSaidNo(_decode_result(result))
        code = int(json.loads(ack.fields_json).get("result", -1))
        if code != 0:
            raise _VehicleSaidNo(_MAV_RESULTS[code] if 0 <= code < len(_MAV_RESULTS) else str(code))

    async def start_mission(self, *, actor: str | None = None) -> None:
        """Start the uploaded mission from its first item (arms the vehicle if needed)."""
        await self._run(Command.START_MISSION, {}, self._mission_start_call, actor=actor)

    async def pause(self, *, actor: str | None = None) -> None:
        await self._run(
            Command.PAUSE, {}, lambda: self._none(self._mission_call("pause_mission")), actor=actor
        )

    async def resume(self, *, actor: str | None = None) -> None:
        await self._run(
            Command.RESUME, {}, lambda: self._none(self._mission_call("start_mission")), actor=actor
        )

    async def continue_mission(self, *, actor: str | None = None) -> None:
        """Continue the mission from the current item (after hold or goto)."""
        await self._run(
            Command.CONTINUE,
            {},
            lambda: self._none(self._mission_call("start_mission")),
            actor=actor,
        )

    @staticmethod
    async def _none(aw: Awaitable[Any]) -> None:
        await aw

    async def upload_plan(self, plan: PatrolPlan, *, actor: str | None = None) -> None:
        """Upload mission, fence and rally points, then download them and compare."""
        lists: tuple[tuple[str, MissionType, tuple[MavItem, ...]], ...] = (
            ("mission", MissionType.MISSION, mission_items(plan)),
            ("geofence", MissionType.FENCE, fence_items(plan)),
            ("rally", MissionType.RALLY, rally_items(plan)),
        )

        async def send() -> None:
            sysid = self._bound_sysid()
            # Clear all three lists first: a transfer cut short leaves no list of an
            # earlier plan on the vehicle beside parts of this one.
            await self._transfer(self._missions.clear(sysid))
            for what, mission_type, items in lists:
                if items:
                    await self._transfer(self._missions.upload(sysid, mission_type, items))
                held = await self._transfer(self._missions.download(sysid, mission_type))
                diff = first_difference(what, items, held)
                if diff is not None:
                    raise _VehicleSaidNo(
                        f"the vehicle does not hold the plan: {diff}", mismatch=True
                    )
            self.fence = plan.fence

        params = {
            "plan": plan.name,
            "mission_items": len(lists[0][2]),
            "fence_items": len(lists[1][2]),
            "rally_items": len(lists[2][2]),
        }
        try:
            await self._run(Command.UPLOAD_PLAN, params, send, actor=actor)
        except CommandFailed as exc:
            if exc.result.startswith("the vehicle does not hold the plan"):
                raise MissionMismatch(self.vehicle_id, Command.UPLOAD_PLAN, exc.result) from None
            raise

    def _bound_sysid(self) -> int:
        if self._sysid is None:
            raise _VehicleSaidNo("not bound to the vehicle yet")
        return self._sysid

    @staticmethod
    async def _transfer(aw: Awaitable[_T]) -> _T:
        try:
            return await aw
        except MissionTransferError as exc:
            raise _VehicleSaidNo(exc.result) from None

    async def held_mission(self) -> list[MavItem]:
        """The mission the vehicle holds now (for checks and tests)."""
        if self._sysid is None:
            raise LinkDown(self.vehicle_id, "no vehicle on this link yet")
        try:
            return await self._missions.download(self._sysid, MissionType.MISSION)
        except MissionTransferError as exc:
            raise VehicleError(self.vehicle_id, exc.result) from None

    @property
    def mission_retries(self) -> int:
        """Mission-protocol messages sent again over this link (loss made them necessary)."""
        return self._missions.retries


class _VehicleSaidNo(Exception):
    def __init__(self, result: str, *, mismatch: bool = False) -> None:
        super().__init__(result)
        self.result = result
        self.mismatch = mismatch
