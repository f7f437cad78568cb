"""MAVLink bytes → frames, and the few messages the controller reads, decoded cheaply.

The telemetry path runs at ~400 messages/s per PX4 vehicle. Full pymavlink
decoding costs ~11 µs a message; here a frame costs a header read, and only
the messages the session uses are unpacked (struct + CRC, ~2 µs). MAVSDK gets
the same bytes and runs the protocol services; this side keeps counts, the
tlog and the state snapshot.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pymavlink.dialects.v20 import common as mavlink2
from pymavlink.generator.mavcrc import x25crc

__all__ = [
    "STX_V1",
    "STX_V2",
    "Decoded",
    "Frame",
    "FrameDecoder",
    "FrameSplitter",
    "frame_target_system",
]

STX_V1 = 0xFE
STX_V2 = 0xFD
_SIGNED = 0x01

Decoded = dict[str, Any]


@dataclass(slots=True)
class Frame:
    """One MAVLink packet as received: header fields plus the raw bytes (for the tlog)."""

    msgid: int
    sysid: int
    compid: int
    seq: int
    raw: bytes
    header_len: int
    payload_len: int


class FrameSplitter:
    """Cuts a byte stream (serial) or datagrams (UDP) into frames; counts bytes it skipped."""

    def __init__(self, *, stream: bool) -> None:
        self._stream = stream
        self._pending = b""
        self.skipped_bytes = 0

    def feed(self, data: bytes) -> list[Frame]:
        buf = self._pending + data if self._pending else data
        n = len(buf)
        i = 0
        out: list[Frame] = []
        while i < n:
            stx = buf[i]
            if stx == STX_V2:
                if n - i < 10:
                    break
                plen = buf[i + 1]
                flen = 12 + plen + (13 if buf[i + 2] & _SIGNED else 0)
                if n - i < flen:
                    break
                out.append(
                    Frame(
                        msgid=buf[i + 7] | (buf[i + 8] << 8) | (buf[i + 9] << 16),
                        sysid=buf[i + 5],
                        compid=buf[i + 6],
                        seq=buf[i + 4],
                        raw=buf[i : i + flen],
                        header_len=10,
                        payload_len=plen,
                    )
                )
                i += flen
            elif stx == STX_V1:
                if n - i < 6:
                    break
                plen = buf[i + 1]
                flen = 8 + plen
                if n - i < flen:
                    break
                out.append(
                    Frame(
                        msgid=buf[i + 5],
                        sysid=buf[i + 3],
                        compid=buf[i + 4],
                        seq=buf[i + 2],
                        raw=buf[i : i + flen],
                        header_len=6,
                        payload_len=plen,
                    )
                )
                i += flen
            else:
                j = _next_stx(buf, i + 1)
                self.skipped_bytes += j - i
                i = j
        rest = buf[i:]
        if self._stream:
            self._pending = rest
        else:  # a datagram ends its frames: a truncated tail is noise, not a prefix
            self.skipped_bytes += len(rest)
            self._pending = b""
        return out


def _next_stx(buf: bytes, start: int) -> int:
    a = buf.find(STX_V2, start)
    b = buf.find(STX_V1, start)
    cands = [x for x in (a, b) if x >= 0]
    return min(cands) if cands else len(buf)


class _Spec:
    __slots__ = ("crc_extra", "names", "order", "size", "unpack")

    def __init__(self, cls: Any) -> None:
        self.unpack: Callable[[bytes], tuple[Any, ...]] = cls.unpacker.unpack
        self.size: int = cls.unpacker.size
        self.crc_extra: int = cls.crc_extra
        self.names: tuple[str, ...] = tuple(cls.fieldnames)
        self.order: tuple[int, ...] = tuple(cls.orders)


def _has_arrays(cls: Any) -> bool:
    return any(n > 1 for n in cls.array_lengths) or any(t == "char" for t in cls.fieldtypes)


class FrameDecoder:
    """Decodes the chosen message ids to dicts of field name → value; CRC-checked.

    Messages without arrays take a struct fast path; the rest (STATUSTEXT,
    BATTERY_STATUS, …: low rate) go through pymavlink's decoder.
    """

    def __init__(self, msgids: Iterable[int]) -> None:
        self._fast: dict[int, _Spec] = {}
        self._slow: set[int] = set()
        for msgid in msgids:
            cls = mavlink2.mavlink_map[msgid]
            if _has_arrays(cls):
                self._slow.add(msgid)
            else:
                self._fast[msgid] = _Spec(cls)
        self._mav = mavlink2.MAVLink(None)
        self._mav.robust_parsing = True
        self.crc_errors = 0

    def wants(self, msgid: int) -> bool:
        return msgid in self._fast or msgid in self._slow

    def decode(self, frame: Frame) -> Decoded | None:
        spec = self._fast.get(frame.msgid)
        if spec is None:
            if frame.msgid in self._slow:
                return self._decode_slow(frame)
            return None
        raw = frame.raw
        end = frame.header_len + frame.payload_len
        crc = x25crc(raw[1:end])
        crc.accumulate(bytes((spec.crc_extra,)))
        if crc.crc != (raw[end] | (raw[end + 1] << 8)):
            self.crc_errors += 1
            return None
        payload = raw[frame.header_len : end]
        if len(payload) < spec.size:
            payload = payload + bytes(spec.size - len(payload))
        elif len(payload) > spec.size:
            payload = payload[: spec.size]
        values = spec.unpack(payload)
        order = spec.order
        return {name: values[order[k]] for k, name in enumerate(spec.names)}

    def _decode_slow(self, frame: Frame) -> Decoded | None:
        try:
            msg = self._mav.decode(bytearray(frame.raw))
        except Exception:  # pymavlink raises bare MAVError/struct/Unicode errors
            self.crc_errors += 1
            return None
        result: Decoded = msg.to_dict()
        return result


_TARGETED: dict[int, tuple[int, int]] = {}


def _target_offset(msgid: int) -> tuple[int, int] | None:
    """(offset, size) of `target_system` in the wire payload, or None (broadcast)."""
    if msgid in _TARGETED:
        return _TARGETED[msgid]
    cls = mavlink2.mavlink_map.get(msgid)
    if cls is None or "target_system" not in cls.fieldnames:
        return None
    fmt = cls.unpacker.format
    wire_names = [cls.ordered_fieldnames[i] for i in range(len(cls.ordered_fieldnames))]
    offset = struct.calcsize(fmt[: 1 + _format_index(fmt, wire_names.index("target_system"))])
    _TARGETED[msgid] = (offset, 1)
    return offset, 1


def _format_index(fmt: str, field_index: int) -> int:
    """Characters of the struct format (after '<') that precede field `field_index`."""
    body = fmt[1:]
    pos = 0
    count = 0
    while count < field_index:
        while body[pos].isdigit():
            pos += 1
        pos += 1
        count += 1
    return pos


def frame_target_system(frame: Frame) -> int:
    """The system a frame is addressed to; 0 for broadcast or untargeted messages."""
    where = _target_offset(frame.msgid)
    if where is None:
        return 0
    offset, _ = where
    if offset >= frame.payload_len:  # trailing zeros truncated: target 0
        return 0
    return frame.raw[frame.header_len + offset]
