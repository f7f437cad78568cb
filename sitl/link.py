"""One MAVLink UDP link of a simulated vehicle (PX4's "mavlink instance").

Like PX4, a link streams to 127.0.0.1:<remote> from boot, before anyone
speaks, and re-targets to the address of the first peer that sends to it.
Outgoing telemetry produced during one simulation tick is bundled into as few
datagrams as possible (several MAVLink frames per datagram, at most
`MAX_DATAGRAM_BYTES`): every MAVLink parser (MAVSDK, pymavlink, QGC) reads a
datagram as a byte stream, and one syscall per frame was the simulator's
largest cost. Replies (acks, parameters, mission items) go out at once.

Packet loss (`loss_pct`) drops whole datagrams both ways, from a seeded
generator; `set_down_until()` silences the link both ways (link-loss tests).

Signing (`sitl.signing`): with a key, frames that fail it are dropped before
parsing, the link adopts a peer only from a signed frame, and SETUP_SIGNING
is handled here, not by the vehicle.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from enum import Enum
from typing import Any, cast

from sitl.codec import Framer, mavlink
from sitl.signing import SimSigning

__all__ = ["MAX_DATAGRAM_BYTES", "LinkKind", "SimLink"]

MAX_DATAGRAM_BYTES = 1200
_log = logging.getLogger(__name__)


class LinkKind(Enum):
    """PX4's two SITL links: GCS ("Normal" mode) and API/offboard ("Onboard")."""

    GCS = "gcs"
    API = "api"


MessageHandler = Callable[["SimLink", Any], None]


class SimLink(asyncio.DatagramProtocol):
    """UDP endpoint with PX4's addressing rules, loss and a silence switch."""

    def __init__(
        self,
        *,
        kind: LinkKind,
        sysid: int,
        remote_port: int,
        loss_pct: float,
        seed: int,
        on_message: MessageHandler,
        sim_time: Callable[[], float],
        signing: SimSigning | None = None,
    ) -> None:
        self.kind = kind
        self.sysid = sysid
        # The vehicle's signing state, shared by its links (sitl.signing).
        self.signing = signing or SimSigning(sysid=sysid, key=None)
        self.framer = Framer(
            sysid, 1, signing=self.signing, link_id=0 if kind is LinkKind.GCS else 1
        )
        self.remote: tuple[str, int] = ("127.0.0.1", remote_port)
        self.peer_seen = False
        self._loss = loss_pct / 100.0
        self._rng = random.Random(seed)
        self._on_message = on_message
        self._sim_time = sim_time
        self._parser = mavlink.MAVLink(None)
        self._parser.robust_parsing = True
        self._transport: asyncio.DatagramTransport | None = None
        self._pending: list[bytes] = []
        self._pending_len = 0
        self._down_until_s = -1.0
        self.sent_datagrams = 0
        self.dropped_datagrams = 0
        self.received_messages = 0
        # The vehicle this link belongs to (set by the fleet; telemetry builders read it).
        self.owner: Any = None

    # ------------------------------------------------------------ asyncio
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if self.is_down() or (self._loss and self._rng.random() < self._loss):
            self.dropped_datagrams += 1
            return
        signing = self.signing
        signed_ok = False
        if signing.active:  # unsigned and wrongly signed frames go no further
            data, signed_ok = signing.filter_incoming(data)
            if not data:
                return
        if not self.peer_seen and (signed_ok or not signing.active):
            self.peer_seen = True
            self.remote = (str(addr[0]), int(addr[1]))
        try:
            msgs = self._parser.parse_buffer(data)
        except Exception:
            return
        for msg in msgs or ():
            if msg.get_type() == "BAD_DATA":
                continue
            self.received_messages += 1
            if signing.is_setup(msg.get_msgId()):
                # PX4: key changes are refused while armed; when signing is on, only a
                # SETUP_SIGNING signed with the current key got this far.
                armed = bool(getattr(self.owner, "armed", False))
                if msg.target_system in (0, self.sysid) and not armed:
                    signing.setup(bytes(msg.secret_key), msg.initial_timestamp)
                continue
            try:
                self._on_message(self, msg)
            except Exception:
                # A client's odd message must not take the vehicle down; it is
                # logged with its traceback (a simulator bug to fix), not hidden.
                _log.exception("%s link: could not handle %s", self.kind.value, msg.get_type())

    def error_received(self, exc: Exception) -> None:
        """ICMP port unreachable while nobody listens yet: PX4 keeps streaming too."""

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    # ------------------------------------------------------------ state
    def is_down(self) -> bool:
        return self._sim_time() < self._down_until_s

    def set_down_until(self, sim_time_s: float) -> None:
        self._down_until_s = sim_time_s

    # ------------------------------------------------------------ sending
    def queue(self, frame: bytes) -> None:
        """Add a telemetry frame to this tick's bundle."""
        if self.signing.key is not None:
            frame = self.signing.seal(frame, self.framer.link_id)
        self._bundle(frame)

    def _bundle(self, frame: bytes) -> None:
        if self._pending_len + len(frame) > MAX_DATAGRAM_BYTES:
            self.flush()
        self._pending.append(frame)
        self._pending_len += len(frame)

    def flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            self._pending_len = 0
            self._send(data)

    def send_now(self, frame: bytes) -> None:
        """Send a reply at once, after whatever telemetry is already queued."""
        self.flush()
        if self.signing.key is not None:
            frame = self.signing.seal(frame, self.framer.link_id)
        self._send(frame)

    def send_msg(self, msg: Any) -> None:
        self.send_now(self.framer.pack(msg))

    def forward(self, raw: bytes) -> None:
        """Forward another system's frame unchanged (PX4 forwards heartbeats)."""
        self._bundle(raw)

    def _send(self, data: bytes) -> None:
        transport = self._transport
        if transport is None:
            return
        if self.is_down() or (self._loss and self._rng.random() < self._loss):
            self.dropped_datagrams += 1
            return
        transport.sendto(data, self.remote)
        self.sent_datagrams += 1
