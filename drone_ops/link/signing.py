"""MAVLink 2 message signing on the controller's side of each vehicle link.

MAVSDK (4.x, this binding) has no signing API: it builds unsigned frames and
never checks signatures. The controller owns the sockets (`raw://`), so
signing is done where frames pass: `LinkSigner.sign` signs every frame the
hub routes to a vehicle with that vehicle's key (sets the incompat flag,
redoes the CRC, appends the 13-byte block), and `LinkVerifier.accept` drops a
received frame that is unsigned, wrongly signed or replayed before the
session counts, records or decodes it, or MAVSDK sees it.

Signature (MAVLink spec): the first 6 bytes of sha256(secret_key + header +
payload + crc + link_id + timestamp), timestamp in 10 µs units since
2015-01-01 UTC, strictly increasing per (link_id, system, component) stream.
"""

from __future__ import annotations

import hashlib
import struct
import time
from dataclasses import dataclass

from fastcrc import crc16
from pymavlink.dialects.v20 import common as mavlink2
from pymavlink.generator.mavcrc import x25crc

from drone_ops.link.frames import Frame

__all__ = ["KEY_BYTES", "LinkSigner", "LinkVerifier", "SigningStats", "signing_timestamp"]

KEY_BYTES = 32
_EPOCH_2015_S = 1420070400
_MINUTE_UNITS = 60 * 100_000
_SIGNED = 0x01
_SIG_LEN = 13
# Accepted unsigned from the vehicle, as PX4 accepts them from a GCS: a radio modem
# cannot sign its RADIO_STATUS; a heartbeat carries no command.
_UNSIGNED_OK = frozenset({mavlink2.MAVLINK_MSG_ID_HEARTBEAT, mavlink2.MAVLINK_MSG_ID_RADIO_STATUS})
_CRC_EXTRA: dict[int, int] = {}
_MCRF4XX = crc16.mcrf4xx  # MAVLink's X.25 CRC, in C (pymavlink's x25crc is pure Python)


def signing_timestamp(time_unix_s: float | None = None) -> int:
    """MAVLink signing time: 10 µs units since 2015-01-01 00:00 UTC."""
    t = time.time() if time_unix_s is None else time_unix_s
    return int((t - _EPOCH_2015_S) * 100_000)


def _crc_extra(msgid: int, frame: bytes) -> int:
    """CRC_EXTRA of `msgid`: from the dialect, else recovered from the frame's own CRC."""
    extra = _CRC_EXTRA.get(msgid)
    if extra is not None:
        return extra
    cls = mavlink2.mavlink_map.get(msgid)
    if cls is not None:
        extra = int(cls.crc_extra)
    else:  # a message our dialect lacks: the one extra byte that gives the frame's CRC
        want = frame[-2] | (frame[-1] << 8)
        for candidate in range(256):
            crc = x25crc(frame[1:-2])
            crc.accumulate(bytes((candidate,)))
            if crc.crc == want:
                extra = candidate
                break
        else:
            extra = 0
    _CRC_EXTRA[msgid] = extra
    return extra


class LinkSigner:
    """Signs outgoing MAVLink 2 frames with one vehicle's key."""

    __slots__ = ("_key", "_timestamp", "link_id", "signed", "unsignable")

    def __init__(self, key: bytes, *, link_id: int = 0) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError("a MAVLink signing key is 32 bytes")
        self._key = key
        self._timestamp = 0
        self.link_id = link_id
        self.signed = 0
        self.unsignable = 0  # MAVLink 1 frames: cannot carry a signature, not sent

    def next_timestamp(self) -> int:
        ts = max(self._timestamp + 1, signing_timestamp())
        self._timestamp = ts
        return ts

    def sign(self, frame: bytes) -> bytes | None:
        """The frame signed; None for a MAVLink 1 frame (a signing vehicle ignores it)."""
        if frame[0] != 0xFD:
            self.unsignable += 1
            return None
        if frame[2] & _SIGNED:  # already signed (a relayed frame): leave it alone
            return frame
        msgid = frame[7] | (frame[8] << 8) | (frame[9] << 16)
        extra = _crc_extra(msgid, frame)
        body = bytes((frame[0], frame[1], frame[2] | _SIGNED)) + frame[3:-2]
        out = body + struct.pack("<H", _MCRF4XX(body[1:] + bytes((extra,)), 0xFFFF))
        block = struct.pack("<BQ", self.link_id, self.next_timestamp())[:7]
        self.signed += 1
        return out + block + hashlib.sha256(self._key + out + block).digest()[:6]


@dataclass(frozen=True, slots=True, kw_only=True)
class SigningStats:
    """Frames a signing link dropped, by reason, and the unsigned ones it let through."""

    accepted_signed: int
    accepted_unsigned: int
    rejected_unsigned: int
    rejected_bad_signature: int
    rejected_replay: int

    @property
    def rejected(self) -> int:
        return self.rejected_unsigned + self.rejected_bad_signature + self.rejected_replay


class LinkVerifier:
    """Checks received frames against one vehicle's key; counts what it drops."""

    __slots__ = (
        "_key",
        "_latest",
        "_streams",
        "accepted_signed",
        "accepted_unsigned",
        "rejected_bad_signature",
        "rejected_replay",
        "rejected_unsigned",
    )

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError("a MAVLink signing key is 32 bytes")
        self._key = key
        self._streams: dict[tuple[int, int, int], int] = {}
        self._latest = 0
        self.accepted_signed = 0
        self.accepted_unsigned = 0
        self.rejected_unsigned = 0
        self.rejected_bad_signature = 0
        self.rejected_replay = 0

    def accept(self, frame: Frame) -> bool:
        raw = frame.raw
        if frame.header_len != 10 or not raw[2] & _SIGNED:
            if frame.msgid in _UNSIGNED_OK:
                self.accepted_unsigned += 1
                return True
            self.rejected_unsigned += 1
            return False
        block = raw[-_SIG_LEN:]
        if hashlib.sha256(self._key + raw[:-6]).digest()[:6] != block[7:]:
            self.rejected_bad_signature += 1
            return False
        timestamp = int.from_bytes(block[1:7], "little")
        stream = (block[0], frame.sysid, frame.compid)
        last = self._streams.get(stream)
        if last is not None:
            fresh = timestamp > last
        else:  # a new stream may start at most a minute behind what we have seen
            fresh = timestamp + _MINUTE_UNITS >= max(self._latest, signing_timestamp())
        if not fresh:
            self.rejected_replay += 1
            return False
        self._streams[stream] = timestamp
        self._latest = max(self._latest, timestamp)
        self.accepted_signed += 1
        return True

    def stats(self) -> SigningStats:
        return SigningStats(
            accepted_signed=self.accepted_signed,
            accepted_unsigned=self.accepted_unsigned,
            rejected_unsigned=self.rejected_unsigned,
            rejected_bad_signature=self.rejected_bad_signature,
            rejected_replay=self.rejected_replay,
        )
