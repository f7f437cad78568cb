"""The MAVLink mission microservice, client side, on the controller's own socket.

Why not MAVSDK's `mission_raw`: it gives up on a transfer after a fixed number
of retries per message, so a 100-item upload over a link losing 30 % of
frames each way failed every time (bench/mission_upload_loss.py), and after
such a failure PX4 refuses the next transfer ("WPM: IGN CLEAR CMD: Busy") until
its own 5 s timeout. This client keeps going while the transfer makes
progress, and fails only after `stall_s` without any; it retries on an
adaptive timer (RFC 6298: smoothed round-trip time plus four deviations,
doubled on each retry and never sampled from a retried exchange), so a fast
link is retried in tens of milliseconds and a slow radio is not flooded; and
it clears a transfer the vehicle still holds open for us (MISSION_ACK
OPERATION_CANCELLED) instead of waiting out the vehicle's timer.

Protocol (https://mavlink.io/en/services/mission.html, and PX4-REFERENCE.md):
upload is driven by the vehicle (COUNT → it requests each item, re-requesting
every 250 ms → ACK); download by us (REQUEST_LIST → COUNT → we request each
item → we ACK). A lost final ACK of an upload is recovered by sending the last
item again: PX4 answers a repeated last item with the ACK once more.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pymavlink.dialects.v20 import common as mavlink2

from drone_ops.errors import DroneOpsError
from drone_ops.link.frames import Decoded, Frame, FrameDecoder
from missions.mavlink import MavItem

__all__ = [
    "MISSION_PROTOCOL_MSGIDS",
    "MissionClient",
    "MissionTransferError",
    "RetryTimer",
]

GCS_SYSID = 245  # the system id MAVSDK's ground station uses: one GCS as the vehicle sees it
# Beside MAVSDK's component 190, with a sequence-number stream of its own (the vehicle
# counts loss per sending component): MAV_COMP_ID_USER1.
MISSION_COMPID = 25
_MAX_RESTARTS = 5  # transfers the vehicle ended with an error, before we give up
# After an ERROR ACK, how long the vehicle must stay silent before we take the transfer
# as ended: longer than PX4's 250 ms re-request timer plus a round trip.
_ERROR_SILENCE_S = 0.5

_REQUEST = mavlink2.MAVLINK_MSG_ID_MISSION_REQUEST
_REQUEST_INT = mavlink2.MAVLINK_MSG_ID_MISSION_REQUEST_INT
_ACK = mavlink2.MAVLINK_MSG_ID_MISSION_ACK
_COUNT = mavlink2.MAVLINK_MSG_ID_MISSION_COUNT
_ITEM_INT = mavlink2.MAVLINK_MSG_ID_MISSION_ITEM_INT
MISSION_PROTOCOL_MSGIDS = frozenset(
    {
        _REQUEST,
        _REQUEST_INT,
        _ACK,
        _COUNT,
        _ITEM_INT,
        mavlink2.MAVLINK_MSG_ID_MISSION_ITEM,
        mavlink2.MAVLINK_MSG_ID_MISSION_REQUEST_LIST,
        mavlink2.MAVLINK_MSG_ID_MISSION_CLEAR_ALL,
    }
)

_ACCEPTED = mavlink2.MAV_MISSION_ACCEPTED
_ERROR = mavlink2.MAV_MISSION_ERROR
_CANCELLED = mavlink2.MAV_MISSION_OPERATION_CANCELLED
_MISSION_TYPES = (0, 1, 2)
_TYPE_ALL = 255
_ACK_NAMES: dict[int, str] = {
    value: entry.name.removeprefix("MAV_MISSION_")
    for value, entry in mavlink2.enums["MAV_MISSION_RESULT"].items()
    if not entry.name.endswith("_ENUM_END")
}


class MissionTransferError(DroneOpsError):
    """A mission transfer failed; `result` is the vehicle's answer or what went wrong."""

    def __init__(self, result: str) -> None:
        super().__init__(result)
        self.result = result


@dataclass(slots=True)
class RetryTimer:
    """RFC 6298 retransmission timer over the exchanges of one link (wall seconds)."""

    min_s: float = 0.05
    max_s: float = 2.0
    initial_s: float = 0.25
    srtt: float | None = None
    rttvar: float = 0.0
    backoff: int = 0

    @property
    def timeout_s(self) -> float:
        base = self.initial_s if self.srtt is None else self.srtt + max(0.01, 4.0 * self.rttvar)
        return float(min(self.max_s, max(self.min_s, base) * (2**self.backoff)))

    def sample(self, rtt_s: float) -> None:
        """An exchange answered on its first try (Karn: never a retried one)."""
        if self.srtt is None:
            self.srtt, self.rttvar = rtt_s, rtt_s / 2.0
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt_s)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt_s
        self.backoff = 0

    def retried(self) -> None:
        self.backoff = min(self.backoff + 1, 5)

    def answered(self) -> None:
        self.backoff = 0


class MissionClient:
    """Uploads, downloads and clears mission, fence and rally lists on one vehicle.

    `send` writes one frame to the vehicle (the session signs it); `handle` is
    fed every mission-protocol frame the vehicle sends. One transfer at a time.
    """

    def __init__(
        self,
        send: Callable[[bytes], None],
        *,
        stall_s: float = 20.0,
        src_system: int = GCS_SYSID,
        src_component: int = MISSION_COMPID,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send_frame = send
        self.stall_s = stall_s
        self._mav = mavlink2.MAVLink(None, srcSystem=src_system, srcComponent=src_component)
        self._me = (src_system, src_component)
        self._decoder = FrameDecoder(
            (_REQUEST, _REQUEST_INT, _ACK, _COUNT, _ITEM_INT),
        )
        self._clock = clock
        self._inbox: asyncio.Queue[tuple[int, Decoded]] | None = None
        self._lock = asyncio.Lock()
        self.timer = RetryTimer()
        self.target_system = 0
        self.retries = 0  # messages sent again, over the client's life (for benches)

    # ------------------------------------------------------------ frames
    def handle(self, frame: Frame) -> None:
        """A mission-protocol frame from the vehicle (ignored unless addressed to us)."""
        inbox = self._inbox
        if inbox is None or frame.sysid != self.target_system:
            return
        msg = self._decoder.decode(frame)
        if msg is None:
            return
        # PX4 addresses some MISSION_ACKs (CLEAR_ALL, an empty or refused COUNT) to the
        # previous transfer's partner, not to the sender: an ACK on our link is ours.
        target = (msg.get("target_system"), msg.get("target_component"))
        if frame.msgid != _ACK and target != self._me:
            return
        inbox.put_nowait((frame.msgid, msg))

    def _send(self, msg: Any) -> None:
        frame = bytes(msg.pack(self._mav))
        self._mav.seq = (self._mav.seq + 1) % 256
        self._send_frame(frame)

    def _cancel_open_transfers(self) -> None:
        """End any transfer the vehicle still holds open with us (it would answer 'Busy')."""
        for mission_type in _MISSION_TYPES:
            self._send(
                self._mav.mission_ack_encode(self.target_system, 1, _CANCELLED, mission_type)
            )

    async def _next(self, timeout_s: float) -> tuple[int, Decoded] | None:
        assert self._inbox is not None
        try:
            async with asyncio.timeout(timeout_s):
                return await self._inbox.get()
        except TimeoutError:
            return None

    async def _drop_for(self, seconds: float) -> None:
        """Let `seconds` pass, dropping what arrives (answers to what we just ended)."""
        until = self._clock() + seconds
        while (left := until - self._clock()) > 0:
            await self._next(left)

    def _begin(self, target_system: int) -> None:
        self.target_system = target_system
        self._inbox = asyncio.Queue()
        self.timer.answered()  # a new exchange: no back-off carried over from a dead one

    def _end(self) -> None:
        self._inbox = None

    def _stalled(self, last_progress: float, what: str) -> None:
        if self._clock() - last_progress > self.stall_s:
            self._cancel_open_transfers()
            raise MissionTransferError(
                f"{what}: no progress for {self.stall_s:g} s (link lost or vehicle busy)"
            )

    # ------------------------------------------------------------ clear
    async def clear(self, target_system: int, mission_type: int = _TYPE_ALL) -> None:
        """MISSION_CLEAR_ALL, resent until the vehicle acknowledges it."""
        async with self._lock:
            self._begin(target_system)
            try:
                await self._clear(mission_type)
            finally:
                self._end()

    async def _clear(self, mission_type: int) -> None:
        last_progress = self._clock()
        tries = 0
        while True:
            self._stalled(last_progress, "clear")
            if tries:
                self.retries += 1
                self.timer.retried()
                self._cancel_open_transfers()  # no answer: maybe busy with an old transfer
            sent = self._clock()
            self._send(self._mav.mission_clear_all_encode(self.target_system, 1, mission_type))
            tries += 1
            deadline = sent + self.timer.timeout_s
            while (left := deadline - self._clock()) > 0:
                got = await self._next(left)
                if got is None:
                    break
                msgid, msg = got
                if msgid != _ACK:
                    continue
                if msg["type"] == _ACCEPTED:
                    if tries == 1:
                        self.timer.sample(self._clock() - sent)
                    self.timer.answered()
                    return
                raise MissionTransferError(f"clear: vehicle answered {_ack_name(msg['type'])}")

    # ------------------------------------------------------------ upload
    async def upload(self, target_system: int, mission_type: int, items: Sequence[MavItem]) -> None:
        """Upload `items` as the vehicle's list of `mission_type` (an empty list clears it)."""
        async with self._lock:
            self._begin(target_system)
            try:
                await self._upload(mission_type, items)
            finally:
                self._end()

    def _item(self, mission_type: int, items: Sequence[MavItem], seq: int) -> Any:
        it = items[seq]
        return self._mav.mission_item_int_encode(
            self.target_system,
            1,
            seq,
            int(it.frame),
            int(it.command),
            1 if seq == 0 else 0,
            int(it.autocontinue),
            float(it.param1),
            float(it.param2),
            float(it.param3),
            float(it.param4),
            int(it.x),
            int(it.y),
            float(it.z),
            mission_type,
        )

    async def _upload(self, mission_type: int, items: Sequence[MavItem]) -> None:
        what = f"upload {_type_name(mission_type)}"
        count = len(items)
        last_progress = self._clock()
        highest = -1  # highest item the vehicle asked for in this transfer
        last_sent: int | None = None
        sent_at = 0.0
        retried = False
        started = False  # the vehicle answered our COUNT
        restarts = 0
        # An ERROR ACK is either the vehicle ending (or refusing, busy) this transfer, or a
        # late answer to a stale frame (a duplicate item that overtook its transfer's end).
        # Only silence after it tells them apart: the vehicle goes on asking in the latter.
        error_seen = False
        while True:
            self._stalled(last_progress, what)
            if not started:
                sent_at = self._clock()
                self._send(
                    self._mav.mission_count_encode(self.target_system, 1, count, mission_type)
                )
            elif last_sent is not None:
                # No request since our last item: it or the vehicle's answer was lost. The
                # vehicle re-requests by itself; sending the item again recovers sooner, and
                # a lost final ACK is repeated by a vehicle that gets the last item again.
                self._send(self._item(mission_type, items, last_sent))
                self.retries += 1
                retried = True
                self.timer.retried()
            deadline = self._clock() + self.timer.timeout_s
            while (left := deadline - self._clock()) > 0:
                got = await self._next(left)
                if got is None:
                    if error_seen:  # ended or busy: end what it holds open, start again
                        restarts += 1
                        if restarts > _MAX_RESTARTS:
                            raise MissionTransferError(
                                f"{what}: the vehicle ended the transfer {restarts} times "
                                "(another ground station uploading?)"
                            )
                        self._cancel_open_transfers()
                        # Let the cancel land before the new COUNT: on a link that reorders,
                        # a cancel that overtakes it would end the new transfer too.
                        await self._drop_for(self.timer.timeout_s)
                        started, highest, last_sent, error_seen = False, -1, None, False
                    elif not started:
                        self.retries += 1
                        retried = True
                        self.timer.retried()
                    break
                msgid, msg = got
                if msgid in (_REQUEST, _REQUEST_INT):
                    if msg.get("mission_type", 0) != mission_type:
                        continue
                    seq = int(msg["seq"])
                    if not 0 <= seq < count:
                        continue
                    error_seen = False
                    if not retried and (last_sent is None or seq == last_sent + 1):
                        self.timer.sample(self._clock() - sent_at)
                    started = True
                    retried = False
                    if seq > highest:
                        highest = seq
                        last_progress = self._clock()
                        self.timer.answered()
                    self._send(self._item(mission_type, items, seq))
                    last_sent = seq
                    sent_at = self._clock()
                    deadline = sent_at + self.timer.timeout_s
                elif msgid == _ACK:
                    result = int(msg["type"])
                    if result == _ERROR:  # of any list: PX4 names the one it is busy with
                        error_seen = True
                        deadline = max(deadline, self._clock() + _ERROR_SILENCE_S)
                        continue
                    if msg.get("mission_type", 0) != mission_type:
                        continue
                    if result == _ACCEPTED and (count == 0 or highest == count - 1):
                        self.timer.answered()
                        return
                    if result == _ACCEPTED:
                        continue  # a late ACK of an earlier exchange
                    raise MissionTransferError(
                        f"{what}: vehicle answered {_ack_name(result)}"
                        + (f" after item {last_sent}" if last_sent is not None else "")
                    )

    # ------------------------------------------------------------ download
    async def download(self, target_system: int, mission_type: int) -> list[MavItem]:
        """The vehicle's list of `mission_type`, every item requested until it arrives."""
        async with self._lock:
            self._begin(target_system)
            try:
                return await self._download(mission_type)
            finally:
                self._end()

    async def _download(self, mission_type: int) -> list[MavItem]:
        what = f"download {_type_name(mission_type)}"
        last_progress = self._clock()
        count: int | None = None
        received: list[MavItem] = []
        tries = 0
        restarts = 0
        error_seen = False  # as in `_upload`: acted on only when silence follows it
        while True:
            self._stalled(last_progress, what)
            seq = len(received)
            if count is not None and seq == count:
                self._send(
                    self._mav.mission_ack_encode(self.target_system, 1, _ACCEPTED, mission_type)
                )
                return received
            if tries:
                self.retries += 1
                self.timer.retried()
            sent = self._clock()
            if count is None:
                self._send(
                    self._mav.mission_request_list_encode(self.target_system, 1, mission_type)
                )
            else:
                self._send(
                    self._mav.mission_request_int_encode(self.target_system, 1, seq, mission_type)
                )
            tries += 1
            deadline = sent + self.timer.timeout_s
            while (left := deadline - self._clock()) > 0:
                got = await self._next(left)
                if got is None:
                    if error_seen:
                        # The vehicle ended the transfer (a request it did not expect, e.g.
                        # a late duplicate): ask for the list again from the start.
                        restarts += 1
                        if restarts > _MAX_RESTARTS:
                            raise MissionTransferError(
                                f"{what}: the vehicle ended the transfer {restarts} times"
                            )
                        count, received, tries, error_seen = None, [], 0, False
                    break
                msgid, msg = got
                if msg.get("mission_type", 0) != mission_type:
                    continue
                if msgid == _COUNT and count is None:
                    count = int(msg["count"])
                elif msgid == _ITEM_INT and count is not None and int(msg["seq"]) == seq:
                    received.append(_item_of(msg))
                elif msgid == _ACK and int(msg["type"]) != _ACCEPTED:
                    error_seen = True
                    deadline = max(deadline, self._clock() + _ERROR_SILENCE_S)
                    continue
                else:
                    continue
                error_seen = False
                if tries == 1:
                    self.timer.sample(self._clock() - sent)
                self.timer.answered()
                last_progress = self._clock()
                tries = 0
                break


def _item_of(msg: Decoded) -> MavItem:
    return MavItem(
        seq=int(msg["seq"]),
        frame=int(msg["frame"]),
        command=int(msg["command"]),
        current=int(msg["current"]),
        autocontinue=int(msg["autocontinue"]),
        param1=float(msg["param1"]),
        param2=float(msg["param2"]),
        param3=float(msg["param3"]),
        param4=float(msg["param4"]),
        x=int(msg["x"]),
        y=int(msg["y"]),
        z=float(msg["z"]),
        mission_type=int(msg.get("mission_type", 0)),
    )


def _type_name(mission_type: int) -> str:
    return {0: "mission", 1: "geofence", 2: "rally", _TYPE_ALL: "all"}.get(
        mission_type, str(mission_type)
    )


def _ack_name(result: int) -> str:
    return _ACK_NAMES.get(result, str(result))
