"""The one MAVSDK instance the whole fleet shares, fed through a `raw://` connection.

MAVSDK 4.1 serves many autopilots on one instance: systems are told apart by
MAVLink system id (probe: heartbeats from ids 1 and 2 on one raw connection
give two `System`s, each with its own plugins). With `raw://` the controller
owns the sockets: received bytes are passed in with `pass_received_raw_bytes`,
and everything MAVSDK sends comes out of one callback, which the hub routes
to the vehicle the frame targets (broadcasts such as the GCS heartbeat go to
every vehicle). Two vehicles with the same system id cannot share the hub;
`register` refuses the second.

The asyncio wrapper of the plugins runs every call on an executor thread;
`call` uses the plugins' callback API instead (started from a small pool,
since a few of those C calls block), so fifty vehicles waiting on commands
do not hold fifty threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, Self

from mavsdk.asyncio import ComponentType, Configuration, Mavsdk
from mavsdk.logging import LogLevel, log_subscribe

from drone_ops.errors import DroneOpsError
from drone_ops.link.frames import FrameSplitter, frame_target_system

__all__ = ["HubError", "MavsdkHub"]

_log = logging.getLogger("drone_ops.mavsdk")
_LEVELS = {
    LogLevel.DEBUG: logging.DEBUG,
    LogLevel.INFO: logging.DEBUG,  # MAVSDK's info chatter is debug to us
    LogLevel.WARN: logging.WARNING,
    LogLevel.ERROR: logging.WARNING,
}


# With `raw://`, MAVSDK reports every message it sends before a vehicle is routed.
_EXPECTED = ("Sending message failed",)


def _to_logging(level: LogLevel, message: str, _file: str | None, _line: int) -> bool:
    lvl = logging.DEBUG if message.startswith(_EXPECTED) else _LEVELS.get(level, logging.DEBUG)
    _log.log(lvl, "%s", message)
    return True  # keep MAVSDK from printing to stdout: the CLI owns the terminal


class HubError(DroneOpsError):
    """The shared MAVSDK instance cannot serve a vehicle."""


def _settle(fut: asyncio.Future[tuple[Any, ...]], args: tuple[Any, ...]) -> None:
    if not fut.done():
        fut.set_result(args)


class MavsdkHub:
    """`async with MavsdkHub() as hub`: one MAVSDK instance, many vehicles."""

    def __init__(self) -> None:
        self._sdk: Mavsdk | None = None
        self._routes: dict[int, Callable[[bytes], None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._splitter = FrameSplitter(stream=True)
        self._raw_handle: Any = None
        self._feeder: ThreadPoolExecutor | None = None
        self._calls: ThreadPoolExecutor | None = None
        self.unrouted = 0

    async def __aenter__(self) -> Self:
        log_subscribe(_to_logging)
        self._loop = asyncio.get_running_loop()
        self._sdk = Mavsdk(Configuration.create_with_component_type(ComponentType.GROUND_STATION))
        await self._sdk.add_any_connection("raw://")
        self._raw_handle = self._sdk._mavsdk.subscribe_raw_bytes_to_be_sent(self._outgoing)
        self._feeder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mavsdk-feed")
        self._calls = ThreadPoolExecutor(max_workers=16, thread_name_prefix="mavsdk-call")
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        feeder, self._feeder = self._feeder, None
        calls, self._calls = self._calls, None
        loop = asyncio.get_running_loop()
        if feeder is not None:  # let queued bytes reach MAVSDK before it goes away
            await loop.run_in_executor(None, feeder.shutdown)
        if calls is not None:
            await loop.run_in_executor(None, lambda: calls.shutdown(cancel_futures=True))
        sdk, self._sdk = self._sdk, None
        self._routes.clear()
        if sdk is not None:
            sdk.destroy()

    # ------------------------------------------------------------ bytes in and out
    def feed(self, data: bytes) -> None:
        """Hand bytes received from any vehicle to MAVSDK (on the feeder thread, in order).

        `pass_received_raw_bytes` takes a few µs of CPU but can wait milliseconds on
        MAVSDK's internal locks with many systems (bench/controller_cpu.py): on the loop
        that would stall every vehicle's telemetry.
        """
        if self._sdk is not None and self._feeder is not None:
            self._feeder.submit(self._sdk._mavsdk.pass_received_raw_bytes, data)

    def _outgoing(self, data: bytes) -> None:
        # MAVSDK's thread: hop to the loop, where the transports live.
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # loop already closed at shutdown
            loop.call_soon_threadsafe(self._route, data)

    def _route(self, data: bytes) -> None:
        for frame in self._splitter.feed(data):
            target = frame_target_system(frame)
            if target == 0:
                for send in self._routes.values():
                    send(frame.raw)
            elif (send_to := self._routes.get(target)) is not None:
                send_to(frame.raw)
            else:
                self.unrouted += 1

    def register(self, sysid: int, send: Callable[[bytes], None]) -> None:
        """Route frames for `sysid` (and broadcasts) to `send`."""
        current = self._routes.get(sysid)
        if current is not None and current != send:
            raise HubError(
                f"system id {sysid} is already used by another vehicle on this controller; "
                "give each vehicle its own MAV_SYS_ID"
            )
        self._routes[sysid] = send

    def unregister(self, sysid: int, send: Callable[[bytes], None]) -> None:
        if self._routes.get(sysid) == send:
            del self._routes[sysid]

    # ------------------------------------------------------------ systems and calls
    async def system(self, sysid: int, *, timeout_s: float) -> Any:
        """The raw `mavsdk.system.System` for `sysid`, once MAVSDK has discovered it."""
        sdk = self._require()
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    for system in await sdk.get_systems():
                        if await system.get_system_id() == sysid:
                            return system._system  # the plugins' callback API wants the raw one
                    await asyncio.sleep(0.05)  # MAVSDK has no per-id discovery event
        except TimeoutError:
            raise HubError(
                f"MAVSDK did not discover system {sysid} within {timeout_s:.1f} s"
            ) from None

    async def call(
        self, start: Callable[..., None], *args: Any, timeout_s: float
    ) -> tuple[Any, ...]:
        """Run one `*_async(…, callback)` plugin call; returns the callback's arguments."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[tuple[Any, ...]] = loop.create_future()

        def callback(*result: Any) -> None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, fut, result)

        calls = self._calls
        if calls is None:
            raise HubError("the MAVSDK hub is not running; use it inside 'async with'")
        # Most `*_async` C calls return at once, but some block until done (parameter
        # set inside `set_takeoff_altitude_async` waits out its retries): started on the
        # loop, such a call would stop the loop from routing the very bytes it waits for.
        loop.run_in_executor(calls, lambda: start(*args, callback))
        async with asyncio.timeout(timeout_s):
            return await fut

    def _require(self) -> Mavsdk:
        if self._sdk is None:
            raise HubError("the MAVSDK hub is not running; use it inside 'async with'")
        return self._sdk
