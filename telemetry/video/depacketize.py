"""RTP/H.264 (RFC 6184) to access units, with capture times.

Handles single NAL units, STAP-A aggregates and FU-A fragments; an access
unit ends at the marker bit (or when the timestamp changes). A lost packet
spoils its access unit and every one after it until the next keyframe (a
decoder could not use them anyway), so what is recorded always decodes.

Capture time comes from the camera's "user data unregistered" SEI (UUID
`TIMESTAMP_SEI_UUID`, then unsigned 64-bit big-endian microseconds since the
Unix epoch), written by drone-ops' simulated cameras. A stream without it
(another camera) is timed by arrival: the first access unit of a source is
anchored to the receive clock and later ones follow the RTP timestamps.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["TIMESTAMP_SEI_UUID", "AccessUnit", "DepacketizerStats", "H264Depacketizer"]

TIMESTAMP_SEI_UUID = uuid.UUID("5d0f3c2e-8a61-4f0e-9b7d-64726f6e6f70").bytes
_START = b"\x00\x00\x00\x01"
_RTP_CLOCK_HZ = 90_000


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessUnit:
    """One coded picture as Annex B bytes (start codes, parameter sets inline)."""

    time_unix_us: int
    keyframe: bool
    data: bytes
    ssrc: int
    arrival_mono_s: float  # receive time on the monotonic clock (latency figures)


@dataclass(slots=True)
class DepacketizerStats:
    packets: int = 0
    bytes: int = 0
    access_units: int = 0
    keyframes: int = 0
    lost_packets: int = 0
    discarded_units: int = 0  # spoilt by a loss, or waiting for a keyframe
    sources: int = 0
    malformed: int = 0


def _sei_time_us(nal: bytes) -> int | None:
    """The capture time in a drone-ops timestamp SEI, if `nal` is one."""
    rbsp = nal[1:].replace(b"\x00\x00\x03", b"\x00\x00")
    i = 0
    while i + 2 < len(rbsp) and rbsp[i] != 0x80:
        ptype = 0
        while i < len(rbsp) and rbsp[i] == 0xFF:
            ptype, i = ptype + 255, i + 1
        if i >= len(rbsp):
            return None
        ptype, i = ptype + rbsp[i], i + 1
        size = 0
        while i < len(rbsp) and rbsp[i] == 0xFF:
            size, i = size + 255, i + 1
        if i >= len(rbsp):
            return None
        size, i = size + rbsp[i], i + 1
        body = rbsp[i : i + size]
        if ptype == 5 and len(body) >= 24 and body[:16] == TIMESTAMP_SEI_UUID:
            return int(struct.unpack(">Q", body[16:24])[0])
        i += size
    return None


class H264Depacketizer:
    """Feeds on RTP datagrams of one port; returns finished access units."""

    def __init__(
        self,
        *,
        payload_type: int = 96,
        now_us: Callable[[], int],
        now_mono_s: Callable[[], float],
    ) -> None:
        self.payload_type = payload_type
        self.stats = DepacketizerStats()
        self._now_us = now_us
        self._now_mono_s = now_mono_s
        self._ssrc: int | None = None
        self._next_seq: int | None = None
        self._ts: int | None = None
        self._nals: list[bytes] = []
        self._fu: bytearray | None = None
        self._spoilt = False
        self._need_key = True
        self._anchor: tuple[int, int] | None = None  # (unwrapped rtp ts, unix us)
        self._unwrap_last: int | None = None
        self._unwrap_cycles = 0

    def feed(self, datagram: bytes) -> list[AccessUnit]:
        st = self.stats
        if len(datagram) < 12 or datagram[0] >> 6 != 2:
            st.malformed += 1
            return []
        b0, b1, seq, ts, ssrc = struct.unpack_from(">BBHII", datagram)
        if b1 & 0x7F != self.payload_type:
            return []  # RTCP or another payload on the same port: not ours
        st.packets += 1
        st.bytes += len(datagram)
        offset = 12 + 4 * (b0 & 0x0F)
        if b0 & 0x10:  # header extension
            if len(datagram) < offset + 4:
                st.malformed += 1
                return []
            offset += 4 + 4 * struct.unpack_from(">H", datagram, offset + 2)[0]
        end = len(datagram)
        if b0 & 0x20:  # padding
            end -= datagram[-1]
        payload = datagram[offset:end]
        out: list[AccessUnit] = []
        if ssrc != self._ssrc:  # a new source (the camera restarted): start clean
            self._reset_unit()
            self._ssrc, self._next_seq, self._need_key = ssrc, None, True
            self._anchor, self._unwrap_last, self._unwrap_cycles = None, None, 0
            st.sources += 1
        if self._next_seq is not None and seq != self._next_seq:
            st.lost_packets += (seq - self._next_seq) & 0xFFFF
            self._spoilt = True
        self._next_seq = (seq + 1) & 0xFFFF
        if self._ts is not None and ts != self._ts and (self._nals or self._fu is not None):
            unit = self._finish()  # the marker packet was lost
            if unit is not None:
                out.append(unit)
        self._ts = ts
        self._take_payload(payload)
        if b1 & 0x80:
            unit = self._finish()
            if unit is not None:
                out.append(unit)
        return out

    def _take_payload(self, payload: bytes) -> None:
        if not payload:
            return
        kind = payload[0] & 0x1F
        if 1 <= kind <= 23:
            self._nals.append(payload)
        elif kind == 24:  # STAP-A
            i = 1
            while i + 2 <= len(payload):
                size = struct.unpack_from(">H", payload, i)[0]
                self._nals.append(payload[i + 2 : i + 2 + size])
                i += 2 + size
        elif kind == 28 and len(payload) >= 2:  # FU-A
            fu_header = payload[1]
            if fu_header & 0x80:
                self._fu = bytearray([(payload[0] & 0xE0) | (fu_header & 0x1F)])
            if self._fu is None:
                self._spoilt = True  # the start fragment was lost
                return
            self._fu += payload[2:]
            if fu_header & 0x40:
                self._nals.append(bytes(self._fu))
                self._fu = None
        else:
            self.stats.malformed += 1

    def _reset_unit(self) -> None:
        self._nals, self._fu, self._spoilt = [], None, False

    def _unwrap(self, ts: int) -> int:
        if (
            self._unwrap_last is not None
            and ts < self._unwrap_last
            and self._unwrap_last - ts > 1 << 31
        ):
            self._unwrap_cycles += 1
        self._unwrap_last = ts
        return ts + (self._unwrap_cycles << 32)

    def _finish(self) -> AccessUnit | None:
        nals, spoilt, ts = self._nals, self._spoilt or self._fu is not None, self._ts
        self._reset_unit()
        st = self.stats
        if not nals or ts is None:
            return None
        keyframe = any(n[0] & 0x1F == 5 for n in nals)
        if spoilt or (self._need_key and not keyframe):
            self._need_key = True
            st.discarded_units += 1
            return None
        self._need_key = False
        time_us = next((t for n in nals if n[0] & 0x1F == 6 and (t := _sei_time_us(n))), None)
        unwrapped = self._unwrap(ts)
        if time_us is None:
            if self._anchor is None:
                self._anchor = (unwrapped, self._now_us())
            time_us = self._anchor[1] + (unwrapped - self._anchor[0]) * 1_000_000 // _RTP_CLOCK_HZ
        st.access_units += 1
        st.keyframes += keyframe
        return AccessUnit(
            time_unix_us=time_us,
            keyframe=keyframe,
            data=b"".join(_START + n for n in nals),
            ssrc=self._ssrc or 0,
            arrival_mono_s=self._now_mono_s(),
        )
