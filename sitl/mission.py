"""PX4's mission microservice: storage and the transfer state machine.

Follows PX4's `MavlinkMissionManager` as measured on v1.16: uploads are
answered with MISSION_REQUEST (legacy, float) on the first transfer after
boot and MISSION_REQUEST_INT once the vehicle has seen a MISSION_ITEM_INT; an
item not answered within 250 ms is requested again; a transfer silent for 5 s
is abandoned with STATUSTEXT "Operation timeout" (PX4 sends no MISSION_ACK
then). Unsupported item commands are refused with MISSION_ACK UNSUPPORTED
right after the item, and STATUSTEXT "IGN MISSION_ITEM: Invalid item".
As in PX4, the MISSION_ACK for CLEAR_ALL and for a MISSION_COUNT that starts
no transfer (empty, too long, busy) is addressed to the last transfer's
partner (0/0 after boot), not to the sender; a MISSION_ACK from anyone but
the partner earns "REJ. WP CMD: partner id mismatch".

Protocol timers run on wall-clock time: they are about the radio link and its
peer, which live in wall time whatever the simulation speed-up.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from sitl.codec import mavlink as m
from sitl.link import SimLink

__all__ = ["NAV_COMMANDS", "SUPPORTED_COMMANDS", "MissionItem", "MissionManager", "MissionType"]

RETRY_TIMEOUT_S = 0.25
PROTOCOL_TIMEOUT_S = 5.0


class MissionType(IntEnum):
    MISSION = 0
    FENCE = 1
    RALLY = 2
    ALL = 255


MAX_COUNT = {MissionType.MISSION: 2000, MissionType.FENCE: 64, MissionType.RALLY: 8}

NAV_WAYPOINT = 16
NAV_LOITER_UNLIM = 17
NAV_LOITER_TURNS = 18
NAV_LOITER_TIME = 19
NAV_RETURN_TO_LAUNCH = 20
NAV_LAND = 21
NAV_TAKEOFF = 22
NAV_LOITER_TO_ALT = 31
NAV_DELAY = 93
DO_JUMP = 177
DO_CHANGE_SPEED = 178
FENCE_POLYGON_INCLUSION = 5001
FENCE_POLYGON_EXCLUSION = 5002
FENCE_CIRCLE_INCLUSION = 5003
FENCE_CIRCLE_EXCLUSION = 5004
RALLY_POINT = 5100

# Commands that carry a position (the navigator flies to them).
NAV_COMMANDS = frozenset(
    {
        NAV_WAYPOINT,
        NAV_LOITER_UNLIM,
        NAV_LOITER_TURNS,
        NAV_LOITER_TIME,
        NAV_RETURN_TO_LAUNCH,
        NAV_LAND,
        NAV_TAKEOFF,
        NAV_LOITER_TO_ALT,
    }
)
# DO commands PX4 stores in a mission (executed or passed through).
_DO_COMMANDS = frozenset(
    {
        NAV_DELAY,
        DO_JUMP,
        DO_CHANGE_SPEED,
        179,  # DO_SET_HOME
        189,  # DO_LAND_START
        194,  # DO_SET_REVERSE
        195,  # DO_SET_ROI_LOCATION
        197,  # DO_SET_ROI_NONE
        201,  # DO_SET_ROI
        203,  # DO_DIGICAM_CONTROL
        205,  # DO_MOUNT_CONTROL
        206,  # DO_SET_CAM_TRIGG_DIST
        211,  # DO_GRIPPER
        214,  # DO_SET_CAM_TRIGG_INTERVAL
        530,  # SET_CAMERA_MODE
        531,  # SET_CAMERA_ZOOM
        532,  # SET_CAMERA_FOCUS
        1000,  # DO_GIMBAL_MANAGER_PITCHYAW
        2000,  # IMAGE_START_CAPTURE
        2001,  # IMAGE_STOP_CAPTURE
        2003,  # REQUEST_CAMERA_IMAGE_CAPTURE
        2500,  # VIDEO_START_CAPTURE
        2501,  # VIDEO_STOP_CAPTURE
        3000,  # DO_VTOL_TRANSITION
        4501,  # CONDITION_GATE
    }
)
SUPPORTED_COMMANDS = {
    MissionType.MISSION: NAV_COMMANDS | _DO_COMMANDS,
    MissionType.FENCE: frozenset(
        {
            FENCE_POLYGON_INCLUSION,
            FENCE_POLYGON_EXCLUSION,
            FENCE_CIRCLE_INCLUSION,
            FENCE_CIRCLE_EXCLUSION,
        }
    ),
    MissionType.RALLY: frozenset({RALLY_POINT}),
}
_GLOBAL_FRAMES = {0: False, 3: True, 5: False, 6: True, 10: False, 11: False}  # frame -> relative
_MISSION_FRAME = 2


class Ack(IntEnum):
    """MAV_MISSION_RESULT."""

    ACCEPTED = 0
    ERROR = 1
    UNSUPPORTED_FRAME = 2
    UNSUPPORTED = 3
    NO_SPACE = 4
    INVALID = 5
    INVALID_SEQUENCE = 13
    DENIED = 14
    OPERATION_CANCELLED = 15


@dataclass(frozen=True, slots=True, kw_only=True)
class MissionItem:
    """A stored item. Positions in degrees, altitude in metres (relative to
    home when `relative_alt`). `is_global` items carry a position."""

    seq: int
    command: int
    frame: int
    params: tuple[float, float, float, float]
    lat_deg: float
    lon_deg: float
    alt_m: float
    relative_alt: bool
    is_global: bool
    autocontinue: bool = True
    current: bool = False


StatusText = Callable[[str, int], None]


class _State(IntEnum):
    IDLE = 0
    GETLIST = 1  # receiving an upload
    SENDLIST = 2  # sending a download


class MissionManager:
    """One vehicle's stored plans and its transfer state machine (both links)."""

    def __init__(
        self,
        *,
        sysid: int,
        statustext: StatusText,
        on_mission_changed: Callable[[bool], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sysid = sysid
        self._statustext = statustext
        self._on_mission_changed = on_mission_changed
        self._clock = clock
        self.items: dict[MissionType, list[MissionItem]] = {t: [] for t in MAX_COUNT}
        self.crc: dict[MissionType, int] = dict.fromkeys(MAX_COUNT, 0)
        self._int_mode = False  # PX4 boots in legacy float mode
        self._state = _State.IDLE
        self._type = MissionType.MISSION
        self._partner: tuple[SimLink, int, int] | None = None
        self._seq = 0
        self._count = 0
        self._received: list[MissionItem] = []
        self._last_sent = 0.0
        self._last_recv = 0.0
        self.current_seq = 0

    # ------------------------------------------------------------ helpers
    def _ack(self, link: SimLink, sysid: int, compid: int, result: Ack, opaque: int = 0) -> None:
        del opaque  # pymavlink's common dialect predates MISSION_ACK.opaque_id
        msg = m.MAVLink_mission_ack_message(sysid, compid, int(result), int(self._type))
        link.send_msg(msg)

    def _ack_partner(self, link: SimLink, result: Ack) -> None:
        """PX4 addresses these ACKs to the last transfer's partner, not to the sender
        (0/0 before any transfer since boot), on the link the message came in on."""
        sysid, compid = (self._partner[1], self._partner[2]) if self._partner else (0, 0)
        self._ack(link, sysid, compid, result)

    def _request(self) -> None:
        assert self._partner is not None
        link, sysid, compid = self._partner
        self._last_sent = self._clock()
        if self._int_mode:
            msg: Any = m.MAVLink_mission_request_int_message(
                sysid, compid, self._seq, int(self._type)
            )
        else:
            msg = m.MAVLink_mission_request_message(sysid, compid, self._seq, int(self._type))
        link.send_msg(msg)

    def _targets_us(self, msg: Any) -> bool:
        return bool(
            getattr(msg, "target_system", None) == self._sysid
            and getattr(msg, "target_component", None) in (0, 1, 190)
        )

    def busy(self) -> bool:
        return self._state != _State.IDLE

    # ------------------------------------------------------------ dispatch
    def handle(self, link: SimLink, msg: Any) -> None:
        handler = _HANDLERS.get(msg.get_type())
        if handler is not None and self._targets_us(msg):
            handler(self, link, msg)

    def poll(self) -> None:
        """Retries and timeouts; called every tick."""
        if self._state == _State.IDLE:
            return
        now = self._clock()
        if self._state == _State.GETLIST and now - self._last_sent > RETRY_TIMEOUT_S:
            self._request()
        elif now - self._last_recv > PROTOCOL_TIMEOUT_S:
            self._statustext("Operation timeout", 2)
            self._state = _State.IDLE

    # ------------------------------------------------------------ upload
    def _on_count(self, link: SimLink, msg: Any) -> None:
        src = (msg.get_srcSystem(), msg.get_srcComponent())
        mission_type = _mission_type(getattr(msg, "mission_type", 0))
        if self._state == _State.GETLIST:  # PX4 does not check who sent it here
            self._last_recv = self._clock()
            if self._seq == 0:
                self._request()  # our first request was lost
            else:
                self._statustext("WPM: REJ. CMD: Busy", 2)
                self._ack_partner(link, Ack.ERROR)
            return
        if self._state != _State.IDLE:
            self._statustext("WPM: IGN MISSION_COUNT: Busy", 2)
            self._ack_partner(link, Ack.ERROR)
            return
        self._last_recv = self._clock()
        if mission_type is None:
            self._ack_partner(link, Ack.INVALID)
            return
        self._type = mission_type
        if msg.count > MAX_COUNT[mission_type]:
            self._ack_partner(link, Ack.NO_SPACE)
            return
        if msg.count == 0:  # the partner stays the last transfer's: so does the ACK's target
            self._store(mission_type, [], 0)
            self._ack_partner(link, Ack.ACCEPTED)
            return
        self._state = _State.GETLIST
        self._partner = (link, *src)
        self._seq = 0
        self._count = msg.count
        self._received = []
        self._request()

    def _on_item(self, link: SimLink, msg: Any, *, is_int: bool) -> None:
        self._int_mode = is_int
        src = (msg.get_srcSystem(), msg.get_srcComponent())
        partner = self._partner
        if partner is None or (partner[1], partner[2]) != src:
            self._statustext("REJ. MIS ITEM: partner id mismatch", 2)
            return
        if getattr(msg, "mission_type", 0) != self._type:
            self._ack(link, *src, Ack.ERROR)
            return
        if self._state == _State.IDLE:
            if self._seq == msg.seq + 1:
                self._ack(link, *src, Ack.ACCEPTED, self.crc[self._type])
            else:
                self._statustext("IGN MISSION_ITEM: No transfer", 2)
                self._ack(link, *src, Ack.ERROR)
            return
        if self._state != _State.GETLIST:
            self._statustext("IGN MISSION_ITEM: Busy", 2)
            self._ack(link, *src, Ack.ERROR)
            return
        self._last_recv = self._clock()
        if msg.seq != self._seq:
            return  # not the expected item: ignore, the retry timer asks again
        item, result = _parse_item(msg, self._type, is_int=is_int)
        if item is None:
            self._statustext("IGN MISSION_ITEM: Invalid item", 2)
            self._ack(link, *src, result)
            self._state = _State.IDLE
            return
        self._received.append(item)
        self._seq = msg.seq + 1
        if self._seq < self._count:
            self._request()
            return
        if self._type == MissionType.FENCE and not _fence_ok(self._received):
            self._ack(link, *src, Ack.ERROR)
            self._state = _State.IDLE
            return
        crc = _crc_items(self._received)
        self._state = _State.IDLE
        self._store(self._type, self._received, crc)
        self._ack(link, *src, Ack.ACCEPTED, crc)

    def _store(self, mission_type: MissionType, items: list[MissionItem], crc: int) -> None:
        self.items[mission_type] = list(items)
        self.crc[mission_type] = crc
        if mission_type == MissionType.MISSION:
            current = next((it.seq for it in items if it.current), 0)
            self.current_seq = current
            self._on_mission_changed(True)

    # ------------------------------------------------------------ download
    def _on_request_list(self, link: SimLink, msg: Any) -> None:
        src = (msg.get_srcSystem(), msg.get_srcComponent())
        mission_type = _mission_type(getattr(msg, "mission_type", 0))
        if self._state == _State.SENDLIST and self._seq == self._count:
            self._state = _State.IDLE
        if mission_type is None:
            return
        same_partner = self._partner is not None and (self._partner[1], self._partner[2]) == src
        if self._state != _State.IDLE and not (
            self._state == _State.SENDLIST and same_partner and mission_type == self._type
        ):
            self._statustext("Mission download request ignored, already active", 6)
            return
        self._last_recv = self._clock()
        self._state = _State.SENDLIST
        self._type = mission_type
        self._partner = (link, *src)
        self._seq = 0
        self._count = len(self.items[mission_type])
        self._last_sent = self._clock()
        link.send_msg(
            m.MAVLink_mission_count_message(src[0], src[1], self._count, int(mission_type))
        )

    def _on_request(self, link: SimLink, msg: Any, *, is_int: bool) -> None:
        self._int_mode = is_int
        src = (msg.get_srcSystem(), msg.get_srcComponent())
        if self._partner is None or (self._partner[1], self._partner[2]) != src:
            self._statustext("WPM: REJ. CMD: partner id mismatch", 2)
            return
        if self._state == _State.IDLE:
            return  # PX4 ignores stray requests silently
        if self._state != _State.SENDLIST:
            self._statustext("WPM: REJ. CMD: Busy", 2)
            return
        if getattr(msg, "mission_type", 0) != self._type:
            return
        self._last_recv = self._clock()
        if msg.seq == self._seq and self._seq < self._count:
            self._seq += 1
        elif msg.seq != self._seq - 1:
            self._state = _State.IDLE
            self._ack(link, *src, Ack.ERROR)
            self._statustext("WPM: REJ. CMD: Req. WP was unexpected", 2)
            return
        items = self.items[self._type]
        if msg.seq >= len(items):
            self._state = _State.IDLE
            self._ack(link, *src, Ack.ERROR)
            return
        link.send_msg(
            _encode_item(
                items[msg.seq],
                src,
                current=self.current_seq,
                mission_type=self._type,
                is_int=is_int,
            )
        )

    def _on_ack(self, link: SimLink, msg: Any) -> None:
        src = (msg.get_srcSystem(), msg.get_srcComponent())
        if self._partner is None or (self._partner[1], self._partner[2]) != src:
            self._statustext("REJ. WP CMD: partner id mismatch", 2)
            return
        if self._state == _State.SENDLIST and msg.mission_type == self._type:
            self._last_recv = self._clock()
            self._state = _State.IDLE
        elif self._state == _State.GETLIST:
            if msg.type == Ack.UNSUPPORTED:
                # The peer refuses this request flavour (MAVSDK refuses the
                # legacy MISSION_REQUEST): switch flavour and ask again.
                self._int_mode = not self._int_mode
                self._request()
            elif msg.type == Ack.OPERATION_CANCELLED:
                self._state = _State.IDLE

    def _on_clear_all(self, link: SimLink, msg: Any) -> None:
        if self._state != _State.IDLE:
            self._statustext("WPM: IGN CLEAR CMD: Busy", 2)
            return
        mission_type = getattr(msg, "mission_type", 0)
        self._type = MissionType(mission_type) if mission_type in (0, 1, 2, 255) else self._type
        targets = list(MAX_COUNT) if mission_type == MissionType.ALL else []
        if mission_type in (0, 1, 2):
            targets = [MissionType(mission_type)]
        for t in targets:
            self._store(t, [], 0)
        self._ack_partner(link, Ack.ACCEPTED)

    def _on_set_current(self, link: SimLink, msg: Any) -> None:
        if self._state != _State.IDLE:
            self._statustext("WPM: IGN WP CURR CMD: Busy", 2)
            return
        if msg.seq < len(self.items[MissionType.MISSION]):
            self.set_current(msg.seq)
        else:
            self._statustext("WPM: WP CURR CMD: Not in list", 2)

    def set_current(self, seq: int) -> None:
        self.current_seq = seq
        self._on_mission_changed(False)


def _mission_type(value: int) -> MissionType | None:
    return MissionType(value) if value in (0, 1, 2) else None


def _parse_item(
    msg: Any, mission_type: MissionType, *, is_int: bool
) -> tuple[MissionItem | None, Ack]:
    frame = msg.frame
    command = msg.command
    params = (float(msg.param1), float(msg.param2), float(msg.param3), float(msg.param4))
    if frame in _GLOBAL_FRAMES:
        if is_int:
            lat, lon = msg.x * 1e-7, msg.y * 1e-7
        else:
            lat, lon = float(msg.x), float(msg.y)
        is_global = True
        relative = _GLOBAL_FRAMES[frame]
    elif frame == _MISSION_FRAME:
        lat = lon = 0.0
        is_global = False
        relative = True
    else:
        return None, Ack.UNSUPPORTED_FRAME
    if command not in SUPPORTED_COMMANDS[mission_type]:
        return None, Ack.UNSUPPORTED
    if is_global and command in NAV_COMMANDS and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None, Ack.INVALID
    return (
        MissionItem(
            seq=msg.seq,
            command=command,
            frame=frame,
            params=params,
            lat_deg=lat,
            lon_deg=lon,
            alt_m=float(msg.z),
            relative_alt=relative,
            is_global=is_global,
            autocontinue=bool(msg.autocontinue),
            current=bool(msg.current),
        ),
        Ack.ACCEPTED,
    )


def _fence_ok(items: list[MissionItem]) -> bool:
    """Polygon vertices come in complete groups of at least 3 (PX4's check)."""
    i = 0
    while i < len(items):
        item = items[i]
        if item.command in (FENCE_POLYGON_INCLUSION, FENCE_POLYGON_EXCLUSION):
            n = int(item.params[0]) if math.isfinite(item.params[0]) else 0
            if n < 3 or i + n > len(items):
                return False
            i += n
        else:
            i += 1
    return True


def _crc_items(items: list[MissionItem]) -> int:
    crc = 0
    for it in items:
        crc = zlib.crc32(
            repr((it.command, it.frame, it.params, it.lat_deg, it.lon_deg, it.alt_m)).encode(), crc
        )
    return crc


def _encode_item(
    item: MissionItem,
    dest: tuple[int, int],
    *,
    current: int,
    mission_type: MissionType,
    is_int: bool,
) -> Any:
    if item.is_global:
        frame = (6 if is_int else 3) if item.relative_alt else (5 if is_int else 0)
    else:
        frame = _MISSION_FRAME
    is_current = 1 if (mission_type == MissionType.MISSION and item.seq == current) else 0
    p1, p2, p3, p4 = item.params
    if is_int:
        return m.MAVLink_mission_item_int_message(
            dest[0], dest[1], item.seq, frame, item.command, is_current, 1,
            p1, p2, p3, p4,
            round(item.lat_deg * 1e7), round(item.lon_deg * 1e7), item.alt_m,
            int(mission_type),
        )  # fmt: skip
    return m.MAVLink_mission_item_message(
        dest[0], dest[1], item.seq, frame, item.command, is_current, 1,
        p1, p2, p3, p4, item.lat_deg, item.lon_deg, item.alt_m, int(mission_type),
    )  # fmt: skip


_HANDLERS: dict[str, Callable[[MissionManager, SimLink, Any], None]] = {
    "MISSION_COUNT": MissionManager._on_count,
    "MISSION_ITEM": lambda mgr, link, msg: mgr._on_item(link, msg, is_int=False),
    "MISSION_ITEM_INT": lambda mgr, link, msg: mgr._on_item(link, msg, is_int=True),
    "MISSION_REQUEST_LIST": MissionManager._on_request_list,
    "MISSION_REQUEST": lambda mgr, link, msg: mgr._on_request(link, msg, is_int=False),
    "MISSION_REQUEST_INT": lambda mgr, link, msg: mgr._on_request(link, msg, is_int=True),
    "MISSION_ACK": MissionManager._on_ack,
    "MISSION_CLEAR_ALL": MissionManager._on_clear_all,
    "MISSION_SET_CURRENT": MissionManager._on_set_current,
}
