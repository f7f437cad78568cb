"""The SDP file that describes a camera's RTP stream (RFC 4566 / RFC 6184).

ffplay (`ffplay -protocol_whitelist file,udp,rtp vehicle-0.sdp`), GStreamer
and the drone-ops recorder open it. Note that FFmpeg-based players also bind
the RTCP port (RTP port + 1), which is the next vehicle's video port under the
5600+i convention; the drone-ops recorder binds only the RTP port.
"""

from __future__ import annotations

from pathlib import Path

from sitl.camera.errors import CameraConfigError
from sitl.camera.rtp import PAYLOAD_TYPE

__all__ = ["sdp_text", "write_sdp"]


def sdp_text(*, host: str, port: int, title: str, fps: float) -> str:
    if not 1 <= port <= 65535:
        raise CameraConfigError(f"video port {port} is not a UDP port: use 1..65535")
    return (
        "v=0\r\n"
        f"o=- 0 0 IN IP4 {host}\r\n"
        f"s={title}\r\n"
        f"c=IN IP4 {host}\r\n"
        "t=0 0\r\n"
        f"m=video {port} RTP/AVP {PAYLOAD_TYPE}\r\n"
        f"a=rtpmap:{PAYLOAD_TYPE} H264/90000\r\n"
        f"a=fmtp:{PAYLOAD_TYPE} packetization-mode=1\r\n"
        f"a=framerate:{fps:g}\r\n"
        "a=recvonly\r\n"
    )


def write_sdp(path: Path, *, host: str, port: int, title: str, fps: float) -> Path:
    """Write the SDP atomically (a player never reads half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(sdp_text(host=host, port=port, title=title, fps=fps), encoding="ascii")
    tmp.replace(path)
    return path
