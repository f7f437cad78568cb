"""Read the few SDP fields the recorder needs: address, port, payload type, codec.

The camera (or a real payload's SDP, e.g. for a PX4 Gazebo camera) describes
its stream; the recorder binds exactly the RTP port (not RTP+1 for RTCP,
which under the 5600+i convention is the next vehicle's video port).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from telemetry.video.errors import VideoConfigError

__all__ = ["VideoSource", "read_sdp"]


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoSource:
    """Where a vehicle's RTP/H.264 arrives."""

    host: str = "127.0.0.1"
    port: int
    payload_type: int = 96

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise VideoConfigError(f"video port {self.port} is not a UDP port: use 1..65535")


def read_sdp(path: Path) -> VideoSource:
    """The H.264 video stream an SDP file describes."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise VideoConfigError(f"SDP file {path} cannot be read ({exc.strerror})") from exc
    host, port, pt, codec = "127.0.0.1", None, None, None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("c=IN IP4 "):
            host = line.split()[2].split("/")[0]
        elif line.startswith("m=video "):
            fields = line.split()
            if len(fields) >= 4 and fields[1].isdigit() and fields[3].isdigit():
                port, pt = int(fields[1]), int(fields[3])
        elif line.startswith("a=rtpmap:") and pt is not None:
            num, _, enc = line[len("a=rtpmap:") :].partition(" ")
            if num.strip() == str(pt):
                codec = enc.split("/")[0].upper()
    if port is None or pt is None:
        raise VideoConfigError(f"SDP file {path} has no 'm=video <port> RTP/AVP <type>' line")
    if codec not in (None, "H264"):
        raise VideoConfigError(f"SDP file {path} describes {codec} video: only H264 is recorded")
    return VideoSource(host=host, port=port, payload_type=pt)
