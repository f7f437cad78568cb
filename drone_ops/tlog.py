"""The `.tlog` a sortie leaves behind: every MAVLink frame in and out, timestamped.

Format (QGroundControl, MAVProxy, pymavlink's `mavlogfile`): each packet is
preceded by an 8-byte big-endian microsecond Unix timestamp.
"""

from __future__ import annotations

import struct
import time
from pathlib import Path
from typing import BinaryIO

__all__ = ["TlogSink", "open_tlog"]

_STAMP = struct.Struct(">Q")


class TlogSink:
    """Buffered writer; one `write` per frame, cheap enough for the telemetry path."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self.frames = 0

    def write(self, frame: bytes) -> None:
        self._fh.write(_STAMP.pack(time.time_ns() // 1000) + frame)
        self.frames += 1

    def close(self) -> None:
        self._fh.close()


def open_tlog(path: Path) -> TlogSink:
    path.parent.mkdir(parents=True, exist_ok=True)
    return TlogSink(path.open("wb"))
