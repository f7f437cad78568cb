"""Client-side helpers for simulator tests: they only speak MAVLink (MAVSDK or
pymavlink), so the same tests run against real PX4 SITL."""

from __future__ import annotations

import asyncio
import math
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from mavsdk.asyncio import ComponentType, Configuration, Mavsdk
from pymavlink.dialects.v20 import common as mavlink

EARTH_RADIUS_M = 6371000.0
# PX4 SITL default home (the built-in simulator's default too).
HOME = (47.397743, 8.545594, 489.4)


def offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    """A point `north_m`/`east_m` metres from (lat, lon)."""
    dlat = math.degrees(north_m / EARTH_RADIUS_M)
    dlon = math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(lat))))
    return lat + dlat, lon + dlon


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    north = math.radians(lat2 - lat1) * EARTH_RADIUS_M
    east = math.radians(lon2 - lon1) * EARTH_RADIUS_M * math.cos(math.radians(lat1))
    return math.hypot(north, east)


@asynccontextmanager
async def mavsdk_autopilot(url: str, timeout_s: float = 15.0) -> AsyncIterator[Any]:
    """A MAVSDK System for the first autopilot seen on `url`."""
    config = Configuration.create_with_component_type(ComponentType.GROUND_STATION)
    async with Mavsdk(config) as mavsdk:
        await mavsdk.add_any_connection(url)
        system = await mavsdk.first_autopilot(timeout_s=timeout_s)
        assert system is not None, f"no autopilot seen on {url} within {timeout_s} s"
        yield system


class MavClient:
    """A minimal pymavlink GCS on a UDP port the vehicle streams to.

    The socket is read by the event loop (`add_reader`), so tests await
    messages instead of sleeping. Messages are kept in order; `recv_until`
    consumes them from a cursor. `command()` rewinds the cursor to just
    before the command was sent (minus the ack it returns), so what the
    vehicle said while acting (a STATUSTEXT sent before the ack) can still
    be awaited afterwards."""

    def __init__(self, listen_port: int, *, sysid: int = 255, compid: int = 190) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", listen_port))
        self.sock.setblocking(False)
        self.mav = mavlink.MAVLink(None, srcSystem=sysid, srcComponent=compid)
        self.mav.robust_parsing = True
        self.peer: tuple[str, int] | None = None
        self.received: list[Any] = []
        self._cursor = 0
        self._consumed: set[int] = set()
        self._arrived = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.sock.fileno(), self._on_readable)

    @property
    def port(self) -> int:
        port: int = self.sock.getsockname()[1]
        return port

    def close(self) -> None:
        self._loop.remove_reader(self.sock.fileno())
        self.sock.close()

    def __enter__(self) -> MavClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _on_readable(self) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(65535)
            except BlockingIOError:
                return
            if self.peer is None:
                self.peer = addr
            for msg in self.mav.parse_buffer(data) or ():
                if msg.get_type() != "BAD_DATA":
                    self.received.append(msg)
            self._arrived.set()

    def send(self, msg: Any) -> None:
        assert self.peer is not None, "vehicle not heard yet"
        self.sock.sendto(msg.pack(self.mav), self.peer)
        self.mav.seq = (self.mav.seq + 1) % 256

    async def recv_until(self, predicate: Callable[[Any], bool], timeout_s: float = 5.0) -> Any:
        """The next unconsumed message matching `predicate` (others are skipped)."""
        async with asyncio.timeout(timeout_s):
            while True:
                while self._cursor < len(self.received):
                    msg = self.received[self._cursor]
                    self._cursor += 1
                    if id(msg) not in self._consumed and predicate(msg):
                        self._consumed.add(id(msg))
                        return msg
                self._arrived.clear()
                await self._arrived.wait()

    async def recv_type(self, kind: str, timeout_s: float = 5.0, **fields: Any) -> Any:
        def match(msg: Any) -> bool:
            return msg.get_type() == kind and all(getattr(msg, k) == v for k, v in fields.items())

        return await self.recv_until(match, timeout_s)

    async def wait_heard(self, timeout_s: float = 10.0) -> Any:
        return await self.recv_until(
            lambda m: m.get_type() == "HEARTBEAT" and m.autopilot == 12, timeout_s
        )

    def drain(self) -> None:
        """Forget everything received so far."""
        self._cursor = len(self.received)

    async def command(
        self, command: int, *params: float, target: int = 1, timeout_s: float = 5.0
    ) -> Any:
        """COMMAND_LONG, then its (first) COMMAND_ACK."""
        p = list(params) + [0.0] * (7 - len(params))
        self.drain()
        mark = self._cursor
        self.send(mavlink.MAVLink_command_long_message(target, 1, command, 0, *p))
        ack = await self.recv_type("COMMAND_ACK", timeout_s, command=command)
        self._cursor = mark
        return ack

    def heartbeat(self) -> None:
        self.send(mavlink.MAVLink_heartbeat_message(6, 8, 0, 0, 4, 3))  # GCS


def wall_clock() -> float:
    return time.monotonic()


async def first_match(
    stream: AsyncIterator[Any], predicate: Callable[[Any], bool], timeout_s: float, what: str
) -> Any:
    """The first item of a MAVSDK subscription that satisfies `predicate`."""
    try:
        async with asyncio.timeout(timeout_s):
            async for item in stream:
                if predicate(item):
                    return item
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    raise AssertionError(f"stream ended before {what}")


MAV_CMD_NAV_WAYPOINT = 16
MAV_CMD_NAV_TAKEOFF = 22


def waypoint(seq: int, lat: float, lon: float, alt_m: float, command: int = 16) -> Any:
    """A MISSION_ITEM_INT in PX4's usual frame (GLOBAL_RELATIVE_ALT_INT)."""
    return mavlink.MAVLink_mission_item_int_message(
        1, 1, seq, 6, command, 0, 1, 0.0, 0.0, 0.0, math.nan,
        round(lat * 1e7), round(lon * 1e7), alt_m, 0,
    )  # fmt: skip


async def upload_mission(client: MavClient, items: list[Any], mission_type: int = 0) -> int:
    """Run the upload protocol (answers legacy and INT requests); returns the ack type."""
    client.drain()
    mark = client._cursor
    client.send(mavlink.MAVLink_mission_count_message(1, 1, len(items), mission_type))
    while True:
        msg = await client.recv_until(
            lambda m: m.get_type() in ("MISSION_REQUEST", "MISSION_REQUEST_INT", "MISSION_ACK"),
            timeout_s=10,
        )
        if msg.get_type() == "MISSION_ACK":
            client._cursor = mark  # what the vehicle said meanwhile stays readable
            return int(msg.type)
        item = items[msg.seq]
        item.seq = msg.seq
        item.mission_type = mission_type
        client.send(item)


async def wait_mode(client: MavClient, custom_mode: int, timeout_s: float = 20.0) -> Any:
    """The first HEARTBEAT from the vehicle showing `custom_mode`."""
    return await client.recv_until(
        lambda m: (
            m.get_type() == "HEARTBEAT"
            and m.get_srcSystem() != 255
            and m.autopilot == 12
            and m.custom_mode == custom_mode
        ),
        timeout_s,
    )


async def wait_text(client: MavClient, fragment: str, timeout_s: float = 10.0) -> str:
    """The next STATUSTEXT containing `fragment`, chunks (same id) reassembled."""
    chunks: dict[int, str] = {}
    found = ""

    def match(m: Any) -> bool:
        nonlocal found
        if m.get_type() != "STATUSTEXT":
            return False
        text = str(m.text)
        if m.id:
            text = chunks.pop(m.id, "") + text
            if len(m.text) == 50:  # more chunks follow
                chunks[m.id] = text
                return False
        found = text
        return fragment in text

    await client.recv_until(match, timeout_s)
    return found


# PX4 custom modes (main << 16 | sub << 24)
LOITER, TAKEOFF, MISSION, RTL, LAND = 0x03040000, 0x02040000, 0x04040000, 0x05040000, 0x06040000
POSCTL = 0x00030000
