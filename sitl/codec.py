"""MAVLink 2 framing for the simulated autopilot.

pymavlink's generated `pack()` costs ~13 µs per message (object per message,
header object, bytearray copies). Telemetry streams are the simulator's hot
path, so they are framed here from a pre-compiled `struct` payload and
`fastcrc`'s MCRF4XX (the same CRC pymavlink uses when fastcrc is installed):
about 2 µs per message. Rare messages (acks, parameters, mission items) still
go through pymavlink objects, sharing this link's sequence counter.

The dialect is chosen explicitly (`common`), never by environment variable.
"""

from __future__ import annotations

import struct
from typing import Any

from fastcrc import crc16
from pymavlink.dialects.v20 import common as mavlink

from sitl.signing import SimSigning

__all__ = ["Framer", "mavlink"]

_HEADER = struct.Struct("<BBBBBBBHB")
_MCRF4XX = crc16.mcrf4xx
_CRC = struct.Struct("<H")


class Framer:
    """Frames messages from one system/component with one link's sequence."""

    __slots__ = ("_compid", "_mav", "_sysid", "link_id", "signing")

    def __init__(
        self, sysid: int, compid: int = 1, *, signing: SimSigning | None = None, link_id: int = 0
    ) -> None:
        self._sysid = sysid
        self._compid = compid
        self._mav = mavlink.MAVLink(None, srcSystem=sysid, srcComponent=compid)
        # With a key: frames carry the signed flag; the link appends the signature.
        self.signing = signing
        self.link_id = link_id

    def frame(self, msg_cls: Any, *wire_values: Any) -> bytes:
        """Frame a message from its fields in wire order (`ordered_fieldnames`)."""
        payload = msg_cls.unpacker.pack(*wire_values).rstrip(b"\x00") or b"\x00"
        mav = self._mav
        seq = mav.seq
        mav.seq = (seq + 1) & 0xFF
        msgid = msg_cls.id
        signing = self.signing
        flags = 1 if signing is not None and signing.key is not None else 0
        header = _HEADER.pack(
            0xFD,
            len(payload),
            flags,
            0,
            seq,
            self._sysid,
            self._compid,
            msgid & 0xFFFF,
            msgid >> 16,
        )
        crc = _MCRF4XX(header[1:] + payload + bytes((msg_cls.crc_extra,)), 0xFFFF)
        return header + payload + _CRC.pack(crc)  # signed when sent (SimLink.seal)

    def pack(self, msg: Any) -> bytes:
        """Frame a pymavlink message object (for rare messages)."""
        mav = self._mav
        data: bytes = msg.pack(mav)
        mav.seq = (mav.seq + 1) & 0xFF
        signing = self.signing
        if signing is not None and signing.key is not None:
            data = signing.flag_packed(data, msg.crc_extra)
        return data
