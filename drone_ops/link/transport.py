"""Byte transports the controller owns: UDP (in/out) and serial.

Owning the socket (instead of handing the URL to MAVSDK) is what lets the
session count loss, write the tlog and, later, sign messages: every byte in
and out passes through here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import termios
import tty
from collections.abc import Callable
from typing import Protocol, cast

from drone_ops.errors import DroneOpsError
from drone_ops.link.address import LinkAddress, LinkKind

__all__ = ["Transport", "TransportError", "open_transport"]

BytesSink = Callable[[bytes], None]


class TransportError(DroneOpsError):
    """A transport could not be opened (port taken, device missing)."""


class Transport(Protocol):
    stream: bool  # True: bytes may split frames (serial); False: datagrams hold whole frames
    sent_dropped: int
    failed: bool  # the device went away (serial unplugged); reopen it to go on

    def send(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    @property
    def local_port(self) -> int: ...


class _Udp(asyncio.DatagramProtocol):
    stream = False

    def __init__(self, on_bytes: BytesSink, peer: tuple[str, int] | None) -> None:
        self._on_bytes = on_bytes
        self._peer = peer
        self._fixed_peer = peer is not None
        self._transport: asyncio.DatagramTransport | None = None
        self.sent_dropped = 0
        self.failed = False  # a bound UDP socket does not go away

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self._fixed_peer:
            self._peer = addr  # reply to whoever the vehicle sends from (PX4's behaviour too)
        self._on_bytes(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable while the vehicle is down: the link monitor reports it.
        pass

    def send(self, data: bytes) -> None:
        if self._transport is None or self._peer is None or self._transport.is_closing():
            self.sent_dropped += 1
            return
        self._transport.sendto(data, self._peer)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    @property
    def local_port(self) -> int:
        if self._transport is None:
            return 0
        port: int = self._transport.get_extra_info("sockname")[1]
        return port


class _Serial:
    """A tty in raw mode, read with the event loop's reader callback."""

    stream = True

    def __init__(self, fd: int, on_bytes: BytesSink, loop: asyncio.AbstractEventLoop) -> None:
        self._fd = fd
        self._loop = loop
        self._on_bytes = on_bytes
        self.sent_dropped = 0
        self.failed = False
        loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data:
            self._on_bytes(data)
        else:  # device gone: the session reopens it (ReconnectPolicy); the link goes LOST
            self.failed = True
            self.close()

    def send(self, data: bytes) -> None:
        if self.failed:
            self.sent_dropped += 1
            return
        try:
            os.write(self._fd, data)
        except (BlockingIOError, OSError):
            self.sent_dropped += 1

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self._fd)
        with contextlib.suppress(OSError):
            os.close(self._fd)

    @property
    def local_port(self) -> int:
        return 0


def _open_serial(address: LinkAddress) -> int:
    try:
        fd = os.open(address.device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError as exc:
        raise TransportError(
            f"cannot open serial device {address.device}: {exc.strerror}; "
            "check the cable and that you may use the device (group dialout)"
        ) from exc
    try:
        tty.setraw(fd)
        attrs = termios.tcgetattr(fd)
        speed = getattr(termios, f"B{address.baud}")
        attrs[4] = attrs[5] = speed
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
    except (termios.error, AttributeError) as exc:
        os.close(fd)
        raise TransportError(
            f"cannot configure {address.device} at {address.baud} baud: {exc}"
        ) from exc
    return fd


async def open_transport(address: LinkAddress, on_bytes: BytesSink) -> Transport:
    """Open the transport for `address`; incoming bytes go to `on_bytes` on the loop."""
    loop = asyncio.get_running_loop()
    if address.kind is LinkKind.SERIAL:
        return _Serial(_open_serial(address), on_bytes, loop)
    try:
        if address.kind is LinkKind.UDP_IN:
            _, proto = await loop.create_datagram_endpoint(
                lambda: _Udp(on_bytes, None), local_addr=(address.host, address.port)
            )
        else:
            _, proto = await loop.create_datagram_endpoint(
                lambda: _Udp(on_bytes, (address.host, address.port)), local_addr=("0.0.0.0", 0)
            )
    except OSError as exc:
        raise TransportError(
            f"cannot open {address}: {exc.strerror or exc}; is another program using the port?"
        ) from exc
    return proto
