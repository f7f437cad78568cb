"""Evidence from the ring buffer: a clip around an instant and a JPEG snapshot at it.

Both are hashed (SHA-256) and stored as blobs; the caller (the controller)
stores the returned records with the incident and enters them in the audit
chain. A clip starts at the last keyframe at or before T−pre, so it covers the
requested interval and begins at most one GOP early.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Literal

import av

from telemetry.video.depacketize import AccessUnit
from telemetry.video.errors import VideoError

__all__ = ["VideoEvidence", "evidence_key", "snapshot_jpeg"]


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoEvidence:
    """One evidence file: what, whose, where (blob key and URI), its hash and time span."""

    kind: Literal["clip", "snapshot"]
    vehicle_id: str
    path: str  # blob key
    uri: str
    sha256: str
    size_bytes: int
    start_us: int
    end_us: int
    at_us: int  # the instant the evidence is about (the incident time)
    requested_start_us: int
    requested_end_us: int


def _stamp(us: int) -> str:
    t = datetime.fromtimestamp(us / 1e6, UTC)
    return f"{t:%Y%m%dT%H%M%S}.{t.microsecond // 1000:03d}Z"


def evidence_key(kind: str, vehicle_id: str, at_us: int, ext: str) -> str:
    day = datetime.fromtimestamp(at_us / 1e6, UTC).strftime("%Y%m%d")
    return f"evidence/{vehicle_id}/{day}/{vehicle_id}-{_stamp(at_us)}-{kind}.{ext}"


def snapshot_jpeg(
    units: Sequence[AccessUnit], at_us: int, *, quality: int = 3
) -> tuple[bytes, int]:
    """Decode from the keyframe up to the frame nearest `at_us`; JPEG bytes and its time."""
    if not units:
        raise VideoError("no video to take a snapshot from")
    nearest = min(range(len(units)), key=lambda i: abs(units[i].time_unix_us - at_us))
    key = max((i for i in range(nearest + 1) if units[i].keyframe), default=0)
    decoder = av.CodecContext.create("h264", "r")
    picture = None
    for unit in units[key : nearest + 1]:
        for frame in decoder.decode(av.Packet(unit.data)):
            picture = frame
    for frame in decoder.decode(None):
        picture = frame
    if picture is None:
        raise VideoError("the video around the snapshot time does not decode")
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height = picture.width, picture.height
    encoder.pix_fmt = "yuvj420p"
    encoder.time_base = Fraction(1, 1)
    encoder.options = {"qmin": str(quality), "qmax": str(quality)}
    image = picture.reformat(format="yuvj420p")
    image.pts = 0
    data = b"".join(bytes(p) for p in encoder.encode(image))
    data += b"".join(bytes(p) for p in encoder.encode(None))
    return data, units[nearest].time_unix_us


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
