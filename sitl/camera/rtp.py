"""RTP packetization of H.264 (RFC 6184, non-interleaved mode) and a UDP sender.

Small NAL units go out as single-NAL packets, large ones as FU-A fragments; the
marker bit closes each access unit. The sender is a connected asyncio datagram
endpoint: sends never block the event loop, and a missing receiver (ICMP port
unreachable) is counted, not raised, because a camera keeps streaming whether
anyone watches or not.
"""

from __future__ import annotations

import asyncio
import struct
import uuid
from collections.abc import Iterator

from sitl.camera.h264 import EncodedFrame

__all__ = ["PAYLOAD_TYPE", "RtpPacketizer", "RtpSender"]

PAYLOAD_TYPE = 96  # dynamic, declared H264/90000 in the SDP
_MAX_PAYLOAD = 1200  # fits a 1280-byte IPv6 minimum MTU with headers to spare
_FU_A = 28


class RtpPacketizer:
    """Turns access units into RTP packets for one SSRC."""

    def __init__(self, *, ssrc: int | None = None, max_payload: int = _MAX_PAYLOAD) -> None:
        self.ssrc = ssrc if ssrc is not None else int.from_bytes(uuid.uuid4().bytes[:4], "big")
        self.max_payload = max_payload
        self._seq = int.from_bytes(uuid.uuid4().bytes[:2], "big")

    def _header(self, *, marker: bool, timestamp: int) -> bytes:
        self._seq = (self._seq + 1) & 0xFFFF
        return struct.pack(
            ">BBHII", 0x80, (0x80 if marker else 0) | PAYLOAD_TYPE, self._seq, timestamp, self.ssrc
        )

    def packets(self, frame: EncodedFrame) -> Iterator[bytes]:
        """The RTP packets of one access unit, in order."""
        nals = frame.nal_units
        for n, nal in enumerate(nals):
            last_nal = n == len(nals) - 1
            if len(nal) <= self.max_payload:
                yield self._header(marker=last_nal, timestamp=frame.rtp_timestamp) + nal
                continue
            indicator = (nal[0] & 0xE0) | _FU_A
            kind = nal[0] & 0x1F
            body = nal[1:]
            step = self.max_payload - 2
            for off in range(0, len(body), step):
                start, end = off == 0, off + step >= len(body)
                fu_header = (0x80 if start else 0) | (0x40 if end else 0) | kind
                yield (
                    self._header(marker=last_nal and end, timestamp=frame.rtp_timestamp)
                    + bytes([indicator, fu_header])
                    + body[off : off + step]
                )


class _SendProtocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.send_errors = 0

    def error_received(self, exc: Exception) -> None:
        self.send_errors += 1  # nobody listening yet: normal for a camera


class RtpSender:
    """A connected UDP socket to one receiver; `async with` opens and closes it."""

    def __init__(self, *, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.packets_sent = 0
        self.bytes_sent = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._protocol = _SendProtocol()

    @property
    def send_errors(self) -> int:
        return self._protocol.send_errors

    async def __aenter__(self) -> RtpSender:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: self._protocol, remote_addr=(self.host, self.port)
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def send(self, packets: Iterator[bytes]) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        for packet in packets:
            transport.sendto(packet)
            self.packets_sent += 1
            self.bytes_sent += len(packet)
