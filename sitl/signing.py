"""MAVLink 2 message signing on the simulated vehicle, as PX4 does it with signing on.

With a key, the vehicle signs every frame it sends and drops every received
frame that is not signed with its key (or replays an old timestamp), except
the few PX4 accepts unsigned (RADIO_STATUS, and HEARTBEAT so a GCS is still
seen). Dropped frames are never answered: no COMMAND_ACK, no mission or
parameter reply. SETUP_SIGNING addressed to the vehicle (signed with the
current key when one is set) switches key; an all-zero key turns signing off.

The signature (MAVLink spec): the first 6 bytes of
sha256(secret_key + header + payload + crc + link_id + timestamp), timestamp
in 10 µs units since 2015-01-01 00:00 UTC, 48 bits, strictly increasing per
(link_id, system, component) stream. A new stream may start at most one
minute behind the receiver's own clock.

`sitl` is a leaf: this is the vehicle side, written from the spec, and shares
no code with the controller's side of the link.
"""

from __future__ import annotations

import hashlib
import struct
import time
from collections.abc import Callable

from fastcrc import crc16

from sitl.errors import SimConfigError

__all__ = ["KEY_BYTES", "UNSIGNED_OK", "SimSigning", "read_key_file"]

KEY_BYTES = 32
_EPOCH_2015_S = 1420070400
_MINUTE_UNITS = 60 * 100_000
_SIGNED = 0x01
_SIG_LEN = 13
# PX4 accepts RADIO_STATUS unsigned (a radio modem cannot sign); HEARTBEAT is
# harmless and keeps a GCS visible.
UNSIGNED_OK = frozenset({0, 109})
_SETUP_SIGNING = 256
_MCRF4XX = crc16.mcrf4xx


def now_units() -> int:
    """Wall clock in MAVLink signing units (10 µs since 2015-01-01)."""
    return int((time.time() - _EPOCH_2015_S) * 100_000)


def read_key_file(path: str) -> bytes:
    """A key file: 64 hex digits (what `drone-ops keys` writes) or 32 raw bytes."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise SimConfigError(
            f"cannot read signing key {path}: {exc.strerror}; give a key file"
        ) from None
    text = data.strip()
    try:
        key = bytes.fromhex(text.decode("ascii")) if len(text) == 2 * KEY_BYTES else data
    except (UnicodeDecodeError, ValueError):
        key = data
    if len(key) != KEY_BYTES:
        raise SimConfigError(
            f"signing key {path} is not a 32-byte key (64 hex digits); "
            "make one with 'drone-ops keys generate VEHICLE'"
        )
    return key


class SimSigning:
    """One vehicle's signing state, shared by its links."""

    __slots__ = (
        "_streams",
        "_timestamp",
        "accepted_unsigned",
        "key",
        "on_key_change",
        "rejected_bad_signature",
        "rejected_replay",
        "rejected_unsigned",
        "sysid",
    )

    def __init__(self, *, sysid: int, key: bytes | None) -> None:
        if key is not None and len(key) != KEY_BYTES:
            raise SimConfigError("a signing key must be 32 bytes")
        self.sysid = sysid
        self.key = key
        # Where a new key is kept (PX4 writes it to its SD card); None: memory only.
        self.on_key_change: Callable[[bytes | None], None] | None = None
        self._timestamp = 0
        self._streams: dict[tuple[int, int, int], int] = {}
        self.rejected_unsigned = 0
        self.rejected_bad_signature = 0
        self.rejected_replay = 0
        self.accepted_unsigned = 0

    @property
    def active(self) -> bool:
        return self.key is not None

    # ------------------------------------------------------------ sending
    def next_timestamp(self) -> int:
        ts = max(self._timestamp + 1, now_units())
        self._timestamp = ts
        return ts

    def signature(self, frame_with_flag: bytes, link_id: int) -> bytes:
        """The 13-byte signature block for a frame already carrying the signed flag."""
        assert self.key is not None
        block = struct.pack("<BQ", link_id, self.next_timestamp())[:7]
        digest = hashlib.sha256(self.key + frame_with_flag + block).digest()
        return block + digest[:6]

    def flag_packed(self, frame: bytes, crc_extra: int) -> bytes:
        """A MAVLink 2 frame packed unsigned, with the signed flag set and its CRC redone.

        The signature block itself is appended when the frame is sent (`seal`): a
        reply built before an ack but sent after it must not carry the older time.
        """
        if self.key is None or frame[0] != 0xFD or frame[2] & _SIGNED:
            return frame
        body = bytes((frame[0], frame[1], frame[2] | _SIGNED)) + frame[3:-2]
        crc = _MCRF4XX(body[1:] + bytes((crc_extra,)), 0xFFFF)
        return body + struct.pack("<H", crc)

    def seal(self, data: bytes, link_id: int) -> bytes:
        """Append a signature block to each flagged frame of `data` (framed here, unsealed)."""
        if self.key is None:
            return data
        out: list[bytes] = []
        i, n = 0, len(data)
        while i < n:
            if data[i] == 0xFD:
                flen = 12 + data[i + 1]
                frame = data[i : i + flen]
                out.append(frame)
                if frame[2] & _SIGNED:
                    out.append(self.signature(frame, link_id))
            else:  # MAVLink 1 cannot be signed; the simulator never frames it
                flen = 8 + data[i + 1]
                out.append(data[i : i + flen])
            i += flen
        return b"".join(out)

    # ------------------------------------------------------------ receiving
    def filter_incoming(self, data: bytes) -> tuple[bytes, bool]:
        """Keep the frames of a datagram that pass; (kept bytes, any signed frame passed)."""
        key = self.key
        if key is None:
            return data, False
        out: list[bytes] = []
        signed_ok = False
        i, n = 0, len(data)
        while i < n:
            stx = data[i]
            if stx == 0xFD and n - i >= 12:
                plen = data[i + 1]
                signed = bool(data[i + 2] & _SIGNED)
                flen = 12 + plen + (_SIG_LEN if signed else 0)
                frame = data[i : i + flen]
                i += flen
                if len(frame) < flen:
                    break
                msgid = frame[7] | (frame[8] << 8) | (frame[9] << 16)
                if signed:
                    if self._verify(frame, key):
                        out.append(frame)
                        signed_ok = True
                    continue
                if self._unsigned_ok(msgid):
                    out.append(frame)
            elif stx == 0xFE and n - i >= 8:
                flen = 8 + data[i + 1]
                frame = data[i : i + flen]
                i += flen
                if len(frame) == flen and self._unsigned_ok(frame[5]):
                    out.append(frame)
            else:
                i += 1
        return b"".join(out), signed_ok

    def _unsigned_ok(self, msgid: int) -> bool:
        if msgid in UNSIGNED_OK:
            self.accepted_unsigned += 1
            return True
        self.rejected_unsigned += 1
        return False

    def _verify(self, frame: bytes, key: bytes) -> bool:
        block = frame[-_SIG_LEN:]
        link_id = block[0]
        timestamp = int.from_bytes(block[1:7], "little")
        digest = hashlib.sha256(key + frame[:-6]).digest()[:6]
        if digest != block[7:]:
            self.rejected_bad_signature += 1
            return False
        stream = (link_id, frame[5], frame[6])
        last = self._streams.get(stream)
        if (last is not None and timestamp <= last) or (
            last is None and timestamp + _MINUTE_UNITS < max(self._timestamp, now_units())
        ):
            self.rejected_replay += 1
            return False
        self._streams[stream] = timestamp
        return True

    # ------------------------------------------------------------ SETUP_SIGNING
    def setup(self, secret_key: bytes, initial_timestamp: int) -> None:
        """Honour SETUP_SIGNING: switch key (all zeros: signing off)."""
        if not any(secret_key):
            self.key = None
        else:
            self.key = bytes(secret_key)
        self._streams.clear()
        self._timestamp = max(self._timestamp, initial_timestamp)
        if self.on_key_change is not None:
            self.on_key_change(self.key)

    @staticmethod
    def is_setup(msgid: int) -> bool:
        return msgid == _SETUP_SIGNING
