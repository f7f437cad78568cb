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

    Non-blocking socket read in the event loop thread: `recv_until` awaits the
    next datagram via the loop's reader, so tests never sleep."""

    def __init__(self, listen_port: int, *, sysid: int = 255, compid: int = 190) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", listen_port))
        self.sock.setblocking(False)
        self.mav = mavlink.MAVLink(None, srcSystem=sysid, srcComponent=compid)
        self.mav.robust_parsing = True
        self.peer: tuple[str, int] | None = None
        self.received: list[Any] = []
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.sock.fileno(), self._on_readable)

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
            self.peer = addr
            for msg in self.mav.parse_buffer(data) or ():
                if msg.get_type() != "BAD_DATA":
                    self.received.append(msg)
                    self._queue.put_nowait(msg)

    def send(self, msg: Any) -> None:
        assert self.peer is not None, "vehicle not heard yet"
        self.sock.sendto(msg.pack(self.mav), self.peer)
        self.mav.seq = (self.mav.seq + 1) % 256

    async def recv_until(self, predicate: Callable[[Any], bool], timeout_s: float = 5.0) -> Any:
        """The next message matching `predicate` (earlier ones are skipped)."""
        async with asyncio.timeout(timeout_s):
            while True:
                msg = await self._queue.get()
                if predicate(msg):
                    return msg

    async def recv_type(self, kind: str, timeout_s: float = 5.0, **fields: Any) -> Any:
        def match(msg: Any) -> bool:
            return msg.get_type() == kind and all(getattr(msg, k) == v for k, v in fields.items())

        return await self.recv_until(match, timeout_s)

    async def wait_heard(self, timeout_s: float = 10.0) -> Any:
        return await self.recv_type("HEARTBEAT", timeout_s)

    def drain(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()

    async def command(
        self, command: int, *params: float, target: int = 1, timeout_s: float = 5.0
    ) -> Any:
        """COMMAND_LONG, then its COMMAND_ACK (the first one)."""
        p = list(params) + [0.0] * (7 - len(params))
        self.drain()
        self.send(mavlink.MAVLink_command_long_message(target, 1, command, 0, *p))
        return await self.recv_type("COMMAND_ACK", timeout_s, command=command)

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
